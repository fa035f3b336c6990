// The estimate over minibatches: the mean of independent per-minibatch values (one task's
// result each) with its Student t interval, as MeanEstimator does for pairs
// (src/coordinator/estimators/base.ts). Summed in float64, in the order given.

import { meanEstimate } from "../../coordinator/estimators/sample-mean.js";

export interface MeanInterval {
  mean: number;
  stderr: number;
  ci95: [number, number];
  n: number;
}

/** meanEstimate's numbers, refusing (rather than reporting unresolved) fewer than 2 or non-finite values. */
export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n < 2) throw new RangeError(`meanInterval: needs at least 2 values for an interval, got ${n}`);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`meanInterval: value ${i} is ${v}, not a finite number`);
  });
  const e = meanEstimate(values);
  return { mean: e.mean!, stderr: e.stderr!, ci95: e.ci95!, n };
}
