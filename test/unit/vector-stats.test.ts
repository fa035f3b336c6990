// VectorStats against exact population values: enumerating ALL admissible ordered pairs of
// minibatches makes every pair average an expectation, so the per-parameter unbiased
// forms must hit ḡ_j² and σ_j² exactly, and the scalar estimators must agree with their sums.
import { describe, expect, it } from "vitest";
import { MeasureSet, type Sampling } from "../../src/coordinator/estimators/index.js";
import { VectorStats, type VectorLayout, type VectorStatsResult } from "../../src/coordinator/vector-stats.js";
import { Rng } from "../../src/util/rng.js";

type Vec = number[];
const dot = (x: Vec, y: Vec): number => x.reduce((s, v, i) => s + v * y[i]!, 0);
const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);
const avg = (xs: number[]): number => sum(xs) / xs.length;
const meanOf = (vs: Vec[]): Vec => vs[0]!.map((_, j) => avg(vs.map((v) => v[j]!)));
const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// Least squares, ℓ_i = ½(x_iᵀw + b − y_i)², so g_i = r_i (x_i, 1) with r_i = x_iᵀw + b − y_i.
// Two weight tensors: w (3 parameters) and b (1). The targets make every residual a multiple of 6,
// so with integer x every gradient value is a multiple of 6 and every minibatch mean for
// B = 1, 2, 3 is an integer: exact in the Float32Array chunks, so the comparison against
// float64 truth is not blurred by float32 rounding.
const X: Vec[] = [
  [1, 2, -1],
  [0, -3, 2],
  [-2, 1, 3],
  [3, 1, 0],
  [-1, -2, -3],
  [2, 0, 1],
  [1, 3, -2],
];
const W: Vec = [1, -2, 3];
const BIAS = 1;
const RESIDUAL_SIXTHS = [1, -2, 3, 1, -1, 2, 2];
const Y = X.map((x, i) => dot(x, W) + BIAS - 6 * RESIDUAL_SIXTHS[i]!);
const LAYOUT: VectorLayout = { tensors: ["dense/kernel", "dense/bias"], tensorSizes: [3, 1] };
const N = X.length;
const P = 4;

const perExample: Vec[] = X.map((x, i) => {
  const r = dot(x, W) + BIAS - Y[i]!;
  return [...x.map((v) => r * v), r];
});

function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const rec = (start: number, cur: number[]): void => {
    if (cur.length === k) return void out.push([...cur]);
    for (let i = start; i < n; i++) rec(i + 1, [...cur, i]);
  };
  rec(0, []);
  return out;
}

/** Every ordered pair of minibatch gradients the sampling can produce, equally weighted. */
function allPairs(g: Vec[], s: Sampling): [Vec, Vec][] {
  const batches = subsets(g.length, s.batchSize);
  const out: [Vec, Vec][] = [];
  for (const b1 of batches) {
    for (const b2 of batches) {
      if (s.pairing === "disjoint" && b1.some((i) => b2.includes(i))) continue;
      out.push([meanOf(b1.map((i) => g[i]!)), meanOf(b2.map((i) => g[i]!))]);
    }
  }
  return out;
}

/** Sends one pair as chunks; odd pairs split the first tensor in two and send the bias first. */
function addPair(vs: VectorStats, lease: string, id: number, g1: Vec, g2: Vec, layout: VectorLayout): void {
  const f1 = Float32Array.from(g1);
  const f2 = Float32Array.from(g2);
  const starts = layout.tensorSizes.map((_, l) => sum(layout.tensorSizes.slice(0, l)));
  const order = layout.tensorSizes.map((_, l) => l);
  if (id % 2) order.reverse();
  for (const l of order) {
    const size = layout.tensorSizes[l]!;
    const cuts = id % 2 && size > 1 ? [0, 1, size] : [0, size];
    for (let c = 0; c + 1 < cuts.length; c++) {
      const from = starts[l]! + cuts[c]!;
      const to = starts[l]! + cuts[c + 1]!;
      vs.add(lease, id, l, cuts[c]!, f1.subarray(from, to), f2.subarray(from, to));
    }
  }
}

/** Feeds the pairs under leases of 37 pairs, two leases open at a time, committing as it goes. */
function feed(vs: VectorStats, pairs: [Vec, Vec][], layout: VectorLayout = LAYOUT): void {
  const open = new Set<string>();
  pairs.forEach(([g1, g2], i) => {
    const lease = `lease-${Math.floor(i / 37)}-${i % 2}`;
    open.add(lease);
    addPair(vs, lease, i, g1, g2, layout);
    if ((i + 1) % 37 === 0) {
      for (const l of open) vs.commit(l);
      open.clear();
    }
  });
  for (const l of open) vs.commit(l);
}

