// Minibatch index pairs planned from a seed. Pair i is drawn from its own Rng stream
// (seed, i), so it is the same whatever the number of pairs, tasks or workers, and any
// pair can be recomputed alone from the seed.

import { Rng } from "../util/rng.js";

export type Pairing = "independent" | "disjoint";

export interface PairPlan {
  seed: number;
  count: number;
  datasetSize: number;
  batchSize: number;
  /** independent: b2 is drawn like b1 and may overlap it; disjoint: b2 avoids b1. */
  pairing: Pairing;
}

export type PairBatches = [number[], number[]];

export function checkPlan(plan: PairPlan): void {
  const { count, datasetSize: n, batchSize: b } = plan;
  if (!Number.isSafeInteger(plan.seed) || plan.seed < 0) throw new RangeError(`pairs.seed must be a non-negative integer, got ${plan.seed}`);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`the dataset size must be a positive integer, got ${n}`);
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`pairs.count must be a positive integer, got ${count}`);
  if (!Number.isSafeInteger(b) || b < 1) throw new RangeError(`pairs.batch_size must be a positive integer, got ${b}`);
  const needed = plan.pairing === "disjoint" ? 2 * b : b;
  if (needed > n) {
    throw new RangeError(
      `pairs.batch_size ${b} is too large for a dataset of ${n} examples` + (plan.pairing === "disjoint" ? " with disjoint pairs (needs 2 × batch_size ≤ examples)" : ""),
    );
  }
}

export function planPair(plan: PairPlan, i: number): PairBatches {
  const rng = new Rng(plan.seed, i);
  const b1 = rng.sampleWithoutReplacement(plan.datasetSize, plan.batchSize);
  const b2 = rng.sampleWithoutReplacement(plan.datasetSize, plan.batchSize, plan.pairing === "disjoint" ? new Set(b1) : undefined);
  return [b1, b2];
}
