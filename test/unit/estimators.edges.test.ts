// The estimators' edges, each pinned exactly: the refusals and what they say, the
// boundaries of the ratio machinery (a denominator exactly at its t bound, a zero
// numerator, roots that come out in either order), and the moments of two pairs.
import { describe, expect, it } from "vitest";
import { MeasureSet, RegretEstimator, RegretSymEstimator, type Sampling } from "../../src/coordinator/estimators/index.js";
import { Moments } from "../../src/coordinator/estimators/moments.js";
import { fiellerInterval, unresolvedDenominator } from "../../src/coordinator/estimators/ratio.js";
import { validateSampling } from "../../src/coordinator/estimators/sampling.js";

const SAMPLING: Sampling = { datasetSize: 1000, batchSize: 32, pairing: "independent" };

describe("refusals say what is wrong", () => {
  it("merging sets or estimators of different Sampling", () => {
    const other = { ...SAMPLING, batchSize: 16 };
    expect(() => new MeasureSet(SAMPLING).merge(new MeasureSet(other))).toThrow("MeasureSet.merge: the two sets were built for different Sampling");
    // An estimator checks on its own too (not only through MeasureSet).
    expect(() => new RegretEstimator(SAMPLING).merge(new RegretEstimator(other))).toThrow("cannot merge regret estimators of different Sampling");
    expect(() => new RegretEstimator(SAMPLING).merge(new RegretEstimator({ ...SAMPLING, datasetSize: 999 }))).toThrow(RangeError);
    expect(() => new RegretEstimator(SAMPLING).merge(new RegretEstimator({ ...SAMPLING, pairing: "disjoint" }))).toThrow(RangeError);
    expect(() => new RegretEstimator(SAMPLING).merge(new RegretSymEstimator(SAMPLING))).toThrow("cannot merge estimator regret_sym into regret");
  });

  it("a negative norm, naming which", () => {
    const set = new MeasureSet(SAMPLING);
    expect(() => set.add({ a: -1, b: 1, c: 0 })).toThrow("PairSample.a is a norm and must be ≥ 0, got -1");
    expect(() => set.add({ a: 1, b: -2, c: 0 })).toThrow("PairSample.b is a norm and must be ≥ 0, got -2");
  });

  it("a dataset of no examples", () => {
    expect(() => validateSampling({ ...SAMPLING, datasetSize: 0 })).toThrow("Sampling.datasetSize must be an integer ≥ 1, got 0");
    expect(() => validateSampling({ ...SAMPLING, datasetSize: -5 })).toThrow("Sampling.datasetSize must be an integer ≥ 1, got -5");
  });

  it("Moments of no components, and vectors of the wrong length", () => {
    expect(() => new Moments(0)).toThrow("Moments.dim must be a positive integer, got 0");
    expect(() => new Moments(1.5)).toThrow("Moments.dim must be a positive integer, got 1.5");
    expect(() => new Moments(-1)).toThrow(RangeError);
    expect(() => new Moments(2).add([1])).toThrow("Moments.add expects 2 values, got 1");
    expect(() => new Moments(2).merge(new Moments(3))).toThrow("Moments.merge: dim 3 does not match 2");
  });
});

describe("moments of one and two samples", () => {
  it("no sample or one: covariances 0; two: the exact sample covariance and that of the mean", () => {
    const m = new Moments(2);
    expect([m.n, m.covariance(0, 0), m.meanCovariance(0, 0), m.meanCovariance(0, 1)]).toEqual([0, 0, 0, 0]);
    m.add([1, 10]);
    expect([m.covariance(0, 0), m.covariance(0, 1), m.meanCovariance(1, 1)]).toEqual([0, 0, 0]);
    m.add([3, 4]);
    // x = (1, 3), y = (10, 4): var x = 2, cov = −6, var y = 18; of the means, / 2.
    expect([m.covariance(0, 0), m.covariance(0, 1), m.covariance(1, 1)]).toEqual([2, -6, 18]);
    expect([m.meanCovariance(0, 0), m.meanCovariance(0, 1), m.meanCovariance(1, 1)]).toEqual([1, -3, 9]);
  });
});

describe("ratio machinery at its boundaries", () => {
  it("Fieller's interval: none when the denominator sits exactly on its t bound", () => {
    // qa = mG² − t² vGG = 4 − 4·1 = 0: unbounded, not a division by zero.
    expect(fiellerInterval(1, 2, 0.1, 0, 1, 2)).toBeNull();
    expect(fiellerInterval(1, 2, 0.1, 0, 0.999, 2)).not.toBeNull();
  });

  it("Fieller's interval of a numerator exactly 0 with no variance is [0, 0]", () => {
    expect(fiellerInterval(0, 2, 0, 0, 1, 1)).toEqual([0, 0]);
  });

  it("Fieller's interval comes out ordered, for a negative and a positive ratio alike", () => {
    for (const [mT, mG] of [
      [3, 2],
      [-3, 2],
      [3, -2],
    ] as const) {
      const ci = fiellerInterval(mT, mG, 0.04, 0.01, 0.01, 2)!;
      expect(ci[0]).toBeLessThan(mT / mG);
      expect(ci[1]).toBeGreaterThan(mT / mG);
    }
  });

  it("a denominator exactly on its bound is not resolved; any non-finite input is an overflow", () => {
    expect(unresolvedDenominator(2, 1, 2)).toBe("‖ḡ‖² = 2.0e+0 ± 2.0e+0 (95% CI) is not resolved from zero");
    expect(unresolvedDenominator(2.001, 1, 2)).toBeNull();
    for (const [mean, se] of [
      [1, Infinity],
      [Infinity, 1],
      [Number.NaN, 0],
    ]) {
      expect(unresolvedDenominator(mean!, se!, 2)).toMatch(/overflowed float64/);
    }
  });
});
