// Pair records → reductions: reducePairs equals MeasureSets fed directly (whole network
// and per group: tensors, or layers summed from them), arrival order does not change a
// bit, a pair is recorded once, and the printed table lists every measure, unresolved
// ones with their reason.
import { describe, expect, it } from "vitest";
import { MEASURE_NAMES, MeasureSet, type Sampling } from "../../src/coordinator/estimators/index.js";
import { PairRecords, type PairRecord } from "../../src/coordinator/pair-records.js";
import { byLayer, byTensor, reducePairs } from "../../src/coordinator/reduce.js";
import { measureTable } from "../../src/coordinator/report/table.js";
import { Rng } from "../../src/util/rng.js";

const TENSORS = ["dense_1/kernel", "dense_1/bias", "dense_2/kernel"];
const SAMPLING: Sampling = { datasetSize: 1000, batchSize: 16, pairing: "independent" };

/**
 * Plausible per-tensor stats: norms > 0, 0.3·ab ≤ dot ≤ 0.9·ab (gradients that agree, so
 * ‖ḡ‖² is resolved from zero and every measure resolves); whole = sum over tensors.
 */
function makeRecords(count: number, seed: number, tensors = TENSORS.length): PairRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, id) => {
    const n1 = Array.from({ length: tensors }, () => 0.1 + 3 * rng.nextFloat());
    const n2 = Array.from({ length: tensors }, () => 0.1 + 3 * rng.nextFloat());
    const dots = n1.map((a, t) => a * n2[t]! * (0.3 + 0.6 * rng.nextFloat()));
    const sq = (xs: number[]): number => Math.sqrt(xs.reduce((s, x) => s + x * x, 0));
    return {
      id,
      loss: [rng.nextFloat(), rng.nextFloat()],
      norm: [sq(n1), sq(n2)],
      dot: dots.reduce((s, x) => s + x, 0),
      tensorNorm: [n1, n2],
      tensorDot: dots,
      metrics: [],
      batches: [rng.sampleWithoutReplacement(1000, 16), rng.sampleWithoutReplacement(1000, 16)],
    };
  });
}

function shuffled<T>(xs: readonly T[], rng: Rng): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("reducePairs", () => {
  it("gives the same numbers as MeasureSets fed directly, whole network and per tensor", () => {
    const records = makeRecords(64, 1);
    const red = reducePairs(records.map(byTensor), TENSORS, SAMPLING);

    const whole = new MeasureSet(SAMPLING);
    for (const r of records) whole.add({ a: r.norm[0], b: r.norm[1], c: r.dot });
    expect(red.measures).toEqual(whole.results());

    expect(Object.keys(red.groups)).toEqual(TENSORS);
    TENSORS.forEach((name, t) => {
      const set = new MeasureSet(SAMPLING);
      for (const r of records) set.add({ a: r.tensorNorm[0][t]!, b: r.tensorNorm[1][t]!, c: r.tensorDot[t]! });
      expect(red.groups[name]).toEqual(set.results());
    });

    expect(Object.keys(red.measures)).toEqual([...MEASURE_NAMES]);
    for (const m of MEASURE_NAMES) {
      expect(red.measures[m].n).toBe(64);
      expect(red.measures[m].resolved).toBe(true);
    }
    // Tensors really differ from the whole network and from each other.
    expect(red.groups[TENSORS[0]!]!.regret.mean).not.toBe(red.measures.regret.mean);
    expect(red.groups[TENSORS[0]!]!.regret.mean).not.toBe(red.groups[TENSORS[1]!]!.regret.mean);
  });

  it("reads a metric's statistics per tensor, and layer sums per layer", () => {
    const [r] = makeRecords(1, 11);
    const metric = { norm: [7, 8] as [number, number], dot: 9, tensorNorm: [[1, 2, 3], [4, 5, 6]] as [number[], number[]], tensorDot: [-1, -2, -3] };
    expect(byTensor(metric)).toEqual({ norm: [7, 8], dot: 9, groupNorm: [[1, 2, 3], [4, 5, 6]], groupDot: [-1, -2, -3] });
    expect(byTensor(r!)).toEqual({ norm: r!.norm, dot: r!.dot, groupNorm: r!.tensorNorm, groupDot: r!.tensorDot });
    expect(byLayer({ norm: [1, 2], dot: 3, layerNorm: [[4], [5]], layerDot: [6] })).toEqual({ norm: [1, 2], dot: 3, groupNorm: [[4], [5]], groupDot: [6] });
  });

  it("works with disjoint sampling and no groups", () => {
    const sampling: Sampling = { datasetSize: 1000, batchSize: 16, pairing: "disjoint" };
    const records = makeRecords(20, 2);
    const red = reducePairs(records.map(byTensor), [], sampling);
    const whole = new MeasureSet(sampling);
    for (const r of records) whole.add({ a: r.norm[0], b: r.norm[1], c: r.dot });
    expect(red.measures).toEqual(whole.results());
    expect(red.groups).toEqual({});
  });

  it("is sensitive to its input (not a constant)", () => {
    const a = reducePairs(makeRecords(30, 3).map(byTensor), TENSORS, SAMPLING);
    const b = reducePairs(makeRecords(30, 4).map(byTensor), TENSORS, SAMPLING);
    expect(a.measures.grad_norm_mean.mean).not.toBe(b.measures.grad_norm_mean.mean);
  });

  it("with no records every measure is unresolved with a reason", () => {
    const red = reducePairs([], TENSORS, SAMPLING);
    for (const m of MEASURE_NAMES) {
      expect(red.measures[m].resolved).toBe(false);
      expect(red.measures[m].n).toBe(0);
      expect(red.measures[m].reason).toBeTruthy();
    }
  });
});

