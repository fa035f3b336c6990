// Pair plans from a seed (sampler.ts) and the seeded Rng under them: determinism per pair,
// shape of every batch, pairing rules, plan checks, and loose statistical sanity with
// fixed seeds (so these tests are deterministic, not flaky).
import { describe, expect, it } from "vitest";
import { checkPlan, planPair, type PairPlan } from "../../src/coordinator/sampler.js";
import { Rng } from "../../src/util/rng.js";

function plan(over: Partial<PairPlan> = {}): PairPlan {
  return { seed: 7, count: 10, datasetSize: 1000, batchSize: 16, pairing: "independent", ...over };
}

function pairs(p: PairPlan): [number[], number[]][] {
  checkPlan(p);
  return Array.from({ length: p.count }, (_, i) => planPair(p, i));
}

/** Pearson chi-square of observed counts against equal expectations. */
function chiSquareUniform(counts: readonly number[]): number {
  const total = counts.reduce((s, c) => s + c, 0);
  const e = total / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

/** A loose upper bound for a chi-square with `df` degrees of freedom (mean df, sd √(2df)). */
const chiBound = (df: number): number => df + 6 * Math.sqrt(2 * df);

function expectBatch(batch: readonly number[], b: number, n: number): void {
  if (batch.length !== b) expect.fail(`batch ${JSON.stringify(batch)} has length ${batch.length}, want ${b}`);
  // One assertion per batch (not per element): these run hundreds of thousands of times.
  const bad = batch.filter((v, j) => !Number.isInteger(v) || v < 0 || v >= n || (j > 0 && v <= batch[j - 1]!));
  if (bad.length > 0) expect.fail(`batch ${JSON.stringify(batch)} (N = ${n}) is not ${b} distinct sorted indices in [0, N)`);
}

describe("planPair determinism", () => {
  it("pair i is the same whatever the plan's count", () => {
    for (const pairing of ["independent", "disjoint"] as const) {
      const small = pairs(plan({ count: 10, pairing }));
      const big = pairs(plan({ count: 1000, pairing }));
      for (let i = 0; i < 10; i++) expect(big[i]).toEqual(small[i]);
    }
  });

  it("recomputing a pair alone gives the same batches", () => {
    const p = plan({ count: 500 });
    const all = pairs(p);
    for (const i of [0, 1, 17, 250, 499]) expect(planPair(p, i)).toEqual(all[i]);
    expect(planPair(p, 42)).toEqual(planPair({ ...p }, 42));
  });

  it("different seeds give different pairs", () => {
    const a = pairs(plan({ seed: 1, count: 50 }));
    const b = pairs(plan({ seed: 2, count: 50 }));
    const c = pairs(plan({ seed: 1_000_003, count: 50 }));
    let same = 0;
    for (let i = 0; i < 50; i++) {
      if (JSON.stringify(a[i]) === JSON.stringify(b[i])) same++;
      if (JSON.stringify(a[i]) === JSON.stringify(c[i])) same++;
    }
    expect(same).toBe(0);
  });

  it("different pairs of one plan differ", () => {
    const ps = pairs(plan({ count: 200 })).map((x) => JSON.stringify(x));
    expect(new Set(ps).size).toBe(200);
  });
});

describe("planPair shape", () => {
  it.each([
    { datasetSize: 1000, batchSize: 16, pairing: "independent" as const },
    { datasetSize: 1000, batchSize: 16, pairing: "disjoint" as const },
    { datasetSize: 10, batchSize: 10, pairing: "independent" as const },
    { datasetSize: 10, batchSize: 5, pairing: "disjoint" as const },
    { datasetSize: 1, batchSize: 1, pairing: "independent" as const },
    { datasetSize: 60_000, batchSize: 512, pairing: "disjoint" as const },
  ])("every batch has batchSize distinct sorted indices in [0, N): %o", (over) => {
    const p = plan({ ...over, count: 40 });
    for (const [b1, b2] of pairs(p)) {
      expectBatch(b1, p.batchSize, p.datasetSize);
      expectBatch(b2, p.batchSize, p.datasetSize);
    }
  });

  it("disjoint pairing never overlaps", () => {
    for (const [n, b] of [
      [10, 5],
      [11, 5],
      [40, 7],
      [1000, 100],
    ] as const) {
      for (const [b1, b2] of pairs(plan({ datasetSize: n, batchSize: b, pairing: "disjoint", count: 300 }))) {
        const s = new Set(b1);
        if (b2.some((v) => s.has(v))) expect.fail(`disjoint pair overlaps: ${JSON.stringify([b1, b2])}`);
        if (2 * b === n) expect([...b1, ...b2].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    }
  });

  it("independent pairing overlaps sometimes for small N, at about the expected rate", () => {
    // N = 20, B = 4: P(no overlap) = C(16,4)/C(20,4) = 1820/4845 ≈ 0.376.
    const count = 4000;
    let overlapping = 0;
    for (const [b1, b2] of pairs(plan({ datasetSize: 20, batchSize: 4, count }))) {
      const s = new Set(b1);
      if (b2.some((v) => s.has(v))) overlapping++;
    }
    const expected = 1 - 1820 / 4845;
    expect(overlapping).toBeGreaterThan(0);
    expect(Math.abs(overlapping / count - expected)).toBeLessThan(0.04);
  });
});

describe("checkPlan", () => {
  it("accepts good plans", () => {
    expect(() => checkPlan(plan())).not.toThrow();
    expect(() => checkPlan(plan({ datasetSize: 16, batchSize: 16 }))).not.toThrow();
    expect(() => checkPlan(plan({ datasetSize: 32, batchSize: 16, pairing: "disjoint" }))).not.toThrow();
    expect(() => checkPlan(plan({ seed: Number.MAX_SAFE_INTEGER }))).not.toThrow();
  });

  it("a batch larger than the dataset names pairs.batch_size", () => {
    expect(() => checkPlan(plan({ datasetSize: 10, batchSize: 11 }))).toThrow(RangeError);
    expect(() => checkPlan(plan({ datasetSize: 10, batchSize: 11 }))).toThrow(/pairs\.batch_size 11 .*10 examples/);
  });

  it("disjoint pairing with 2B > N names pairs.batch_size and the disjoint rule", () => {
    expect(() => checkPlan(plan({ datasetSize: 31, batchSize: 16, pairing: "disjoint" }))).toThrow(/pairs\.batch_size 16.*disjoint/);
    // The same plan is fine with independent pairing.
    expect(() => checkPlan(plan({ datasetSize: 31, batchSize: 16, pairing: "independent" }))).not.toThrow();
  });

  it.each([0, -1, 2.5, Number.NaN, Infinity])("a bad count (%s) names pairs.count", (count) => {
    expect(() => checkPlan(plan({ count }))).toThrow(/pairs\.count/);
  });

  it.each([0, -3, 1.5, Number.NaN])("a bad batch size (%s) names pairs.batch_size", (batchSize) => {
    expect(() => checkPlan(plan({ batchSize }))).toThrow(/pairs\.batch_size/);
  });

  it.each([1.5, Number.NaN, 2 ** 60])("a bad seed (%s) names pairs.seed", (seed) => {
    expect(() => checkPlan(plan({ seed }))).toThrow(/pairs\.seed/);
  });
});

describe("sampling statistics (fixed seeds)", () => {
  it.each(["independent", "disjoint"] as const)("each index appears with frequency ≈ B/N (%s)", (pairing) => {
    const n = 50;
    const b = 5;
    const count = 20_000;
    const c1 = new Array<number>(n).fill(0);
    const c2 = new Array<number>(n).fill(0);
    for (const [b1, b2] of pairs(plan({ seed: 99, datasetSize: n, batchSize: b, count, pairing }))) {
      for (const v of b1) c1[v]!++;
      for (const v of b2) c2[v]!++;
    }
    for (const counts of [c1, c2]) {
      // Every index: within 6 binomial standard deviations of count·B/N.
      const p = b / n;
      const sd = Math.sqrt(count * p * (1 - p));
      for (const c of counts) expect(Math.abs(c - count * p)).toBeLessThan(6 * sd);
      expect(chiSquareUniform(counts)).toBeLessThan(chiBound(n - 1));
    }
  });

  it("first batch positions are uniform over all C(N,B) subsets (small exhaustive check)", () => {
    // N = 6, B = 2: 15 subsets.
    const counts = new Map<string, number>();
    const draws = 30_000;
    for (const [b1] of pairs(plan({ seed: 5, datasetSize: 6, batchSize: 2, count: draws }))) {
      const k = b1.join(",");
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(15);
    expect(chiSquareUniform([...counts.values()])).toBeLessThan(chiBound(14));
  });
});

describe("Rng", () => {
  it("is deterministic per (seed, stream), and streams differ", () => {
    const draw = (seed: number, stream?: number): number[] => {
      const r = new Rng(seed, stream);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(3, 4)).toEqual(draw(3, 4));
    expect(draw(3)).toEqual(draw(3, 0));
    expect(draw(3, 4)).not.toEqual(draw(3, 5));
    expect(draw(3, 4)).not.toEqual(draw(4, 4));
    for (const x of draw(11, 2)) {
      expect(Number.isInteger(x)).toBe(true);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(2 ** 32);
    }
  });

  // Regression: the high 32 bits of a seed were once folded in by XOR with the low ones,
  // so Rng(1) ≡ Rng(2^32) and pairs.seed 4294967296 planned the pairs of pairs.seed 1.
  it("seeds above 2^32 do not collide with small seeds", () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 4 }, () => r.nextUint32());
    };
    expect(draw(2 ** 32)).not.toEqual(draw(1));
    expect(draw(2 ** 32 + 1)).not.toEqual(draw(0));
    expect(planPair(plan({ seed: 2 ** 32 }), 0)).not.toEqual(planPair(plan({ seed: 1 }), 0));
  });

  it("rejects non-integer seeds and streams", () => {
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(1, 0.5)).toThrow(RangeError);
  });

  it("nextFloat is in [0, 1) with mean ≈ 1/2", () => {
    const r = new Rng(8);
    let s = 0;
    for (let i = 0; i < 50_000; i++) {
      const x = r.nextFloat();
      if (!(x >= 0 && x < 1)) expect.fail(`nextFloat gave ${x}`);
      s += x;
    }
    expect(Math.abs(s / 50_000 - 0.5)).toBeLessThan(0.01);
  });

  it("nextNormal has mean ≈ 0 and variance ≈ 1", () => {
    const r = new Rng(9);
    const m = 50_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < m; i++) {
      const x = r.nextNormal();
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / m)).toBeLessThan(0.03);
    expect(Math.abs(s2 / m - 1)).toBeLessThan(0.04);
  });

  it("nextInt is uniform on a small bound", () => {
    const r = new Rng(12);
    for (const n of [1, 2, 3, 6, 7, 10]) {
      const counts = new Array<number>(n).fill(0);
      const draws = 6000 * n;
      for (let i = 0; i < draws; i++) {
        const x = r.nextInt(n);
        if (!(Number.isInteger(x) && x >= 0 && x < n)) expect.fail(`nextInt(${n}) gave ${x}`);
        counts[x]!++;
      }
      if (n > 1) expect(chiSquareUniform(counts)).toBeLessThan(chiBound(n - 1));
    }
  });

  it("nextInt has no modulo bias where plain `% n` would have a large one", () => {
    // n = 3·2^30: uint32 % n would give [0, 2^30) with probability 1/2 instead of 1/3.
    const n = 3 * 2 ** 30;
    const r = new Rng(13);
    const draws = 30_000;
    let low = 0;
    for (let i = 0; i < draws; i++) {
      const x = r.nextInt(n);
      if (!(Number.isInteger(x) && x >= 0 && x < n)) expect.fail(`nextInt(${n}) gave ${x}`);
      if (x < 2 ** 30) low++;
    }
    expect(Math.abs(low / draws - 1 / 3)).toBeLessThan(0.02);
  });

  it("nextInt accepts bounds in [1, 2^32] only", () => {
    const r = new Rng(1);
    expect(r.nextInt(2 ** 32)).toBeLessThan(2 ** 32);
    for (const bad of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) expect(() => r.nextInt(bad)).toThrow(RangeError);
  });
});