interface Truth {
  G: Vec;
  T: Vec;
}

function truth(g: Vec[]): Truth {
  const gbar = meanOf(g);
  return { G: gbar.map((v) => v * v), T: gbar.map((m, j) => avg(g.map((gi) => (gi[j]! - m) ** 2))) };
}

const SAMPLINGS: Sampling[] = (["independent", "disjoint"] as const).flatMap((pairing) =>
  [1, 2, 3].map((batchSize) => ({ datasetSize: N, batchSize, pairing })),
);

describe("VectorStats: exact under full enumeration of pairs (least squares, N = 7, P = 4)", () => {
  const exact = truth(perExample);

  it("has a dataset where every ḡ_j and σ_j² is far from 0", () => {
    for (let j = 0; j < P; j++) {
      expect(exact.G[j]!).toBeGreaterThan(1);
      expect(exact.T[j]!).toBeGreaterThan(1);
    }
  });

  for (const s of SAMPLINGS) {
    describe(`B = ${s.batchSize}, ${s.pairing}`, () => {
      const pairs = allPairs(perExample, s);
      const vs = new VectorStats(LAYOUT, s);
      feed(vs, pairs);
      const res = vs.result();
      const { G, T } = vs.perParameter();

      it("counts every pair and frees every lease", () => {
        expect(vs.pairs).toBe(pairs.length);
        expect(vs.stagedLeases).toBe(0);
        expect(res.overall.pairs).toBe(pairs.length);
        expect(res.overall.parameters).toBe(P);
        expect(res.layers["dense/kernel"]!.parameters).toBe(3);
        expect(res.layers["dense/bias"]!.parameters).toBe(1);
      });

      it("G_j = ḡ_j² and T_j = σ_j² per parameter", () => {
        for (let j = 0; j < P; j++) {
          expect(relErr(G[j]!, exact.G[j]!), `G_${j}`).toBeLessThan(1e-9);
          expect(relErr(T[j]!, exact.T[j]!), `T_${j}`).toBeLessThan(1e-9);
        }
      });

      it("Σ G and Σ T equal the scalar MeasureSet estimates", () => {
        const set = new MeasureSet(s);
        for (const [g1, g2] of pairs) set.add({ a: Math.sqrt(dot(g1, g1)), b: Math.sqrt(dot(g2, g2)), c: dot(g1, g2) });
        const m = set.results();
        const gsq = m.mean_grad_sq_norm.mean!;
        const trSigma = m.fisher_trace_per_example.mean! - gsq;
        expect(relErr(res.overall.mean_grad_sq_norm!, gsq)).toBeLessThan(1e-9);
        expect(relErr(res.overall.trace_sigma!, trSigma)).toBeLessThan(1e-9);
        expect(relErr(res.overall.mean_grad_sq_norm!, sum(exact.G))).toBeLessThan(1e-9);
        expect(relErr(res.overall.trace_sigma!, sum(exact.T))).toBeLessThan(1e-9);
        expect(relErr(res.layers["dense/kernel"]!.trace_sigma! + res.layers["dense/bias"]!.trace_sigma!, trSigma)).toBeLessThan(1e-9);
      });

      it("GSNR_j = ḡ_j²/σ_j², with its mean and median per tensor", () => {
        const want = exact.G.map((g, j) => g / exact.T[j]!);
        const got = vs.gsnr();
        for (let j = 0; j < P; j++) {
          expect(relErr(G[j]! / T[j]!, want[j]!)).toBeLessThan(1e-9);
          expect(relErr(got[j]!, want[j]!)).toBeLessThan(1e-6); // float32 output
        }
        expect(res.overall.gsnr_defined).toBe(P);
        expect(relErr(res.overall.gsnr_mean!, avg(want))).toBeLessThan(1e-9);
        expect(relErr(res.overall.gsnr_median!, median(want))).toBeLessThan(1e-6);
        const kernel = res.layers["dense/kernel"]!;
        expect(kernel.gsnr_defined).toBe(3);
        expect(relErr(kernel.gsnr_mean!, avg(want.slice(0, 3)))).toBeLessThan(1e-9);
        expect(relErr(kernel.gsnr_median!, median(want.slice(0, 3)))).toBeLessThan(1e-6);
        expect(relErr(res.layers["dense/bias"]!.gsnr_median!, want[3]!)).toBeLessThan(1e-6);
      });

      it("gradient diversity over the N examples equals Yin's Δ by brute force", () => {
        const delta = (from: number, to: number): number => {
          const part = perExample.map((gi) => gi.slice(from, to));
          const total = part[0]!.map((_, j) => sum(part.map((gi) => gi[j]!)));
          return sum(part.map((gi) => dot(gi, gi))) / dot(total, total);
        };
        expect(relErr(res.overall.gradient_diversity_per_example!, delta(0, 4))).toBeLessThan(1e-9);
        expect(relErr(res.layers["dense/kernel"]!.gradient_diversity_per_example!, delta(0, 3))).toBeLessThan(1e-9);
        expect(relErr(res.layers["dense/bias"]!.gradient_diversity_per_example!, delta(3, 4))).toBeLessThan(1e-9);
      });

      it("gradient diversity over the 2n minibatch gradients by brute force", () => {
        const all = pairs.flat();
        const total = all[0]!.map((_, j) => sum(all.map((v) => v[j]!)));
        const want = sum(all.map((v) => dot(v, v))) / dot(total, total);
        expect(relErr(res.overall.gradient_diversity_minibatch!, want)).toBeLessThan(1e-9);
      });

      it("the plug-in mean gradient is ḡ (every minibatch occurs equally often)", () => {
        const gbar = meanOf(perExample);
        expect(relErr(res.overall.mean_gradient_norm!, Math.sqrt(dot(gbar, gbar)))).toBeLessThan(1e-9);
        const m = vs.meanGradient();
        gbar.forEach((v, j) => expect(relErr(m[j]!, v)).toBeLessThan(1e-6));
      });

      // Both pairings: each minibatch occurs equally often as g1 and as g2, so the 2n values
      // are the minibatch population and the plug-in variance is Var g_b itself.
      it("variance_ratio_check = 1 exactly", () => {
        expect(relErr(res.overall.variance_ratio_check!, 1)).toBeLessThan(1e-9);
        expect(relErr(res.layers["dense/kernel"]!.variance_ratio_check!, 1)).toBeLessThan(1e-9);
        expect(relErr(res.layers["dense/bias"]!.variance_ratio_check!, 1)).toBeLessThan(1e-9);
      });
    });
  }

  it("B = 1 and B > 1 give the same σ_j² (and ḡ_j²), both pairings", () => {
    const perSampling = SAMPLINGS.map((s) => {
      const vs = new VectorStats(LAYOUT, s);
      feed(vs, allPairs(perExample, s));
      return vs.perParameter();
    });
    const ref = perSampling[0]!; // B = 1, independent
    for (const other of perSampling.slice(1)) {
      for (let j = 0; j < P; j++) {
        expect(relErr(other.T[j]!, ref.T[j]!)).toBeLessThan(1e-9);
        expect(relErr(other.G[j]!, ref.G[j]!)).toBeLessThan(1e-9);
      }
    }
  });

  // Under random pairs the ratio is 1 only in the limit: with V = tr Var g_b and
  // K = Σ_j Cov(g1_j, g2_j) (0 independent, −tr Σ/(N − 1) disjoint), E Σ_j s_j² = V − (V + K)/(2n).
  // Averaging over every single pair (n = 1), and over every ordered couple of pairs (n = 2)
  // at B = 1, gives these expectations exactly.
  describe("E Σ_j s_j² under random pairs", () => {
    const trSigma = sum(exact.T);
    const expected = (s: Sampling, n: number): number => {
      const { datasetSize: nn, batchSize: b } = s;
      const v = (trSigma * (nn - b)) / (b * (nn - 1));
      const k = s.pairing === "disjoint" ? -trSigma / (nn - 1) : 0;
      return v - (v + k) / (2 * n);
    };
    const spread = (pairs: [Vec, Vec][], s: Sampling): number => {
      const vs = new VectorStats(LAYOUT, s);
      feed(vs, pairs);
      return sum([...vs.perParameter().minibatchVariance]);
    };
    for (const s of SAMPLINGS) {
      it(`n = 1, B = ${s.batchSize}, ${s.pairing}`, () => {
        const pairs = allPairs(perExample, s);
        expect(relErr(avg(pairs.map((p) => spread([p], s))), expected(s, 1))).toBeLessThan(1e-9);
      });
    }
    for (const s of SAMPLINGS.filter((x) => x.batchSize === 1)) {
      it(`n = 2, B = 1, ${s.pairing}`, () => {
        const pairs = allPairs(perExample, s);
        const got = avg(pairs.flatMap((p) => pairs.map((q) => spread([p, q], s))));
        expect(relErr(got, expected(s, 2))).toBeLessThan(1e-9);
      });
    }
  });
});

