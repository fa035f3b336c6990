// The mean of i.i.d. values with its Student-t 95% interval: the estimate of anything that
// is a plain average over independent draws (minibatches of the curvature pass, pairs of
// one class combination).
import type { Estimate } from "./types.js";
import { t95 } from "./student-t.js";

export function meanEstimate(values: readonly number[]): Estimate {
  const n = values.length;
  if (n < 2) return { mean: null, stderr: null, ci95: null, n, resolved: false, reason: `need at least 2 values, have ${n}` };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  const stderr = Math.sqrt(variance / n);
  const t = t95(n - 1);
  return { mean, stderr, ci95: [mean - t * stderr, mean + t * stderr], n, resolved: true };
}
