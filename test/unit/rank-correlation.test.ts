// Rank correlations and the granulated τ: against SciPy's documented values, against a
// brute-force enumeration of the permutation distribution, and on sweeps built so the
// answer is known.
import { describe, expect, it } from "vitest";
import { granulatedKendall } from "../../src/coordinator/experiment/granulated.js";
import { EXACT_MAX_N, kendall, kendallTauB, ranks, spearman, spearmanRho } from "../../src/coordinator/experiment/rank-correlation.js";

/** Every ordering of v, by plain recursion (not the library's Heap's algorithm). */
function orderings(v: number[]): number[][] {
  if (v.length <= 1) return [v];
  return v.flatMap((x, i) => orderings([...v.slice(0, i), ...v.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** τ by its definition with ties: Σ sign·sign / √((pairs − ties x)(pairs − ties y)). */
function tauByDefinition(x: number[], y: number[]): number | null {
  let num = 0;
  let px = 0;
  let py = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < x.length; j++) {
      if (i === j) continue;
      const sx = Math.sign(x[i]! - x[j]!);
      const sy = Math.sign(y[i]! - y[j]!);
      num += sx * sy;
      px += sx * sx;
      py += sy * sy;
    }
  }
  return px > 0 && py > 0 ? num / Math.sqrt(px * py) : null;
}

describe("kendallTauB and spearmanRho", () => {
  it("SciPy's documented examples (scipy.stats.kendalltau, spearmanr)", () => {
    expect(kendallTauB([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])).toBeCloseTo(-0.47140452079103173, 14);
    expect(spearmanRho([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 14);
  });

  it("τ-b equals its definition on random data with ties", () => {
    let s = 12345;
    const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s % 5);
    for (let r = 0; r < 50; r++) {
      const x = Array.from({ length: 9 }, next);
      const y = Array.from({ length: 9 }, next);
      const want = tauByDefinition(x, y);
      const got = kendallTauB(x, y);
      if (want === null) expect(got).toBeNull();
      else expect(got).toBeCloseTo(want, 12);
    }
  });

  it("average ranks for ties; constant input has no correlation", () => {
    expect(ranks([10, 20, 10, 30])).toEqual([1.5, 3, 1.5, 4]);
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeNull();
    expect(spearmanRho([1, 2, 3], [4, 4, 4])).toBeNull();
    expect(() => kendallTauB([1, 2], [1])).toThrow(/2 indicator values but 1 gaps/);
    expect(() => spearmanRho([1, Number.NaN], [1, 2])).toThrow(/finite/);
  });
});

describe("permutation p-values", () => {
  it("exact: equal to the share of all n! orderings at least as extreme (brute force)", () => {
    const x = [0.3, 1.2, 0.7, 2.5, 1.9, 0.1];
    const y = [0.2, 0.9, 1.1, 2.0, 1.4, 0.5];
    for (const [test, stat] of [
      [kendall, kendallTauB],
      [spearman, spearmanRho],
    ] as const) {
      const r = test(x, y);
      const obs = Math.abs(stat(x, y)!);
      const all = orderings(y);
      const want = all.filter((p) => Math.abs(stat(x, p)!) >= obs - 1e-12).length / all.length;
      expect(r.p_method).toBe("exact");
      expect(r.p_value).toBeCloseTo(want, 12);
    }
  });

  it("honest at small n: a perfect ranking of 4 runs is not distinguishable from chance", () => {
    const r = kendall([1, 2, 3, 4], [10, 20, 30, 40]);
    expect(r.value).toBe(1);
    expect(r.p_value).toBeCloseTo(2 / 24, 12);
    expect(r.significant).toBe(false);
    const five = kendall([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]);
    expect(five.p_value).toBeCloseTo(2 / 120, 12);
    expect(five.significant).toBe(true);
  });

  it(`monte-carlo above ${EXACT_MAX_N} runs: seeded; a perfect ranking gets about the smallest p it can, (0 + 1)/(m + 1)`, () => {
    const n = 12;
    const x = Array.from({ length: n }, (_, i) => i);
    const perfect = kendall(x, x);
    expect(perfect.p_method).toBe("monte-carlo");
    expect(perfect.p_value).toBeLessThan(1e-3); // exact: 2/12! ≈ 4e-9; the estimate is (k + 1)/(m + 1)
    // Independent-looking data: p well away from 0, the same for the same seed.
    const y = [5, 2, 9, 0, 7, 3, 11, 1, 8, 6, 4, 10];
    const a = spearman(x, y, 7);
    expect(a.p_value).toBe(spearman(x, y, 7).p_value);
    expect(a.p_value!).toBeGreaterThan(0.05);
  });
});

describe("granulatedKendall", () => {
  it("ψ per hyperparameter: +1 where the indicator follows the gap, −1 where it runs against it", () => {
    // Within each learning rate, a larger batch has a larger gap and a larger indicator;
    // within each batch size, a larger learning rate has a larger gap but a smaller indicator.
    const runs = [
      { hyper: { lr: 0.1, batch: 32 }, gap: 0.1, indicator: 2 },
      { hyper: { lr: 0.1, batch: 2048 }, gap: 0.3, indicator: 3 },
      { hyper: { lr: 0.5, batch: 32 }, gap: 0.2, indicator: 1 },
      { hyper: { lr: 0.5, batch: 2048 }, gap: 0.4, indicator: 2.5 },
    ];
    const g = granulatedKendall(runs);
    expect(g.per_hyperparameter.batch).toEqual({ psi: 1, groups: 2, groups_skipped: 0 });
    expect(g.per_hyperparameter.lr).toEqual({ psi: -1, groups: 2, groups_skipped: 0 });
    expect(g.psi).toBe(0);
    // τ over all four runs sees only the shared trend.
    expect(kendallTauB(runs.map((r) => r.indicator), runs.map((r) => r.gap))).toBeCloseTo(1 / 3, 12);
  });

  it("groups of one run are skipped and counted; mismatched hyperparameters are refused", () => {
    const g = granulatedKendall([
      { hyper: { seed: 1, batch: 32 }, gap: 0.1, indicator: 1 },
      { hyper: { seed: 2, batch: 32 }, gap: 0.2, indicator: 2 },
      { hyper: { seed: 3, batch: 64 }, gap: 0.3, indicator: 3 },
    ]);
    expect(g.per_hyperparameter.seed).toEqual({ psi: 1, groups: 1, groups_skipped: 1 });
    expect(g.per_hyperparameter.batch).toEqual({ psi: null, groups: 0, groups_skipped: 3 });
    expect(g.psi).toBe(1);
    expect(() => granulatedKendall([{ hyper: { a: 1 }, gap: 0, indicator: 0 }, { hyper: { b: 1 }, gap: 0, indicator: 0 }])).toThrow(/hyperparameters/);
  });
});