describe("VectorStats: leases", () => {
  const layout: VectorLayout = { tensors: ["a", "b", "c"], tensorSizes: [40, 7, 13] };
  const p = 60;
  const sampling: Sampling = { datasetSize: 1000, batchSize: 16, pairing: "independent" };
  const rng = new Rng(7);
  const randomPair = (): [Vec, Vec] => {
    const v = (): Vec => Array.from({ length: p }, (_, j) => 0.3 * Math.sin(j) + rng.nextNormal() * 1.7);
    return [v(), v()];
  };
  const batches = Array.from({ length: 4 }, () => Array.from({ length: 25 }, randomPair));
  const load = (vs: VectorStats, lease: string, pairs: [Vec, Vec][], firstId: number): void =>
    pairs.forEach(([g1, g2], i) => addPair(vs, lease, firstId + i, g1, g2, layout));

  it("a dropped lease leaves the totals exactly as before and frees its buffers", () => {
    const vs = new VectorStats(layout, sampling);
    load(vs, "A", batches[0]!, 0);
    vs.commit("A");
    const before = JSON.stringify(vs.result());
    const perBefore = vs.perParameter();
    load(vs, "B", batches[1]!, 100);
    load(vs, "C", batches[2]!, 200);
    expect(vs.stagedLeases).toBe(2);
    expect(JSON.stringify(vs.result())).toBe(before); // staged is not counted
    vs.drop("B");
    vs.drop("C");
    expect(vs.stagedLeases).toBe(0);
    expect(vs.pairs).toBe(25);
    expect(JSON.stringify(vs.result())).toBe(before);
    expect(vs.perParameter()).toEqual(perBefore);
  });

  it("a commit of incomplete vectors is refused and leaves no trace once dropped", () => {
    const vs = new VectorStats(layout, sampling);
    load(vs, "A", batches[0]!, 0);
    vs.commit("A");
    const before = JSON.stringify(vs.result());
    const [g1, g2] = batches[1]![0]!;
    vs.add("B", 1, 0, 0, Float32Array.from(g1.slice(0, 40)), Float32Array.from(g2.slice(0, 40)));
    expect(() => vs.commit("B")).toThrow(/40 of 60/);
    expect(vs.stagedLeases).toBe(1);
    vs.drop("B");
    expect(vs.stagedLeases).toBe(0);
    expect(JSON.stringify(vs.result())).toBe(before);
    vs.commit("never-seen"); // nothing staged: nothing to do
    expect(vs.pairs).toBe(25);
  });

  it("refuses bad chunks without staging anything", () => {
    const vs = new VectorStats(layout, sampling);
    const one = new Float32Array(1);
    expect(() => vs.add("A", 0, 3, 0, one, one)).toThrow(RangeError);
    expect(() => vs.add("A", 0, 1, 7, one, one)).toThrow(RangeError);
    expect(() => vs.add("A", 0, 1, 0, one, new Float32Array(2))).toThrow(RangeError);
    expect(() => vs.add("A", 0, 1, 0, Float32Array.of(NaN), one)).toThrow(/non-finite/);
    expect(() => vs.add("A", 0, 1, 0, one, Float32Array.of(Infinity))).toThrow(/non-finite/);
    expect(vs.stagedLeases).toBe(0);
    expect(() => new VectorStats({ tensors: ["x", "x"], tensorSizes: [1, 1] }, sampling)).toThrow(RangeError);
    expect(() => new VectorStats({ tensors: ["x"], tensorSizes: [1, 1] }, sampling)).toThrow(RangeError);
    expect(() => new VectorStats(layout, { ...sampling, batchSize: 0 })).toThrow(RangeError);
  });

  it("commit order changes the totals only at rounding level", () => {
    const run = (order: string[]): VectorStats => {
      const vs = new VectorStats(layout, sampling);
      batches.forEach((b, i) => load(vs, `L${i}`, b, 100 * i));
      for (const l of order) vs.commit(l);
      expect(vs.stagedLeases).toBe(0);
      return vs;
    };
    const x = run(["L0", "L1", "L2", "L3"]);
    const y = run(["L3", "L2", "L1", "L0"]);
    const px = x.perParameter();
    const py = y.perParameter();
    // Relative to the second moment, the scale the float64 sums carry.
    const scale = px.G.map((g, j) => g + px.T[j]! / sampling.batchSize);
    for (const key of ["G", "T", "minibatchVariance"] as const) {
      px[key].forEach((v, j) => expect(Math.abs(v - py[key][j]!)).toBeLessThanOrEqual(1e-15 * scale[j]! * sampling.batchSize));
    }
    expect(x.pairs).toBe(100);
    expect(y.pairs).toBe(100);
  });
});

