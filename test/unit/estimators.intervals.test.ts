// The intervals and standard errors of real estimates against closed forms computed here,
// by hand, from the per-pair samples: the Student t multiplier of small n (from the
// printed table, not from the code's quantile), the delta-method standard error of
// noise_scale = mean T / mean G with its T–G covariance term, and Fieller's interval as
// the roots of the textbook quadratic. Coverage tests elsewhere check these only loosely.
import { describe, expect, it } from "vitest";
import { MeasureSet, type PairSample, type Sampling } from "../../src/coordinator/estimators/index.js";

/** t_{0.975, df}: two-sided 95% Student t values (scipy.stats.t.ppf(0.975, df)). */
const T975: Record<number, number> = { 2: 4.302652729749464, 3: 3.182446305284263, 4: 2.7764451051977987 };

const sampling: Sampling = { datasetSize: 100, batchSize: 10, pairing: "independent" };
/** Independent pairing (docs/measures.md): G_i = c_i, T_i = B(N − 1)/(N − B) · ((a² + b²)/2 − c_i). */
const K = (10 * 99) / 90;
const gOf = (p: PairSample): number => p.c;
const tOf = (p: PairSample): number => K * ((p.a * p.a + p.b * p.b) / 2 - p.c);

const PAIRS: PairSample[] = [
  { a: 4.0, b: 4.0, c: 9.0 },
  { a: 4.2, b: 3.9, c: 10.5 },
  { a: 3.8, b: 4.1, c: 11.0 },
  { a: 4.1, b: 4.3, c: 12.5 },
  { a: 4.4, b: 4.0, c: 10.0 },
];

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
/** Covariance of the sample means: Σ (x − x̄)(y − ȳ) / ((n − 1) n). */
function meanCov(xs: number[], ys: number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  return xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / ((xs.length - 1) * xs.length);
}

function results(pairs: PairSample[]) {
  const set = new MeasureSet(sampling);
  for (const p of pairs) set.add(p);
  return set.results();
}

function expectClose(got: number | null | undefined, want: number): void {
  expect(got).not.toBeNull();
  expect(Math.abs(got! - want)).toBeLessThanOrEqual(1e-9 * Math.abs(want));
}

describe("intervals of estimates with few pairs", () => {
  it.each([3, 4, 5])("a mean's ci95 with n = %i is mean ± t_{0.975, n−1} · s/√n", (n) => {
    const pairs = PAIRS.slice(0, n);
    const g = pairs.map(gOf);
    const se = Math.sqrt(meanCov(g, g));
    const r = results(pairs).mean_grad_sq_norm;
    expectClose(r.mean, mean(g));
    expectClose(r.stderr, se);
    expectClose(r.ci95![0], mean(g) - T975[n - 1]! * se);
    expectClose(r.ci95![1], mean(g) + T975[n - 1]! * se);
  });

  it("noise_scale's standard error is the delta method's with the T–G covariance", () => {
    const T = PAIRS.map(tOf);
    const G = PAIRS.map(gOf);
    const mT = mean(T);
    const mG = mean(G);
    const ratio = mT / mG;
    // Var(mT/mG) ≈ (vTT − 2ρ vTG + ρ² vGG) / mG²; here T and G are strongly anticorrelated,
    // so the covariance term is most of it.
    const vTT = meanCov(T, T);
    const vTG = meanCov(T, G);
    const vGG = meanCov(G, G);
    const se = Math.sqrt(vTT - 2 * ratio * vTG + ratio * ratio * vGG) / Math.abs(mG);
    const withoutCov = Math.sqrt(vTT + ratio * ratio * vGG) / Math.abs(mG);
    expect(Math.abs(se - withoutCov) / se).toBeGreaterThan(0.1);
    const r = results(PAIRS).noise_scale;
    expectClose(r.mean, ratio);
    expectClose(r.stderr, se);
  });

  it("noise_scale's ci95 is Fieller's: the roots of (mT − ρ mG)² = t² (vTT − 2ρ vTG + ρ² vGG)", () => {
    const T = PAIRS.map(tOf);
    const G = PAIRS.map(gOf);
    const mT = mean(T);
    const mG = mean(G);
    const t2 = T975[4]! ** 2;
    const vTT = meanCov(T, T);
    const vTG = meanCov(T, G);
    const vGG = meanCov(G, G);
    // (mG² − t² vGG) ρ² − 2 (mT mG − t² vTG) ρ + (mT² − t² vTT) = 0
    const qa = mG * mG - t2 * vGG;
    const qb = -2 * (mT * mG - t2 * vTG);
    const qc = mT * mT - t2 * vTT;
    expect(qa).toBeGreaterThan(0);
    const disc = Math.sqrt(qb * qb - 4 * qa * qc);
    const lo = (-qb - disc) / (2 * qa);
    const hi = (-qb + disc) / (2 * qa);
    const r = results(PAIRS).noise_scale;
    expect(r.resolved).toBe(true);
    expectClose(r.ci95![0], lo);
    expectClose(r.ci95![1], hi);
    // Fieller's interval is not symmetric around the ratio (the delta method's would be).
    expect(Math.abs(hi - r.mean! - (r.mean! - lo))).toBeGreaterThan(1e-3 * (hi - lo));
  });
});
