// Every estimator against exact population values: on a tiny dataset with closed-form
// per-example gradients, enumerating ALL minibatches and ALL admissible ordered pairs makes
// the sample means equal the expectations, so unbiased estimators must hit them exactly.
import { describe, expect, it } from "vitest";
import { MEASURE_NAMES, MeasureSet, type MeasureName, type PairSample, type Sampling } from "../../src/coordinator/estimators/index.js";
import { Rng } from "../../src/util/rng.js";

type Vec = number[];
const dot = (x: Vec, y: Vec): number => x.reduce((s, v, i) => s + v * y[i]!, 0);
const norm = (x: Vec): number => Math.sqrt(dot(x, x));
const sub = (x: Vec, y: Vec): Vec => x.map((v, i) => v - y[i]!);
const meanOf = (vs: Vec[]): Vec => vs[0]!.map((_, j) => vs.reduce((s, v) => s + v[j]!, 0) / vs.length);
const avg = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

// N = 7 examples, 3 features, fixed values; θ is not a minimum, so ‖ḡ‖² > 0.
const X: Vec[] = [
  [1.0, 0.5, -0.3],
  [0.2, -1.1, 0.8],
  [-0.7, 0.3, 1.5],
  [1.3, 1.0, 0.1],
  [-0.4, -0.9, -1.2],
  [0.9, -0.2, 0.6],
  [0.1, 1.4, -0.5],
];
const THETA: Vec = [0.3, -0.6, 0.9];

/** ℓ_i = ½(x_iᵀθ − y_i)²  ⇒  g_i = (x_iᵀθ − y_i) x_i */
function leastSquaresGrads(): Vec[] {
  const y = [1.2, -0.4, 2.1, 0.3, -1.7, 0.8, -0.2];
  return X.map((x, i) => x.map((v) => (dot(x, THETA) - y[i]!) * v));
}

/** ℓ_i = log(1 + e^{−y_i x_iᵀθ}), y_i ∈ {±1}  ⇒  g_i = −y_i σ(−y_i x_iᵀθ) x_i */
function logisticGrads(): Vec[] {
  const y = [1, -1, 1, 1, -1, -1, 1];
  return X.map((x, i) => {
    const m = y[i]! * dot(x, THETA);
    const s = 1 / (1 + Math.exp(m));
    return x.map((v) => -y[i]! * s * v);
  });
}

function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const rec = (start: number, cur: number[]): void => {
    if (cur.length === k) return void out.push([...cur]);
    for (let i = start; i < n; i++) rec(i + 1, [...cur, i]);
  };
  rec(0, []);
  return out;
}

const batchGrad = (g: Vec[], b: number[]): Vec => meanOf(b.map((i) => g[i]!));
const pairStats = (g1: Vec, g2: Vec): PairSample => ({ a: norm(g1), b: norm(g2), c: dot(g1, g2) });

/** Every ordered pair of minibatches the sampling can produce, each with its probability mass equal. */
function allPairs(g: Vec[], s: Sampling): [Vec, Vec][] {
  const batches = subsets(g.length, s.batchSize);
  const out: [Vec, Vec][] = [];
  for (const b1 of batches) {
    for (const b2 of batches) {
      if (s.pairing === "disjoint" && b1.some((i) => b2.includes(i))) continue;
      out.push([batchGrad(g, b1), batchGrad(g, b2)]);
    }
  }
  return out;
}

