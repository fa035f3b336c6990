// Quantiles of a sample with distribution-free 95% intervals. A quantile is a tail
// statistic: a normal interval from a standard error would pretend a shape the sample
// does not have, and a bootstrap of an extreme quantile is known to undercover. Order
// statistics give exact intervals instead: for the q-quantile ξ of a continuous
// distribution and x(1) ≤ … ≤ x(n), P(x(l) ≤ ξ ≤ x(u)) = P(l ≤ K < u) with
// K ~ Binomial(n, q), whatever the distribution. See docs/measures.md.
import { logGamma } from "./student-t.js";

export interface QuantileEstimate {
  q: number;
  /** The sample quantile x(⌈nq⌉) (x(1) for q = 0). */
  value: number;
  /** [x(l), x(u)] with coverage ≥ 95%; null when n is too small for one at this q. */
  ci95: [number, number] | null;
  n: number;
}

/** P(K ≤ k) for K ~ Binomial(n, p), summed in log space (n up to millions). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  return binomialCdfs(n, p)[Math.floor(k)]!;
}

/** [P(K ≤ 0), …, P(K ≤ n)] for K ~ Binomial(n, p), 0 < p < 1, in one pass. */
function binomialCdfs(n: number, p: number): Float64Array {
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  const lnFactN = logGamma(n + 1);
  const out = new Float64Array(n + 1);
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    sum += Math.exp(lnFactN - logGamma(i + 1) - logGamma(n - i + 1) + i * lp + (n - i) * lq);
    out[i] = Math.min(1, sum);
  }
  out[n] = 1;
  return out;
}

/**
 * 1-based ranks (l, u) of the order statistics bounding the q-quantile with coverage
 * ≥ 1 − alpha, each tail at most alpha/2: l the largest rank with P(K < l) ≤ alpha/2, u
 * the smallest with P(K ≥ u) ≤ alpha/2. Null when either falls outside 1..n.
 */
export function quantileRanks(n: number, q: number, alpha = 0.05): [number, number] | null {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`quantileRanks: n must be a positive integer, got ${n}`);
  if (!(q > 0 && q < 1)) return null;
  const cdf = binomialCdfs(n, q);
  // cdf[k] = P(K ≤ k), so P(K < l) = cdf[l − 1] and P(K ≥ u) = 1 − cdf[u − 1].
  let l = 0;
  while (l < n && cdf[l]! <= alpha / 2) l++;
  let u = 1;
  while (u <= n && 1 - cdf[u - 1]! > alpha / 2) u++;
  if (l < 1 || u > n) return null;
  return [l, u];
}

/**
 * The q-quantiles of the values (any order; not changed) with their intervals. `ranks`
 * (quantileRanks of n and each q) may be given when several samples of one size share them.
 */
export function quantiles(values: readonly number[], qs: readonly number[], ranks?: readonly ([number, number] | null)[]): QuantileEstimate[] {
  const n = values.length;
  if (n === 0) throw new RangeError("quantiles: no values");
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`quantiles: values must be finite, got ${v}`);
  const x = [...values].sort((a, b) => a - b);
  return qs.map((q, i) => {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantiles: q must be in [0, 1], got ${q}`);
    const rank = Math.max(1, Math.ceil(n * q));
    const r = ranks ? ranks[i]! : quantileRanks(n, q);
    return { q, value: x[rank - 1]!, ci95: r ? [x[r[0] - 1]!, x[r[1] - 1]!] : null, n };
  });
}
