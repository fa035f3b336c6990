// The coordinator's reduction of chunked gradient vectors: sums per tensor from chunks in
// offset order, completeness at commit, and the cross-check of the worker's statistics.

import { describe, expect, it } from "vitest";
import { VectorReducer } from "../../src/coordinator/vector-reducer.js";
import { createMessage, float32Bytes, type PairStats, type TaskChunkMessage, type TaskResultMessage } from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";

/** The trainable weight tensors, as workers report them. */
const TENSORS = ["dense_1/kernel", "dense_1/bias"];
const SIZES = [10, 3];

function vectors(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return SIZES.map((n) => Float32Array.from({ length: n }, () => rng.nextNormal()));
}

function chunks(pair: number, g1: Float32Array[], g2: Float32Array[], per: number): TaskChunkMessage[] {
  const out: TaskChunkMessage[] = [];
  g1.forEach((a, tensor) => {
    for (let o = 0; o < a.length; o += per) {
      out.push(
        createMessage("task.chunk", {
          runId: "r",
          taskId: "t0",
          leaseId: "t0.1",
          workerId: "w",
          pair,
          tensor,
          offset: o,
          g1: float32Bytes(a.subarray(o, o + per)),
          g2: float32Bytes(g2[tensor]!.subarray(o, o + per)),
        }),
      );
    }
  });
  return out;
}

/** The statistics in float64, weight by weight, as a worker computes them. */
function statsOf(pair: number, g1: Float32Array[], g2: Float32Array[]): PairStats {
  const sq = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const n1 = g1.map((a) => sq(a, a));
  const n2 = g2.map((b) => sq(b, b));
  const d = g1.map((a, l) => sq(a, g2[l]!));
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  return { id: pair, loss: [1, 2], norm: [Math.sqrt(sum(n1)), Math.sqrt(sum(n2))], dot: sum(d), tensorNorm: [n1.map(Math.sqrt), n2.map(Math.sqrt)], tensorDot: d, metrics: [] };
}

function result(pairs: PairStats[]): TaskResultMessage {
  return createMessage("task.result", { runId: "r", taskId: "t0", leaseId: "t0.1", workerId: "w", computeMs: 1, tensors: TENSORS, tensorSizes: SIZES, pairs });
}

describe("VectorReducer", () => {
  const g1 = vectors(1);
  const g2 = vectors(2);

  it("reduces chunks of any size to the statistics of the whole vectors", () => {
    for (const per of [1, 3, 4, 10]) {
      const r = new VectorReducer();
      for (const c of chunks(0, g1, g2, per)) expect(r.add(c, [0])).toBeNull();
      const stats = r.commit(result([statsOf(0, g1, g2)]));
      expect(typeof stats).not.toBe("string");
      const [mine] = stats as PairStats[];
      const want = statsOf(0, g1, g2);
      expect(mine!.norm[0]).toBeCloseTo(want.norm[0], 12);
      expect(mine!.dot).toBeCloseTo(want.dot, 12);
      expect(r.openLeases).toBe(0);
    }
  });

  it("passes the worker's statistics in metrics through with the pair", () => {
    const r = new VectorReducer();
    for (const c of chunks(0, g1, g2, 4)) r.add(c, [0]);
    const claimed = statsOf(0, g1, g2);
    claimed.metrics = [{ norm: [2, 3], dot: -1, tensorNorm: [[1, 1], [2, 1]], tensorDot: [-0.5, -0.5] }];
    const stats = r.commit(result([claimed]));
    expect(typeof stats).not.toBe("string");
    expect((stats as PairStats[])[0]!.metrics).toEqual(claimed.metrics);
  });

  it("refuses a chunk out of order, or of a pair not in the task", () => {
    const r = new VectorReducer();
    const cs = chunks(0, g1, g2, 4);
    expect(r.add(cs[1]!, [0])).toMatch(/offset 4, expected 0/);
    expect(r.add(cs[0]!, [7])).toMatch(/pair 0 is not in task/);
  });

  it("refuses a commit with a layer incomplete, or statistics that disagree with the vectors", () => {
    const short = new VectorReducer();
    for (const c of chunks(0, g1, g2, 4).slice(0, -1)) short.add(c, [0]);
    expect(short.commit(result([statsOf(0, g1, g2)]))).toMatch(/tensor dense_1\/bias: 0 of 3 gradient values arrived/);

    const lying = new VectorReducer();
    for (const c of chunks(0, g1, g2, 4)) lying.add(c, [0]);
    const claimed = statsOf(0, g1, g2);
    claimed.dot *= 1 + 1e-6;
    expect(lying.commit(result([claimed]))).toMatch(/disagree with its vectors/);

    const layerLie = new VectorReducer();
    for (const c of chunks(0, g1, g2, 4)) layerLie.add(c, [0]);
    const swapped = statsOf(0, g1, g2);
    swapped.tensorDot = [...swapped.tensorDot].reverse(); // whole-network sums unchanged
    expect(layerLie.commit(result([swapped]))).toMatch(/disagree with its vectors/);
  });

  it("forgets a dropped lease", () => {
    const r = new VectorReducer();
    r.add(chunks(0, g1, g2, 4)[0]!, [0]);
    expect(r.openLeases).toBe(1);
    r.drop("t0.1");
    expect(r.openLeases).toBe(0);
  });
});