/** Exact values of every measure from the per-example gradients alone. */
function exactValues(g: Vec[], s: Sampling): Record<MeasureName, number> {
  const n = g.length;
  const gbar = meanOf(g);
  const gbar2 = dot(gbar, gbar);
  const trSigma = avg(g.map((gi) => dot(sub(gi, gbar), sub(gi, gbar))));
  const batchGrads = subsets(n, s.batchSize).map((b) => batchGrad(g, b));
  const eNorm = avg(batchGrads.map(norm));
  const eSq = avg(batchGrads.map((v) => dot(v, v)));
  const pairs = allPairs(g, s);
  const regret = (g1: Vec, g2: Vec): number => norm(g2) - (norm(g1) > 0 ? dot(g1, g2) / norm(g1) : 0);
  const cos = (g1: Vec, g2: Vec): number => (norm(g1) > 0 && norm(g2) > 0 ? dot(g1, g2) / (norm(g1) * norm(g2)) : 0);
  return {
    regret: avg(pairs.map(([x, y]) => regret(x, y))),
    regret_sym: avg(pairs.map(([x, y]) => (regret(x, y) + regret(y, x)) / 2)),
    cos_disagreement: avg(pairs.map(([x, y]) => 1 - cos(x, y))),
    grad_norm_mean: eNorm,
    grad_sq_norm_mean: eSq,
    jensen_ratio: eNorm / Math.sqrt(eSq),
    mean_grad_sq_norm: gbar2,
    fisher_trace_per_example: avg(g.map((gi) => dot(gi, gi))),
    noise_scale: trSigma / gbar2,
    contrastive_flatness: eNorm / Math.sqrt(gbar2),
    stiffness_cos: avg(pairs.map(([x, y]) => cos(x, y))),
    stiffness_sign: avg(pairs.map(([x, y]) => Math.sign(dot(x, y)))),
    coherence: gbar2 / avg(g.map((gi) => dot(gi, gi))),
  };
}

function relErr(got: number, want: number): number {
  return Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
}

const MODELS = { "least squares": leastSquaresGrads(), logistic: logisticGrads() };

describe("estimators: exact under full enumeration of pairs", () => {
  for (const [model, g] of Object.entries(MODELS)) {
    for (const pairing of ["independent", "disjoint"] as const) {
      for (const batchSize of [1, 2, 3]) {
        it(`${model}, B = ${batchSize}, ${pairing}`, () => {
          const s: Sampling = { datasetSize: g.length, batchSize, pairing };
          const pairs = allPairs(g, s);
          const set = new MeasureSet(s);
          for (const [g1, g2] of pairs) set.add(pairStats(g1, g2));
          const res = set.results();
          const want = exactValues(g, s);
          for (const name of MEASURE_NAMES) {
            const r = res[name];
            expect(r.resolved, `${name}: ${r.reason}`).toBe(true);
            expect(r.n).toBe(pairs.length);
            expect(relErr(r.mean!, want[name]), `${name} ${r.mean} vs ${want[name]}`).toBeLessThan(1e-10);
            expect(r.stderr!).toBeGreaterThanOrEqual(0);
            expect(r.ci95![0]).toBeLessThanOrEqual(r.mean!);
            expect(r.ci95![1]).toBeGreaterThanOrEqual(r.mean!);
          }
        });
      }
    }
  }

  it("pair counts: every pair (independent) vs only disjoint ones", () => {
    const g = MODELS["least squares"];
    expect(allPairs(g, { datasetSize: 7, batchSize: 3, pairing: "independent" })).toHaveLength(35 * 35);
    expect(allPairs(g, { datasetSize: 7, batchSize: 3, pairing: "disjoint" })).toHaveLength(35 * 4);
  });

  it("the minibatch second moment obeys the finite-population formula", () => {
    const g = MODELS.logistic;
    const n = g.length;
    const gbar = meanOf(g);
    const trSigma = avg(g.map((gi) => dot(sub(gi, gbar), sub(gi, gbar))));
    for (const b of [1, 2, 3, 7]) {
      const want = dot(gbar, gbar) + (trSigma * (n - b)) / (b * (n - 1));
      expect(relErr(exactValues(g, { datasetSize: n, batchSize: b, pairing: "independent" }).grad_sq_norm_mean, want)).toBeLessThan(1e-12);
    }
  });

  it("B = N with independent pairing: ‖ḡ‖² is exact, tr Σ is not identifiable", () => {
    const g = MODELS["least squares"];
    const s: Sampling = { datasetSize: 7, batchSize: 7, pairing: "independent" };
    const set = new MeasureSet(s);
    const [[g1, g2]] = allPairs(g, s) as [[Vec, Vec]];
    for (let i = 0; i < 3; i++) set.add(pairStats(g1, g2));
    const res = set.results();
    const gbar = meanOf(g);
    expect(relErr(res.mean_grad_sq_norm.mean!, dot(gbar, gbar))).toBeLessThan(1e-12);
    expect(res.contrastive_flatness.mean).toBeCloseTo(1, 12);
    for (const name of ["fisher_trace_per_example", "noise_scale"] as const) {
      expect(res[name].resolved).toBe(false);
      expect(res[name].mean).toBeNull();
      expect(res[name].reason).toMatch(/no sampling noise/);
    }
  });
});

