// Streaming numerics, merge, input validation and the unresolved paths of the estimators.
import { describe, expect, it } from "vitest";
import {
  MEASURE_NAMES,
  MeasureSet,
  createEstimators,
  type Estimate,
  type MeasureName,
  type PairSample,
  type Sampling,
} from "../../src/coordinator/estimators/index.js";
import { Moments } from "../../src/coordinator/estimators/moments.js";
import { deltaStderr, fiellerInterval } from "../../src/coordinator/estimators/ratio.js";
import { linearForms } from "../../src/coordinator/estimators/sampling.js";
import { Rng } from "../../src/util/rng.js";

const SAMPLING: Sampling = { datasetSize: 1000, batchSize: 32, pairing: "independent" };

/** Plausible pair statistics: two noisy gradients around a common mean, in 8 dimensions. */
function randomPairs(count: number, seed: number): PairSample[] {
  const rng = new Rng(seed);
  const mean = Array.from({ length: 8 }, () => rng.nextNormal());
  const draw = (): number[] => mean.map((m) => m + 0.7 * rng.nextNormal());
  const out: PairSample[] = [];
  for (let i = 0; i < count; i++) {
    const g1 = draw();
    const g2 = draw();
    const d = (x: number[], y: number[]): number => x.reduce((s, v, j) => s + v * y[j]!, 0);
    out.push({ a: Math.sqrt(d(g1, g1)), b: Math.sqrt(d(g2, g2)), c: d(g1, g2) });
  }
  return out;
}

function expectClose(got: Estimate, want: Estimate, rel: number, label: string): void {
  expect(got.n, label).toBe(want.n);
  expect(got.resolved, label).toBe(want.resolved);
  const close = (x: number, y: number): void => {
    expect(Math.abs(x - y), `${label}: ${x} vs ${y}`).toBeLessThanOrEqual(rel * Math.max(Math.abs(y), 1e-300));
  };
  close(got.mean!, want.mean!);
  close(got.stderr!, want.stderr!);
  close(got.ci95![0], want.ci95![0]);
  close(got.ci95![1], want.ci95![1]);
}

describe("MeasureSet.merge", () => {
  const pairs = randomPairs(1001, 42);

  for (const pairing of ["independent", "disjoint"] as const) {
    it(`two halves merged equal the sequential result (${pairing})`, () => {
      const s: Sampling = { ...SAMPLING, pairing };
      const whole = new MeasureSet(s);
      pairs.forEach((p) => whole.add(p));
      const left = new MeasureSet(s);
      const right = new MeasureSet(s);
      pairs.slice(0, 500).forEach((p) => left.add(p));
      pairs.slice(500).forEach((p) => right.add(p));
      left.merge(right);
      expect(left.n).toBe(1001);
      const want = whole.results();
      const got = left.results();
      for (const name of MEASURE_NAMES) expectClose(got[name], want[name], 1e-12, name);
    });
  }

  it("many uneven chunks and empty sets merge to the sequential result", () => {
    const whole = new MeasureSet(SAMPLING);
    pairs.forEach((p) => whole.add(p));
    const acc = new MeasureSet(SAMPLING);
    acc.merge(new MeasureSet(SAMPLING));
    let i = 0;
    for (const size of [1, 2, 3, 97, 0, 400, 498]) {
      const part = new MeasureSet(SAMPLING);
      pairs.slice(i, i + size).forEach((p) => part.add(p));
      acc.merge(part);
      i += size;
    }
    expect(i).toBe(pairs.length);
    const want = whole.results();
    const got = acc.results();
    for (const name of MEASURE_NAMES) expectClose(got[name], want[name], 1e-12, name);
  });

  it("results depend only on the sequence of adds (bitwise reproducible)", () => {
    const run = (): Record<MeasureName, Estimate> => {
      const set = new MeasureSet(SAMPLING);
      pairs.forEach((p) => set.add(p));
      return set.results();
    };
    expect(run()).toEqual(run());
  });

  it("refuses to merge different samplings or different measures", () => {
    const a = new MeasureSet(SAMPLING);
    expect(() => a.merge(new MeasureSet({ ...SAMPLING, batchSize: 16 }))).toThrow(RangeError);
    expect(() => a.merge(new MeasureSet({ ...SAMPLING, pairing: "disjoint" }))).toThrow(RangeError);
    const [regret, regretSym] = createEstimators(SAMPLING);
    expect(() => regret!.merge(regretSym!)).toThrow(TypeError);
  });
});

