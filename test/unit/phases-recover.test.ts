// A resumed run's phases take back what the journal holds: each unit once (a unit
// journaled twice, as after a crash between journaling and the ack, counts once and the
// first line wins), the minibatches from the plan, and a corrupted line (a wrong type, a
// missing field, a number that is not finite, an id outside the plan) stops the resume
// with a JournalLineError naming the file, the line and the field.

import { describe, expect, it } from "vitest";
import { JournalLineError, type JournalLine } from "../../src/coordinator/journal.js";
import { PairRecords } from "../../src/coordinator/pair-records.js";
import { recoverCurvature, recoverLandscape, recoverPairs } from "../../src/coordinator/phases/recover.js";
import { planPair, type PairPlan } from "../../src/coordinator/sampler.js";
import type { CurvatureItem, PairStats } from "../../src/protocol/index.js";

const FILE = "out/journal/records.jsonl";
const plan: PairPlan = { seed: 7, count: 5, datasetSize: 50, batchSize: 4, pairing: "independent" };
const TENSORS = ["dense/kernel", "dense/bias"];

function pair(id: number, dot = 0.5): PairStats {
  return { id, loss: [1, 2], norm: [3, 4], dot, tensorNorm: [[1, 2], [2, 3]], tensorDot: [0.25, 0.25], metrics: [] };
}

/** Journal lines as a resume reads them: JSON round trip, numbered from 1. */
function lines(...data: unknown[]): JournalLine[] {
  return data.map((d, i) => ({ file: FILE, line: i + 1, data: JSON.parse(JSON.stringify(d)) as unknown }));
}

function errorOf(f: () => unknown): JournalLineError {
  try {
    f();
  } catch (err) {
    if (err instanceof JournalLineError) return err;
    throw err;
  }
  throw new Error("expected a JournalLineError");
}

describe("recoverPairs", () => {
  it("takes each pair once (the first line's), with the plan's minibatches, and returns the rest to do", () => {
    const records = new PairRecords(plan.count);
    const todo = recoverPairs(
      lines({ tensors: TENSORS, pairs: [pair(0), pair(3)] }, { tensors: TENSORS, pairs: [pair(3, 0.75), pair(1)] }, { tensors: TENSORS, pairs: [pair(0, 0.125)] }),
      plan,
      records,
    );
    expect(todo).toEqual([2, 4]);
    expect(records.size).toBe(3);
    expect(records.tensors).toEqual(TENSORS);
    for (const id of todo) records.set({ ...pair(id, -1), batches: [[0], [1]] });
    const all = records.all();
    expect(all.map((r) => r.dot)).toEqual([0.5, 0.5, -1, 0.5, -1]);
    for (const id of [0, 1, 3]) expect(all[id]).toEqual({ ...pair(id), batches: planPair(plan, id) });
  });

  it("nothing journaled: every pair to do", () => {
    const records = new PairRecords(plan.count);
    expect(recoverPairs([], plan, records)).toEqual([0, 1, 2, 3, 4]);
    expect(records.tensors).toBeNull();
  });
});

describe("recoverLandscape", () => {
  it("takes each point once, the first line's value", () => {
    const values = new Map<number, { loss: number; accuracy: number }>();
    recoverLandscape(
      lines(
        [
          { id: 0, loss: 1.5, accuracy: 0.5 },
          { id: 2, loss: 2.5, accuracy: 0.25 },
        ],
        [{ id: 2, loss: 9, accuracy: 1 }],
      ),
      new Set([0, 1, 2]),
      values,
    );
    expect([...values.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [0, { loss: 1.5, accuracy: 0.5 }],
      [2, { loss: 2.5, accuracy: 0.25 }],
    ]);
  });
});

function item(id: number, lambda = 2): CurvatureItem {
  return { id, lambda, iterations: 10, converged: true, trace: 5, traceStderr: 0.5, products: 20, kinked: 0 };
}

describe("recoverCurvature", () => {
  it("takes each item once, the first line's", () => {
    const results = new Map<number, CurvatureItem>();
    recoverCurvature(lines([item(1)], [item(1, 99)], [item(0)]), new Set([0, 1, 2]), results);
    expect(results.get(1)).toEqual(item(1));
    expect(results.get(0)).toEqual(item(0));
    expect(results.size).toBe(2);
  });
});