/** Pairs drawn as the coordinator draws them: each minibatch without replacement. */
function samplePairs(g: Vec[], s: Sampling, count: number, rng: Rng): PairSample[] {
  const out: PairSample[] = [];
  for (let i = 0; i < count; i++) {
    const b1 = rng.sampleWithoutReplacement(g.length, s.batchSize);
    const b2 =
      s.pairing === "disjoint"
        ? rng.sampleWithoutReplacement(g.length, s.batchSize, new Set(b1))
        : rng.sampleWithoutReplacement(g.length, s.batchSize);
    out.push(pairStats(batchGrad(g, b1), batchGrad(g, b2)));
  }
  return out;
}

describe("estimators: B = 1 per-example Fisher trace", () => {
  const g = MODELS.logistic;
  const exact = avg(g.map((gi) => dot(gi, gi)));

  for (const pairing of ["independent", "disjoint"] as const) {
    it(`${pairing}: enumeration is exact, 2,000 sampled pairs cover it`, () => {
      const s: Sampling = { datasetSize: 7, batchSize: 1, pairing };
      const all = new MeasureSet(s);
      for (const [g1, g2] of allPairs(g, s)) all.add(pairStats(g1, g2));
      expect(relErr(all.results().fisher_trace_per_example.mean!, exact)).toBeLessThan(1e-12);

      const sampled = new MeasureSet(s);
      for (const p of samplePairs(g, s, 2000, new Rng(20180118, pairing === "disjoint" ? 1 : 0))) sampled.add(p);
      const r = sampled.results().fisher_trace_per_example;
      expect(r.n).toBe(2000);
      expect(r.ci95![0]).toBeLessThan(exact);
      expect(r.ci95![1]).toBeGreaterThan(exact);
    });
  }
});

describe("estimators: 95% intervals cover the exact values about 95% of the time", () => {
  // 400 independent runs of 300 pairs each; a correct 95% interval misses in ~20 runs
  // (binomial sd ≈ 4.4). The bounds allow ±3.5 sd and a mild small-sample undercoverage
  // of the delta-method ratios.
  const runs = 400;
  const pairsPerRun = 300;
  for (const pairing of ["independent", "disjoint"] as const) {
    it(`logistic, B = 2, ${pairing}`, () => {
      const g = MODELS.logistic;
      const s: Sampling = { datasetSize: 7, batchSize: 2, pairing };
      const want = exactValues(g, s);
      const hits = Object.fromEntries(MEASURE_NAMES.map((n) => [n, 0])) as Record<MeasureName, number>;
      for (let run = 0; run < runs; run++) {
        const set = new MeasureSet(s);
        for (const p of samplePairs(g, s, pairsPerRun, new Rng(7, run + (pairing === "disjoint" ? 10_000 : 0)))) set.add(p);
        const res = set.results();
        for (const name of MEASURE_NAMES) {
          const ci = res[name].ci95!;
          if (ci[0] <= want[name] && want[name] <= ci[1]) hits[name]++;
        }
      }
      for (const name of MEASURE_NAMES) {
        const coverage = hits[name] / runs;
        expect(coverage, `${name} coverage ${coverage}`).toBeGreaterThan(0.91);
        expect(coverage, `${name} coverage ${coverage}`).toBeLessThan(0.99);
      }
    });
  }
});

