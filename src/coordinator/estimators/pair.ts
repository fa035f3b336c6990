// Per-pair primitives shared by the measures.
import type { PairSample } from "./types.js";

/** Rejects input that would poison float64 accumulators for the rest of the run. */
export function checkPair(p: PairSample): void {
  for (const field of ["a", "b", "c"] as const) {
    const v = p[field];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new RangeError(`PairSample.${field} must be a finite number, got ${String(v)}`);
    }
  }
  if (p.a < 0) throw new RangeError(`PairSample.a is a norm and must be ≥ 0, got ${p.a}`);
  if (p.b < 0) throw new RangeError(`PairSample.b is a norm and must be ≥ 0, got ${p.b}`);
}

/**
 * c / a, the component of g2 along g1. A zero gradient has no direction; with a = 0 we
 * also have c = 0, and we take the projection (and hence the cosine) to be 0, so a zero
 * g1 counts as "no agreement" rather than producing NaN.
 */
export function projection(c: number, a: number): number {
  return a > 0 ? c / a : 0;
}

/**
 * cos(g1, g2), 0 when either gradient is zero (see projection). Divides twice rather
 * than by a·b so that tiny norms do not underflow to 0/0. Not clamped to [−1, 1]:
 * float32 rounding on workers can put |c| a hair above a·b, and clamping would bias
 * the mean.
 */
export function cosine(a: number, b: number, c: number): number {
  return a > 0 && b > 0 ? c / a / b : 0;
}

/** (‖g1‖² + ‖g2‖²)/2: the pair's sample of E‖g_b‖², using both minibatches. */
export function meanSquare(a: number, b: number): number {
  return (a * a + b * b) / 2;
}
