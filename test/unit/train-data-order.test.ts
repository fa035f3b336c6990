// The training data order: each epoch a permutation, different epochs differ, any batch
// computable alone (a fresh DataOrder asked for epoch 5 first gives what one that went
// through epochs 0..4 gives), partial last batches and dropLast, shuffle off = 0..n−1.

import { describe, expect, it } from "vitest";
import { DataOrder, DataOrderError } from "../../src/train/data-order.js";
import { evalIndices } from "../../src/train/eval-set.js";

const config = { n: 103, batchSize: 10, seed: 42, shuffle: true, dropLast: false };

describe("DataOrder", () => {
  it("cuts each epoch's permutation into ceil(n/B) minibatches covering every example once", () => {
    const order = new DataOrder(config);
    expect(order.batchesPerEpoch).toBe(11);
    const seen: number[] = [];
    for (let b = 0; b < order.batchesPerEpoch; b++) seen.push(...order.batch({ epoch: 3, batch: b }));
    expect(order.batch({ epoch: 3, batch: 10 }).length).toBe(3);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it("shuffles each epoch differently, and the same way for the same seed", () => {
    const a = new DataOrder(config);
    expect([...a.permutation(0)]).not.toEqual([...a.permutation(1)]);
    expect([...a.permutation(0)]).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect([...new DataOrder({ ...config, seed: 43 }).permutation(0)]).not.toEqual([...a.permutation(0)]);
  });

  it("computes a batch of a late epoch without replaying the earlier ones", () => {
    const walked = new DataOrder(config);
    let pos = { epoch: 0, batch: 0 };
    const batches: number[][] = [];
    for (let i = 0; i < 6 * 11 + 4; i++) {
      batches.push([...walked.batch(pos)]);
      pos = walked.next(pos);
    }
    expect(pos).toEqual({ epoch: 6, batch: 4 });
    const fresh = new DataOrder(config);
    expect([...fresh.batch({ epoch: 6, batch: 3 })]).toEqual(batches.at(-1));
    expect([...fresh.batch({ epoch: 2, batch: 0 })]).toEqual(batches[22]);
  });

  it("drops the short last batch with dropLast, and keeps 0..n−1 without shuffle", () => {
    expect(new DataOrder({ ...config, dropLast: true }).batchesPerEpoch).toBe(10);
    const plain = new DataOrder({ ...config, shuffle: false });
    expect([...plain.batch({ epoch: 7, batch: 1 })]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(() => new DataOrder({ ...config, batchSize: 200, dropLast: true })).toThrow(DataOrderError);
    expect(() => plain.batch({ epoch: 0, batch: 11 })).toThrow(/minibatch 11 is not in \[0, 11\)/);
  });
});

describe("evalIndices", () => {
  it("draws a fixed subset from its seed, or takes all", () => {
    const a = evalIndices({ kind: "subset", examples: 20, seed: 5 }, 1000);
    expect(a).toEqual(evalIndices({ kind: "subset", examples: 20, seed: 5 }, 1000));
    expect(new Set(a).size).toBe(20);
    expect(a).not.toEqual(evalIndices({ kind: "subset", examples: 20, seed: 6 }, 1000));
    expect(evalIndices({ kind: "all" }, 4)).toEqual([0, 1, 2, 3]);
    expect(() => evalIndices({ kind: "subset", examples: 5, seed: 1 }, 4)).toThrow(/1 to 4 examples/);
  });
});
