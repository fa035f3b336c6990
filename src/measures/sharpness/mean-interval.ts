// The estimate over minibatches: the mean of independent per-minibatch values (one task's
// result each) with its Student t interval, as MeanEstimator does for pairs
// (src/coordinator/estimators/base.ts). Summed in float64, in the order given.

import { t95 } from "../../coordinator/estimators/student-t.js";

export interface MeanInterval {
  mean: number;
  stderr: number;
  ci95: [number, number];
  n: number;
}

export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n < 2) throw new RangeError(`meanInterval: needs at least 2 values for an interval, got ${n}`);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`meanInterval: value ${i} is ${v}, not a finite number`);
  });
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const stderr = Math.sqrt(ss / (n - 1) / n);
  const half = t95(n - 1) * stderr;
  return { mean, stderr, ci95: [mean - half, mean + half], n };
}