describe("Rng.sampleWithoutReplacement", () => {
  it("returns k distinct sorted values in [0, n)", () => {
    const r = new Rng(21);
    for (const [n, k] of [
      [10, 0],
      [10, 1],
      [10, 10],
      [100, 37],
      [1_000_000, 5],
    ] as const) {
      expectBatch(r.sampleWithoutReplacement(n, k), k, n);
    }
  });

  it("refuses k larger than what is available", () => {
    const r = new Rng(1);
    expect(() => r.sampleWithoutReplacement(5, 6)).toThrow(RangeError);
    expect(() => r.sampleWithoutReplacement(5, -1)).toThrow(RangeError);
    expect(() => r.sampleWithoutReplacement(5, 1.5)).toThrow(RangeError);
    expect(() => r.sampleWithoutReplacement(5, 4, new Set([0, 1]))).toThrow(/cannot draw 4 distinct values from 3 available/);
    expect(r.sampleWithoutReplacement(5, 3, new Set([0, 1]))).toEqual([2, 3, 4]);
  });

  it("with an exclude set never returns excluded values and is uniform over the rest (exhaustive)", () => {
    // n = 7, exclude {0, 3, 6}: allowed {1, 2, 4, 5}; k = 2 → C(4,2) = 6 subsets.
    const exclude = new Set([0, 3, 6]);
    const r = new Rng(31);
    const counts = new Map<string, number>();
    const draws = 30_000;
    for (let i = 0; i < draws; i++) {
      const s = r.sampleWithoutReplacement(7, 2, exclude);
      expectBatch(s, 2, 7);
      if (s.some((v) => exclude.has(v))) expect.fail(`${JSON.stringify(s)} contains an excluded value`);
      const key = s.join(",");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(["1,2", "1,4", "1,5", "2,4", "2,5", "4,5"]);
    expect(chiSquareUniform([...counts.values()])).toBeLessThan(chiBound(5));
  });

  it("with exclude, single draws are uniform over every allowed value (several exclude shapes)", () => {
    const r = new Rng(32);
    for (const ex of [[0], [9], [0, 1, 2], [7, 8, 9], [1, 3, 5, 7], [0, 2, 4, 6, 8, 9]]) {
      const exclude = new Set(ex);
      const allowed = Array.from({ length: 10 }, (_, i) => i).filter((v) => !exclude.has(v));
      const counts = new Map<number, number>(allowed.map((v) => [v, 0]));
      const draws = 2000 * allowed.length;
      for (let i = 0; i < draws; i++) {
        const [v] = r.sampleWithoutReplacement(10, 1, exclude);
        if (!counts.has(v!)) expect.fail(`drew ${v}, not an allowed value of ${JSON.stringify(allowed)}`);
        counts.set(v!, counts.get(v!)! + 1);
      }
      expect(chiSquareUniform([...counts.values()])).toBeLessThan(chiBound(allowed.length - 1));
    }
  });

  it("taking every allowed value returns exactly the complement of the exclude set", () => {
    const r = new Rng(33);
    const exclude = new Set([2, 5, 6, 11]);
    const rest = Array.from({ length: 12 }, (_, i) => i).filter((v) => !exclude.has(v));
    expect(r.sampleWithoutReplacement(12, rest.length, exclude)).toEqual(rest);
  });
});