describe("createEstimators", () => {
  it("one estimator per measure, in MEASURE_NAMES order", () => {
    expect(createEstimators(SAMPLING).map((e) => e.name)).toEqual([...MEASURE_NAMES]);
    expect(MEASURE_NAMES).toEqual([
      "regret",
      "regret_sym",
      "cos_disagreement",
      "grad_norm_mean",
      "grad_sq_norm_mean",
      "jensen_ratio",
      "mean_grad_sq_norm",
      "fisher_trace_per_example",
      "noise_scale",
      "contrastive_flatness",
      "stiffness_cos",
      "stiffness_sign",
      "coherence",
    ]);
  });

  it("rejects an invalid Sampling with a RangeError naming the field", () => {
    const bad: [Partial<Sampling>, RegExp][] = [
      [{ datasetSize: 0 }, /datasetSize/],
      [{ datasetSize: 10.5 }, /datasetSize/],
      [{ datasetSize: Number.NaN }, /datasetSize/],
      [{ batchSize: 0 }, /batchSize/],
      [{ batchSize: 2.5 }, /batchSize/],
      [{ batchSize: 1001 }, /batchSize/],
      [{ batchSize: 501, pairing: "disjoint" }, /batchSize/],
      [{ pairing: "overlapping" as Sampling["pairing"] }, /pairing/],
    ];
    for (const [patch, field] of bad) {
      const s = { ...SAMPLING, ...patch };
      expect(() => new MeasureSet(s), JSON.stringify(patch)).toThrow(RangeError);
      expect(() => new MeasureSet(s)).toThrow(field);
      expect(() => createEstimators(s)).toThrow(field);
    }
    expect(() => new MeasureSet({ datasetSize: 1000, batchSize: 500, pairing: "disjoint" })).not.toThrow();
    expect(() => new MeasureSet({ datasetSize: 1, batchSize: 1, pairing: "independent" })).not.toThrow();
  });
});

describe("pair input", () => {
  it("rejects non-finite or negative statistics, naming the field", () => {
    const set = new MeasureSet(SAMPLING);
    expect(() => set.add({ a: Number.NaN, b: 1, c: 0 })).toThrow(/PairSample\.a/);
    expect(() => set.add({ a: 1, b: Number.POSITIVE_INFINITY, c: 0 })).toThrow(/PairSample\.b/);
    expect(() => set.add({ a: 1, b: 1, c: Number.NaN })).toThrow(/PairSample\.c/);
    expect(() => set.add({ a: -1, b: 1, c: 0 })).toThrow(RangeError);
    expect(set.n).toBe(0);
  });

  it("fewer than 2 pairs: nothing is resolved", () => {
    const set = new MeasureSet(SAMPLING);
    for (const count of [0, 1]) {
      const res = set.results();
      for (const name of MEASURE_NAMES) {
        expect(res[name]).toEqual({ mean: null, stderr: null, ci95: null, n: count, resolved: false, reason: expect.stringMatching(/need at least 2 pairs/) });
      }
      set.add({ a: 1, b: 1, c: 1 });
    }
  });

  it("a zero gradient: c/a and cos are taken as 0, everything stays finite", () => {
    const set = new MeasureSet(SAMPLING);
    set.add({ a: 0, b: 2, c: 0 });
    set.add({ a: 3, b: 0, c: 0 });
    set.add({ a: 1, b: 1, c: 1 });
    const res = set.results();
    expect(res.regret.mean).toBeCloseTo((2 + 0 + 0) / 3, 14);
    expect(res.regret_sym.mean).toBeCloseTo(((2 + 0) / 2 + (0 + 3) / 2 + 0) / 3, 14);
    expect(res.cos_disagreement.mean).toBeCloseTo((1 + 1 + 0) / 3, 14);
    for (const name of MEASURE_NAMES) {
      const r = res[name];
      if (r.resolved) for (const v of [r.mean, r.stderr, ...r.ci95!]) expect(Number.isFinite(v)).toBe(true);
    }
  });

  it("norms too large to square: not resolved, no NaN or Infinity anywhere", () => {
    const set = new MeasureSet(SAMPLING);
    set.add({ a: 1e200, b: 1e200, c: 1e300 });
    set.add({ a: 2e200, b: 1e200, c: 1e300 });
    const res = set.results();
    expect(res.grad_sq_norm_mean.resolved).toBe(false);
    expect(res.grad_sq_norm_mean.reason).toMatch(/overflow/);
    expect(res.noise_scale.resolved).toBe(false);
    const json = JSON.stringify(res);
    expect(json).not.toMatch(/NaN|Infinity/);
    expect(JSON.parse(json)).toEqual(res);
  });
});

