// From pair statistics to unbiased per-pair samples of ‖ḡ‖² (G_i) and tr Σ (T_i), with the
// finite-population corrections of drawing minibatches without replacement.
//
// Notation: per-example gradients g_1 … g_N, ḡ = (1/N) Σ g_i, Σ = (1/N) Σ (g_i − ḡ)(g_i − ḡ)ᵀ
// (1/N normalization, so tr Σ = (1/N) Σ ‖g_i − ḡ‖² and (1/N) Σ ‖g_i‖² = ‖ḡ‖² + tr Σ).
// A minibatch b of B distinct examples has E g_b = ḡ and, by simple random sampling
// without replacement, Cov g_b = Σ/B · (N − B)/(N − 1). Hence
//   m2 := E‖g_b‖² = ‖ḡ‖² + tr Σ · (N − B)/(B(N − 1)).                              (1)
// Per pair, y_i = (a² + b²)/2 is an unbiased sample of m2 and c_i of E[g1·g2].
//
// Independent pairing: g_b1, g_b2 are independent, so E[g1·g2] = ‖ḡ‖². Then
//   G_i = c_i,   T_i = B(N − 1)/(N − B) · (y_i − c_i)                                  by (1).
// Undefined when B = N: every minibatch is the whole dataset, y_i = c_i, and tr Σ leaves
// no trace in the data.
//
// Disjoint pairing: b2 is drawn from the complement of b1, so (b1, b2) is a simple random
// sample of 2B examples split in two. Any two distinct draws without replacement have
// covariance −Σ/(N − 1); g_b1·g_b2 averages B² such cross terms, so
//   Cov(g_b1, g_b2) = −Σ/(N − 1),   c̄ := E[g1·g2] = ‖ḡ‖² − tr Σ/(N − 1).               (2)
// Subtracting (2) from (1): m2 − c̄ = tr Σ/(N − 1) · ((N − B)/B + 1) = tr Σ · N/(B(N − 1)), so
//   tr Σ = B(N − 1)/N · (m2 − c̄),   ‖ḡ‖² = c̄ + tr Σ/(N − 1) = c̄ + (B/N)(m2 − c̄),
// and per pair
//   G_i = c_i + (B/N)(y_i − c_i),   T_i = B(N − 1)/N · (y_i − c_i).
//
// Check, both pairings: G_i + T_i at B = 1 is exactly y_i = (‖g_i‖² + ‖g_j‖²)/2, whose mean
// is (1/N) Σ ‖g_i‖² = ‖ḡ‖² + tr Σ. Check, large N: both reduce to ‖ḡ‖² ≈ c̄ and
// tr Σ ≈ B(m2 − c̄). The unit tests enumerate every pair on small datasets and recover
// ‖ḡ‖² and tr Σ exactly.
import type { PairSample, Sampling } from "./types.js";
import { meanSquare } from "./pair.js";

/** Throws a RangeError naming the offending field. */
export function validateSampling(s: Sampling): void {
  const { datasetSize: n, batchSize: b, pairing } = s;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Sampling.datasetSize must be an integer ≥ 1, got ${n}`);
  if (!Number.isSafeInteger(b) || b < 1 || b > n) {
    throw new RangeError(`Sampling.batchSize must be an integer in [1, datasetSize = ${n}], got ${b}`);
  }
  if (pairing !== "independent" && pairing !== "disjoint") {
    throw new RangeError(`Sampling.pairing must be "independent" or "disjoint", got ${String(pairing)}`);
  }
  if (pairing === "disjoint" && 2 * b > n) {
    throw new RangeError(`Sampling.batchSize ${b}: disjoint pairing needs 2·batchSize ≤ datasetSize = ${n}`);
  }
}

export function sameSampling(x: Sampling, y: Sampling): boolean {
  return x.datasetSize === y.datasetSize && x.batchSize === y.batchSize && x.pairing === y.pairing;
}

/** Coefficients of G_i = c_i + w (y_i − c_i) and T_i = k (y_i − c_i). */
export interface LinearForms {
  w: number;
  /** null when tr Σ is not identifiable (independent pairing with B = N). */
  k: number | null;
}

export function linearForms(s: Sampling): LinearForms {
  const { datasetSize: n, batchSize: b } = s;
  if (s.pairing === "disjoint") return { w: b / n, k: (b * (n - 1)) / n };
  return { w: 0, k: b === n ? null : (b * (n - 1)) / (n - b) };
}

export const NO_NOISE_REASON =
  "batchSize = datasetSize with independent pairing: every minibatch is the full dataset, so there is no sampling noise to measure tr Σ from";

/** Per-pair unbiased sample of ‖ḡ‖². */
export function gSample(f: LinearForms, p: PairSample): number {
  const y = meanSquare(p.a, p.b);
  return p.c + f.w * (y - p.c);
}

/** Per-pair unbiased sample of tr Σ (the caller handles k = null). */
export function tSample(k: number, p: PairSample): number {
  return k * (meanSquare(p.a, p.b) - p.c);
}
