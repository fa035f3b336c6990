// Ratios and other smooth functions of sample means: delta-method standard errors,
// Fieller's interval for a ratio of means, and the rule for when a denominator
// (‖ḡ‖², which can vanish at a minimum) is resolved from zero.
import type { Estimate } from "./types.js";

export const OVERFLOW_REASON = "the estimate overflowed float64 (gradient norms too large to square)";

/**
 * Delta method: the variance of f(x̄) ≈ ∇fᵀ V ∇f, with V the covariance matrix of the
 * sample means given as a function. Clamped at 0 because rounding can make the quadratic
 * form slightly negative when the samples are (nearly) collinear.
 */
export function deltaStderr(grad: readonly number[], meanCov: (j: number, k: number) => number): number {
  let v = 0;
  for (let j = 0; j < grad.length; j++) {
    for (let k = 0; k < grad.length; k++) v += grad[j]! * grad[k]! * meanCov(j, k);
  }
  return Math.sqrt(Math.max(0, v));
}

/**
 * Fieller's 95% interval for ρ = E[T]/E[G] from the means mT, mG and the (co)variances of
 * the means vTT, vTG, vGG: the set of ρ with (mT − ρ mG)² ≤ t² Var(mT − ρ mG). It is a
 * bounded interval exactly when mG² > t² vGG, i.e. when the t-interval of mG excludes 0;
 * returns null otherwise (the set is then unbounded and no interval is honest).
 */
export function fiellerInterval(
  mT: number,
  mG: number,
  vTT: number,
  vTG: number,
  vGG: number,
  t: number,
): [number, number] | null {
  const t2 = t * t;
  const qa = mG * mG - t2 * vGG;
  if (!(qa > 0)) return null;
  const qb = mT * mG - t2 * vTG;
  const qc = mT * mT - t2 * vTT;
  // The quadratic is ≤ 0 at the point estimate mT/mG, so the discriminant is ≥ 0 up to
  // rounding.
  const disc = Math.sqrt(Math.max(0, qb * qb - qa * qc));
  // Stable roots: avoid subtracting nearly equal numbers.
  const q = qb + (qb >= 0 ? disc : -disc);
  if (q === 0) return [0, 0];
  const r1 = q / qa;
  const r2 = qc / q;
  return r1 <= r2 ? [r1, r2] : [r2, r1];
}

/**
 * A ratio by ‖ḡ‖² (or its square root) is only meaningful when the 95% interval of
 * ‖ḡ‖² lies above zero; otherwise returns the reason it is not resolved.
 */
export function unresolvedDenominator(mean: number, stderr: number, t: number): string | null {
  if (!Number.isFinite(mean) || !Number.isFinite(stderr)) return OVERFLOW_REASON;
  const half = t * stderr;
  if (mean - half > 0) return null;
  return `‖ḡ‖² = ${fmt(mean)} ± ${fmt(half)} (95% CI) is not resolved from zero`;
}

function fmt(x: number): string {
  return x.toExponential(1);
}

/** A resolved estimate, or an unresolved one if any number came out non-finite. */
export function finish(n: number, mean: number, stderr: number, ci95: [number, number]): Estimate {
  if (![mean, stderr, ci95[0], ci95[1]].every(Number.isFinite)) {
    return unresolved(n, OVERFLOW_REASON);
  }
  return { mean, stderr, ci95, n, resolved: true };
}

export function unresolved(n: number, reason: string): Estimate {
  return { mean: null, stderr: null, ci95: null, n, resolved: false, reason };
}

/** Symmetric t interval around a point estimate. */
export function tInterval(mean: number, stderr: number, t: number): [number, number] {
  return [mean - t * stderr, mean + t * stderr];
}