describe("Moments", () => {
  it("is stable under a large common offset where the textbook formula cancels", () => {
    const rng = new Rng(11);
    const xs = Array.from({ length: 5000 }, () => [1e9 + rng.nextNormal(), 1e9 + 2 * rng.nextNormal()]);
    const m = new Moments(2);
    xs.forEach((x) => m.add(x));
    // Two-pass reference.
    const mean = [0, 1].map((j) => xs.reduce((s, x) => s + (x[j]! - 1e9), 0) / xs.length + 1e9);
    const cov = (j: number, k: number): number =>
      xs.reduce((s, x) => s + (x[j]! - mean[j]!) * (x[k]! - mean[k]!), 0) / (xs.length - 1);
    for (const [j, k] of [[0, 0], [0, 1], [1, 1]] as const) {
      expect(Math.abs(m.covariance(j, k) - cov(j, k))).toBeLessThan(1e-6 * Math.max(1, Math.abs(cov(j, k))));
    }
    expect(m.covariance(0, 1)).toBe(m.covariance(1, 0));
    expect(m.meanCovariance(1, 1)).toBeCloseTo(m.covariance(1, 1) / 5000, 15);
  });

  it("rejects vectors of the wrong length", () => {
    expect(() => new Moments(2).add([1])).toThrow(RangeError);
    expect(() => new Moments(2).merge(new Moments(3))).toThrow(RangeError);
  });
});

describe("ratio machinery", () => {
  it("Fieller's interval contains the point estimate and tends to the delta-method interval", () => {
    const mT = 3;
    const mG = 2;
    const t = 1.96;
    for (const scale of [1e-2, 1e-4, 1e-6]) {
      const [vTT, vTG, vGG] = [0.5 * scale, 0.1 * scale, 0.3 * scale];
      const ci = fiellerInterval(mT, mG, vTT, vTG, vGG, t)!;
      const r = mT / mG;
      expect(ci[0]).toBeLessThan(r);
      expect(ci[1]).toBeGreaterThan(r);
      const V = [
        [vTT, vTG],
        [vTG, vGG],
      ];
      const se = deltaStderr([1 / mG, -r / mG], (j, k) => V[j]![k]!);
      const halfWidth = (ci[1] - ci[0]) / 2;
      expect(Math.abs(halfWidth - t * se) / (t * se)).toBeLessThan(20 * Math.sqrt(scale));
    }
  });

  it("Fieller's interval is unbounded (null) exactly when the denominator's interval covers zero", () => {
    expect(fiellerInterval(1, 1, 0.01, 0, 1 / 1.96 ** 2 - 1e-9, 1.96)).not.toBeNull();
    expect(fiellerInterval(1, 1, 0.01, 0, 1 / 1.96 ** 2 + 1e-9, 1.96)).toBeNull();
    expect(fiellerInterval(1, -1, 0.01, 0, 0.01, 1.96)).not.toBeNull(); // bounded, but callers also require mG > 0
  });

  it("linear forms: G + T at B = 1 is the per-pair mean square in both pairings", () => {
    for (const pairing of ["independent", "disjoint"] as const) {
      const f = linearForms({ datasetSize: 9, batchSize: 1, pairing });
      // G + T = c + w(y − c) + k(y − c) = y  ⇔  w + k = 1
      expect(f.w + f.k!).toBeCloseTo(1, 15);
    }
    expect(linearForms({ datasetSize: 9, batchSize: 9, pairing: "independent" }).k).toBeNull();
  });
});
