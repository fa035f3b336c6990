// Distribution-free quantile intervals and gradient confusion: the binomial sums against
// brute force, the ranks' coverage computed exactly, the intervals' coverage by simulation
// on a known distribution, and η and the quantiles against all pairs enumerated.
import { describe, expect, it } from "vitest";
import { binomialCdf, quantileRanks, quantiles } from "../../src/coordinator/estimators/order-statistics.js";
import { CONFUSION_QUANTILES, gradientConfusion } from "../../src/coordinator/estimators/gradient-confusion.js";
import { Rng } from "../../src/util/rng.js";

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

function cdfByHand(k: number, n: number, p: number): number {
  let s = 0;
  for (let i = 0; i <= k; i++) s += choose(n, i) * p ** i * (1 - p) ** (n - i);
  return s;
}

describe("binomialCdf", () => {
  it("equals the sum of C(n, i) pⁱ (1−p)ⁿ⁻ⁱ", () => {
    for (const n of [1, 5, 20, 60]) {
      for (const p of [0.01, 0.3, 0.5, 0.95]) {
        for (let k = -1; k <= n; k++) expect(binomialCdf(k, n, p), `n ${n} p ${p} k ${k}`).toBeCloseTo(Math.max(0, cdfByHand(k, n, p)), 12);
      }
    }
  });
});

describe("quantileRanks", () => {
  it("each tail at most 2.5%, and neither rank can move inward without breaking that", () => {
    for (const n of [100, 251, 1000]) {
      for (const q of [0.05, 0.25, 0.5, 0.9]) {
        const r = quantileRanks(n, q);
        expect(r, `n ${n} q ${q}`).not.toBeNull();
        const [l, u] = r!;
        const below = binomialCdf(l - 1, n, q); // P(K < l)
        const above = 1 - binomialCdf(u - 1, n, q); // P(K ≥ u)
        expect(below).toBeLessThanOrEqual(0.025);
        expect(above).toBeLessThanOrEqual(0.025 + 1e-12);
        expect(binomialCdf(l, n, q)).toBeGreaterThan(0.025); // l + 1 would break the lower tail
        expect(1 - binomialCdf(u - 2, n, q)).toBeGreaterThan(0.025); // u − 1 would break the upper tail
        expect(1 - below - above).toBeGreaterThanOrEqual(0.95 - 1e-12);
      }
    }
  });

  it("null where n is too small for a 95% interval of that quantile", () => {
    // x(1) ≤ ξ(0.05) with probability 1 − 0.95ⁿ: at n = 50 that is 0.92, too little.
    expect(quantileRanks(50, 0.05)).toBeNull();
    expect(quantileRanks(5, 0.5)).toBeNull(); // 2 · 0.5⁵ = 6.25% > 5%
    expect(quantileRanks(6, 0.5)).toEqual([1, 6]); // 2 · 0.5⁶ = 3.1%
    expect(quantileRanks(10, 0)).toBeNull();
    expect(() => quantileRanks(0, 0.5)).toThrow(/positive integer/);
  });
});

describe("quantiles", () => {
  it("cover the true quantiles of Uniform(0, 1) at least 95% of the time", () => {
    const rng = new Rng(2020, 7);
    const reps = 2000;
    const n = 200;
    const qs = [0.05, 0.5, 0.95];
    const hits = qs.map(() => 0);
    for (let r = 0; r < reps; r++) {
      const xs = Array.from({ length: n }, () => rng.nextFloat());
      quantiles(xs, qs).forEach((e, i) => {
        if (e.ci95![0] <= qs[i]! && qs[i]! <= e.ci95![1]) hits[i]!++;
      });
    }
    // Exact coverage ≥ 95% (discreteness makes it more); sd of the rate ≈ 0.0049.
    for (const h of hits) expect(h / reps).toBeGreaterThan(0.95 - 3 * 0.0049);
  });

  it("the point value is x(⌈nq⌉); the input is left as it was; bad input is refused", () => {
    const xs = [5, 1, 4, 2, 3];
    const r = quantiles(xs, [0, 0.2, 0.5, 1]);
    expect(r.map((e) => e.value)).toEqual([1, 1, 3, 5]);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(() => quantiles([], [0.5])).toThrow(/no values/);
    expect(() => quantiles([1, Number.NaN], [0.5])).toThrow(/finite/);
    expect(() => quantiles([1], [1.5])).toThrow(/\[0, 1\]/);
  });
});

describe("gradientConfusion", () => {
  it("η, the negative share and the quantiles of all pairs of a small set of gradients", () => {
    const g = [
      [1, 0.5],
      [-0.8, 0.2],
      [0.3, -1.1],
      [0.9, 0.9],
      [-0.2, -0.4],
    ];
    const samples = [];
    const dots: number[] = [];
    for (let i = 0; i < g.length; i++) {
      for (let j = 0; j < g.length; j++) {
        if (i === j) continue;
        const [x, y] = [g[i]!, g[j]!];
        const c = x[0]! * y[0]! + x[1]! * y[1]!;
        dots.push(c);
        samples.push({ a: Math.hypot(x[0]!, x[1]!), b: Math.hypot(y[0]!, y[1]!), c });
      }
    }
    const r = gradientConfusion(samples);
    const min = Math.min(...dots);
    expect(r.min_dot).toBe(min);
    expect(r.eta).toBe(Math.max(0, -min));
    expect(r.negative_share).toBe(dots.filter((d) => d < 0).length / dots.length);
    expect(r.n).toBe(20);
    expect(r.dot_quantiles.map((e) => e.q)).toEqual([...CONFUSION_QUANTILES]);
    const sorted = [...dots].sort((a, b) => a - b);
    expect(r.dot_quantiles[0]!.value).toBe(sorted[0]);
    expect(r.dot_quantiles.at(-1)!.value).toBe(sorted[19]);
    expect(r.dot_quantiles.find((e) => e.q === 0.5)!.value).toBe(sorted[9]);
    expect(r.cos_quantiles[0]!.value).toBeGreaterThanOrEqual(-1 - 1e-12);
  });

  it("η is 0 when every pair agrees", () => {
    const r = gradientConfusion([
      { a: 1, b: 1, c: 0.5 },
      { a: 2, b: 1, c: 1 },
    ]);
    expect(r.eta).toBe(0);
    expect(r.negative_share).toBe(0);
  });
});