describe("a corrupted journal line stops the resume, naming the file, the line and the field", () => {
  const good = { tensors: TENSORS, pairs: [pair(0)] };
  const withPair = (patch: Record<string, unknown>) => ({ tensors: TENSORS, pairs: [{ ...pair(1), ...patch }] });
  it.each([
    ["a number that is a string", withPair({ dot: "0.5" }), "data.pairs[0].dot", /expected a finite number, got the string "0.5"/],
    ["NaN (JSON writes it as null)", withPair({ loss: [1, NaN] }), "data.pairs[0].loss[1]", /expected a finite number, got null/],
    ["a missing field", { tensors: TENSORS, pairs: [{ ...pair(1), tensorDot: undefined }] }, "data.pairs[0].tensorDot", /missing/],
    ["an unknown field", withPair({ extra: 1 }), "data.pairs[0].extra", /unknown key/],
    ["a negative norm", withPair({ norm: [-1, 4] }), "data.pairs[0].norm[0]", /≥ 0/],
    ["a per-tensor array of the wrong length", withPair({ tensorDot: [0.25] }), "data.pairs[0].tensorDot", /has 1 values, tensors names 2/],
    ["a fractional pair id", withPair({ id: 1.5 }), "data.pairs[0].id", /integer/],
    ["a pair id outside the plan", withPair({ id: 5 }), "data.pairs[0].id", /pair 5 is outside the plan of 5 pairs/],
    ["no pairs", { tensors: TENSORS, pairs: [] }, "data.pairs", /expected 1 to/],
    ["tensors other than the earlier lines'", { tensors: ["dense/kernel", "other"], pairs: [pair(1)] }, "data.tensors", /differ from earlier lines'/],
    ["a line of journal version 2 (tensors named layers)", { layers: TENSORS, pairs: [pair(1)] }, "data.layers", /unknown key/],
    [
      "more tensors than the earlier lines'",
      { tensors: [...TENSORS, "out/kernel"], pairs: [{ ...pair(1), tensorNorm: [[1, 2, 3], [2, 3, 4]], tensorDot: [0.25, 0.25, 0] }] },
      "data.tensors",
      /\[dense\/kernel,dense\/bias,out\/kernel\] differ from earlier lines' \[dense\/kernel,dense\/bias\]/,
    ],
    ["not an object", [pair(1)], "data", /expected an object, got an array of 1/],
  ])("pairs: %s", (_what, bad, field, message) => {
    const err = errorOf(() => recoverPairs(lines(good, bad, good), plan, new PairRecords(plan.count)));
    expect(err).toMatchObject({ file: FILE, line: 2, field });
    expect(err.message).toMatch(message);
    expect(err.message.startsWith(`${FILE}, line 2: ${field}: `)).toBe(true);
  });

  it.each([
    ["an accuracy above 1", [{ id: 0, loss: 1, accuracy: 1.5 }], "data[0].accuracy", /in \[0, 1\]/],
    ["a loss that is null (NaN)", [{ id: 0, loss: null, accuracy: 0.5 }], "data[0].loss", /finite number, got null/],
    ["a missing id", [{ loss: 1, accuracy: 0.5 }], "data[0].id", /missing/],
    ["a point outside the grid", [{ id: 3, loss: 1, accuracy: 0.5 }], "data[0].id", /point 3 is not a point of the grid/],
    ["an object, not a list of points", { id: 0, loss: 1, accuracy: 0.5 }, "data", /expected an array/],
  ])("landscape: %s", (_what, bad, field, message) => {
    const err = errorOf(() => recoverLandscape(lines([{ id: 1, loss: 1, accuracy: 1 }], bad), new Set([0, 1, 2]), new Map()));
    expect(err).toMatchObject({ file: FILE, line: 2, field });
    expect(err.message).toMatch(message);
  });

  it.each([
    ["converged not a boolean", [{ ...item(0), converged: 1 }], "data[0].converged", /expected a boolean/],
    ["a negative standard error", [{ ...item(0), traceStderr: -1 }], "data[0].traceStderr", /≥ 0/],
    ["lambda infinite (null in JSON)", [{ ...item(0), lambda: Infinity }], "data[0].lambda", /finite number, got null/],
    ["an item the phase did not plan", [item(7)], "data[0].id", /item 7 is not one the phase planned/],
  ])("curvature: %s", (_what, bad, field, message) => {
    const err = errorOf(() => recoverCurvature(lines([item(1)], bad), new Set([0, 1, 2]), new Map()));
    expect(err).toMatchObject({ file: FILE, line: 2, field });
    expect(err.message).toMatch(message);
  });
});
