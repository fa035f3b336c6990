// Which training examples the stopping rule's train loss is measured on: all of them, or
// a fixed subset drawn once from a seed (the same subset at every checkpoint and after a
// resume, so successive losses compare the same examples).

import { Rng } from "../util/rng.js";

export type EvalSetConfig = { kind: "all" } | { kind: "subset"; examples: number; seed: number };

/** The example indices, ascending. */
export function evalIndices(c: EvalSetConfig, n: number): number[] {
  if (c.kind === "all") return Array.from({ length: n }, (_, i) => i);
  if (!Number.isSafeInteger(c.examples) || c.examples < 1 || c.examples > n) {
    throw new RangeError(`the train-loss subset must hold 1 to ${n} examples (the training set), got ${c.examples}`);
  }
  // Stream 0xffffffff: the data order uses streams 0, 1, … (one per epoch) of its own seed.
  return new Rng(c.seed, 0xffffffff).sampleWithoutReplacement(n, c.examples);
}

/** "the full training set (60000 examples)" or "a seeded subset of 1000 of 60000 examples (seed 7)". */
export function describeEvalSet(c: EvalSetConfig, n: number): string {
  return c.kind === "all" ? `the full training set (${n} examples)` : `a seeded subset of ${c.examples} of ${n} training examples (seed ${c.seed})`;
}