describe("estimators: ‖ḡ‖² not resolved from zero", () => {
  // Per-example gradients that are pure noise, centred so that ḡ = 0 exactly.
  function noiseGrads(n: number, dim: number, seed: number): Vec[] {
    const rng = new Rng(seed);
    const raw = Array.from({ length: n }, () => Array.from({ length: dim }, () => rng.nextNormal()));
    const m = meanOf(raw);
    return raw.map((v) => sub(v, m));
  }

  function expectHonest(res: Record<MeasureName, ReturnType<MeasureSet["results"]>[MeasureName]>): void {
    const json = JSON.stringify(res);
    expect(json).not.toMatch(/NaN|Infinity/);
    // NaN and ±Infinity would come back as null: a round trip that changes nothing proves none.
    expect(JSON.parse(json)).toEqual(res);
    for (const name of MEASURE_NAMES) {
      const r = res[name];
      if (r.resolved) {
        for (const v of [r.mean, r.stderr, ...r.ci95!]) expect(Number.isFinite(v)).toBe(true);
      } else {
        expect(r.mean).toBeNull();
        expect(r.stderr).toBeNull();
        expect(r.ci95).toBeNull();
        expect(r.reason).toBeTruthy();
      }
    }
  }

  for (const pairing of ["independent", "disjoint"] as const) {
    it(`sampled noise, ${pairing}`, () => {
      const g = noiseGrads(20, 5, 99);
      const s: Sampling = { datasetSize: 20, batchSize: 4, pairing };
      const set = new MeasureSet(s);
      for (const p of samplePairs(g, s, 500, new Rng(3))) set.add(p);
      const res = set.results();
      expect(res.mean_grad_sq_norm.resolved).toBe(true); // a value within noise of 0 is still a value
      for (const name of ["noise_scale", "contrastive_flatness"] as const) {
        expect(res[name].resolved).toBe(false);
        expect(res[name].mean).toBeNull();
        expect(res[name].stderr).toBeNull();
        expect(res[name].ci95).toBeNull();
        expect(res[name].reason).toMatch(/^‖ḡ‖² = -?\d\.\de[+-]\d+ ± \d\.\de[+-]\d+ \(95% CI\) is not resolved from zero$/);
      }
      for (const name of ["grad_sq_norm_mean", "fisher_trace_per_example", "regret", "jensen_ratio"] as const) {
        expect(res[name].resolved).toBe(true);
      }
      expectHonest(res);
    });

    it(`enumerated noise (mean of G is 0 up to rounding), ${pairing}`, () => {
      const g = noiseGrads(7, 3, 5);
      const s: Sampling = { datasetSize: 7, batchSize: 2, pairing };
      const set = new MeasureSet(s);
      for (const [g1, g2] of allPairs(g, s)) set.add(pairStats(g1, g2));
      const res = set.results();
      expect(Math.abs(res.mean_grad_sq_norm.mean!)).toBeLessThan(1e-14);
      expect(res.noise_scale.resolved).toBe(false);
      expect(res.contrastive_flatness.resolved).toBe(false);
      expectHonest(res);
    });
  }

  it("mean of G below zero: opposed gradients", () => {
    const set = new MeasureSet({ datasetSize: 1000, batchSize: 10, pairing: "independent" });
    set.add({ a: 1, b: 1, c: -0.9 });
    set.add({ a: 2, b: 1.5, c: -2.5 });
    set.add({ a: 0.5, b: 0.7, c: -0.1 });
    const res = set.results();
    expect(res.mean_grad_sq_norm.mean!).toBeLessThan(0);
    expect(res.noise_scale.resolved).toBe(false);
    expect(res.noise_scale.reason).toMatch(/^‖ḡ‖² = -1\.2e\+0 ± .* is not resolved from zero$/);
    expect(res.contrastive_flatness.resolved).toBe(false);
    expectHonest(res);
  });

  it("all gradients zero", () => {
    const set = new MeasureSet({ datasetSize: 100, batchSize: 10, pairing: "disjoint" });
    for (let i = 0; i < 5; i++) set.add({ a: 0, b: 0, c: 0 });
    const res = set.results();
    expect(res.regret.mean).toBe(0);
    expect(res.cos_disagreement.mean).toBe(1); // cos of a zero gradient is taken as 0
    expect(res.jensen_ratio.resolved).toBe(false);
    expect(res.jensen_ratio.reason).toMatch(/zero/);
    expect(res.noise_scale.resolved).toBe(false);
    expect(res.contrastive_flatness.resolved).toBe(false);
    expectHonest(res);
  });
});