describe("PairRecords", () => {
  it("shuffled arrival, then all() in pair order, gives bit-identical reductions", () => {
    const records = makeRecords(200, 5);
    const inOrder = new PairRecords(200);
    for (const r of records) inOrder.set(r);
    const reference = reducePairs(inOrder.all().map(byTensor), TENSORS, SAMPLING);
    for (const seed of [1, 2, 3, 4, 5]) {
      const recs = new PairRecords(200);
      const order = shuffled(records, new Rng(seed));
      expect(order.map((r) => r.id)).not.toEqual(records.map((r) => r.id));
      for (const r of order) recs.set(r);
      expect(recs.all().map((r) => r.id)).toEqual(records.map((r) => r.id));
      const red = reducePairs(recs.all().map(byTensor), TENSORS, SAMPLING);
      // toStrictEqual uses Object.is on numbers: bit-identical (and -0 ≠ 0).
      expect(red).toStrictEqual(reference);
    }
  });

  it("counts and has() follow set(); all() returns the records in pair order", () => {
    const records = makeRecords(5, 6);
    const recs = new PairRecords(5);
    expect(recs.count).toBe(5);
    expect(recs.size).toBe(0);
    for (const i of [3, 0, 4, 1]) recs.set(records[i]!);
    expect(recs.size).toBe(4);
    expect(recs.has(3)).toBe(true);
    expect(recs.has(2)).toBe(false);
    recs.set(records[2]!);
    expect(recs.size).toBe(5);
    expect(recs.all()).toEqual(records);
  });

  // Regression: `slots` is a sparse array and map() skips holes, so all() once returned a
  // holey array instead of naming the missing pair.
  it("all() throws while a pair is missing", () => {
    const records = makeRecords(5, 6);
    const recs = new PairRecords(5);
    for (const i of [3, 0, 4, 1]) recs.set(records[i]!);
    expect(() => recs.all()).toThrow(/pair 2 has no result/);
  });

  it("all() on records with none set throws", () => {
    expect(() => new PairRecords(3).all()).toThrow(/pair 0 has no result/);
  });

  it("set twice on one pair throws and keeps the first record", () => {
    const [a] = makeRecords(1, 7);
    const [b] = makeRecords(1, 8);
    const recs = new PairRecords(3);
    recs.set(a!);
    expect(() => recs.set(b!)).toThrow(/pair 0 recorded twice/);
    expect(() => recs.set(a!)).toThrow(/recorded twice/);
    expect(recs.size).toBe(1);
    recs.set({ ...b!, id: 1 });
    recs.set({ ...b!, id: 2 });
    expect(recs.all()[0]).toBe(a);
  });

  it("an empty set of records is complete", () => {
    expect(new PairRecords(0).all()).toEqual([]);
  });
});

describe("measureTable", () => {
  function lineFor(table: string, name: string): string {
    const line = table.split("\n").find((l) => l.startsWith(`${name} `) || l === name);
    if (!line) throw new Error(`no line for ${name} in\n${table}`);
    return line;
  }

  it("prints every measure name, with mean, stderr, CI and n when resolved", () => {
    const red = reducePairs(makeRecords(40, 9).map(byTensor), TENSORS, SAMPLING);
    const table = measureTable(red.measures);
    const lines = table.split("\n");
    expect(lines).toHaveLength(1 + MEASURE_NAMES.length);
    expect(lines[0]).toMatch(/^measure\s+mean\s+stderr\s+95% CI\s+n$/);
    for (const m of MEASURE_NAMES) {
      const line = lineFor(table, m);
      expect(line).not.toContain("not resolved");
      expect(line).toMatch(/\[[-\d.e+]+, [-\d.e+]+\]\s+40$/);
    }
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([...MEASURE_NAMES]);
  });

  it("prints 'not resolved' with its reason for an unresolved measure", () => {
    // B = N with independent pairing: tr Σ (and what needs it) cannot be measured.
    const set = new MeasureSet({ datasetSize: 10, batchSize: 10, pairing: "independent" });
    const rng = new Rng(10);
    for (let i = 0; i < 8; i++) {
      const a = 1 + rng.nextFloat();
      const b = 1 + rng.nextFloat();
      set.add({ a, b, c: 0.9 * a * b });
    }
    const measures = set.results();
    const unresolved = MEASURE_NAMES.filter((m) => !measures[m].resolved);
    const resolved = MEASURE_NAMES.filter((m) => measures[m].resolved);
    expect(unresolved.length).toBeGreaterThan(0);
    expect(resolved.length).toBeGreaterThan(0);
    const table = measureTable(measures);
    for (const m of MEASURE_NAMES) expect(table).toContain(m);
    for (const m of unresolved) {
      const line = lineFor(table, m);
      expect(line).toContain("not resolved");
      expect(measures[m].reason).toBeTruthy();
      expect(line).toContain(measures[m].reason!);
      expect(line).toMatch(/\s8\s/);
    }
    for (const m of resolved) expect(lineFor(table, m)).not.toContain("not resolved");
  });

  it("prints every measure even when none is resolved", () => {
    const set = new MeasureSet(SAMPLING);
    set.add({ a: 1, b: 2, c: 0.5 });
    const measures = set.results();
    const table = measureTable(measures);
    for (const m of MEASURE_NAMES) {
      const line = lineFor(table, m);
      expect(line).toContain("not resolved");
      expect(line).toContain(measures[m].reason!);
    }
  });
});