/** Every number in the result is finite, every other leaf null (and JSON has no NaN/Infinity). */
function expectClean(res: VectorStatsResult): void {
  const walk = (v: unknown, path: string): void => {
    if (v === null) return;
    if (typeof v === "number") return void expect(Number.isFinite(v), path).toBe(true);
    if (typeof v === "object") for (const [k, x] of Object.entries(v as object)) walk(x, `${path}.${k}`);
  };
  walk(res, "result");
  expect(JSON.stringify(res)).not.toMatch(/NaN|Infinity/);
}

describe("VectorStats: degenerate input", () => {
  const s: Sampling = { datasetSize: 7, batchSize: 2, pairing: "independent" };
  const zeros = (): [Vec, Vec] => [new Array<number>(P).fill(0), new Array<number>(P).fill(0)];

  it("no pairs", () => {
    const vs = new VectorStats(LAYOUT, s);
    const res = vs.result();
    expectClean(res);
    expect(res.overall.pairs).toBe(0);
    expect(res.overall.mean_grad_sq_norm).toBeNull();
    expect(res.overall.gsnr_defined).toBe(0);
  });

  for (const count of [1, 5]) {
    it(`all-zero gradients, ${count} pair(s)`, () => {
      const vs = new VectorStats(LAYOUT, s);
      feed(vs, Array.from({ length: count }, zeros));
      const res = vs.result();
      expectClean(res);
      expect(res.overall.mean_grad_sq_norm).toBe(0);
      expect(res.overall.trace_sigma).toBe(0);
      expect(res.overall.mean_gradient_norm).toBe(0);
      expect(res.overall.gsnr_defined).toBe(0);
      expect(res.overall.gsnr_mean).toBeNull();
      expect(res.overall.gsnr_median).toBeNull();
      expect(res.overall.gradient_diversity_minibatch).toBeNull();
      expect(res.overall.gradient_diversity_per_example).toBeNull();
      expect(res.overall.variance_ratio_check).toBeNull();
      expect([...vs.gsnr()].every(Number.isNaN)).toBe(true);
    });
  }

  it("a single pair, including a negative G_j", () => {
    const vs = new VectorStats(LAYOUT, s);
    feed(vs, [[[1, -2, 0.5, 3], [-1, 2, 0.5, 1]]]);
    const res = vs.result();
    expectClean(res);
    expect(res.overall.pairs).toBe(1);
    expect(vs.perParameter().G[0]).toBe(-1); // c = −1: an unbiased estimate may be negative
    expect(res.overall.gsnr_defined).toBe(3); // coordinate 2 has g1 = g2, so T = 0
  });

  it("identical gradients in every pair of one tensor, extreme magnitudes", () => {
    const vs = new VectorStats(LAYOUT, s);
    const big = 3e38;
    feed(vs, [
      [[big, -big, 1e-45, 0], [big, -big, 1e-45, 0]],
      [[big, big, 0, 0], [-big, big, 1e-45, 0]],
    ]);
    expectClean(vs.result());
  });

  it("B = N with independent pairing: tr Σ is not identifiable", () => {
    const vs = new VectorStats(LAYOUT, { datasetSize: 7, batchSize: 7, pairing: "independent" });
    const g = meanOf(perExample);
    feed(vs, [[g, g], [g, g]]);
    const res = vs.result();
    expectClean(res);
    expect(res.overall.trace_sigma).toBeNull();
    expect(res.overall.gsnr_defined).toBe(0);
    expect(res.overall.gradient_diversity_per_example).toBeNull();
    expect(res.overall.variance_ratio_check).toBeNull();
    expect(relErr(res.overall.mean_grad_sq_norm!, dot(g, g))).toBeLessThan(1e-6);
  });
});
