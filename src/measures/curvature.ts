// Second-order information from gradients alone (docs/measures.md §8: curvature
// contrast E_b λ_max(H_b) / λ_max(H̄)). Workers only ever compute gradients, so a
// Hessian-vector product is a central difference of two gradients at parameters
// perturbed along the direction, and the dominant eigenvalue comes from power iteration
// on such products. Pure: no TensorFlow.js, no NATS; everything is float64 except the
// perturbed parameters handed to the oracle, which are float32 like the model's.
//
// Float32 perturbations. θ ± h·v̂ is rounded to float32 componentwise, so the step the
// oracle actually sees is d = θ₊ − θ₋ = 2h·v̂ + δ with |δ_i| ≤ 2⁻²⁴(|θ₊,i| + |θ₋,i|):
// the realized direction d̂ = d/‖d‖ misses v̂ by about ‖δ‖/(2h) ≈ eps32·‖θ‖/(√6·2h) for
// random rounding. Both θ₊ and θ₋ are known exactly, so d is too, and the gradient
// difference is (up to O(h²)) an exact Hessian product along d̂. Hence:
//   - hessianVectorProduct divides by ‖d‖ rather than 2h (removes the component of δ
//     along v̂; the perpendicular part stays as an O(‖δ‖/2h) error in H·v);
//   - powerIteration and hutchinsonTrace take their quadratic forms along the realized
//     direction, so that the Rayleigh quotient is that of a genuine unit vector and its
//     error is second order in the direction error (a Rayleigh quotient is stationary
//     at eigenvectors).
// The centre of the difference is (θ₊ + θ₋)/2, which differs from θ by O(ulp): a
// curvature change of O(ulp·∇³f), negligible beside everything else here.

import { Rng } from "../util/rng.js";

/** Gradient of one fixed loss (a minibatch's, or the full data's) at parameters θ (length P). */
export type GradientOracle = (theta: Float32Array) => Promise<Float64Array>;

export interface HvpOptions {
  /** Absolute step along the unit direction (a norm in parameter space). */
  h: number;
}

export interface PowerIterationResult {
  /** Rayleigh quotient of `vector`: the dominant eigenvalue (largest |λ|, with its sign). */
  lambda: number;
  /** Unit vector (float64) whose Rayleigh quotient is `lambda`: the realized direction of the last product. */
  vector: Float64Array;
  /** Hessian-vector products computed (each costs two gradients). */
  iterations: number;
  /** Whether the Rayleigh quotient changed by less than tolerance (relative) in the last iteration. */
  converged: boolean;
  /**
   * ‖H q − λ q‖ for q = vector (absolute, same units as λ). For symmetric H some eigenvalue
   * lies within `residual` of `lambda`, whether or not the iteration converged; when the top
   * two eigenvalues are nearly equal, the vector may be any mix of their eigenvectors.
   */
  residual: number;
}

/** float32 machine epsilon (spacing of floats at 1). */
const EPS32 = 2 ** -23;

/**
 * The realized step may deviate from the intended 2h·v̂ by at most this fraction before
 * the product is refused: beyond it float32 rounding of θ, not the Hessian, dominates.
 */
const MAX_STEP_DEVIATION = 0.1;

/**
 * A default finite-difference step for float32 gradients: h = cbrt(eps32) · max(1, rms(θ)),
 * about 4.9e-3 for weights of order one or smaller.
 *
 * The central difference along a unit direction has three error sources, relative to ‖H v̂‖:
 *   truncation      ≈ (h²/6)·‖∇³f[v̂, v̂]‖/‖H v̂‖ = (h/ℓ)²/6, ℓ the length over which curvature changes;
 *   gradient noise  ≈ eps32·κ·‖g‖/(2h·‖H v̂‖), κ the accumulation factor of a float32 gradient;
 *   θ rounding      ≈ ‖H δ⊥‖/(2h·‖H v̂‖) ≲ ‖δ‖/(2h) ≈ eps32·‖θ‖/(√6·2h) (see the top of this file).
 * Minimizing a·h² + b/h gives h* = (b/2a)^(1/3), i.e. h ∝ eps32^(1/3) times a length scale,
 * the classical central-difference step (Numerical Recipes §5.7, Dennis & Schnabel §5.6:
 * h = eps^(1/3)·max(|x|, typical x)). Only θ is known here, so its rms stands for the
 * length scale, floored at 1 so that small weights do not shrink h into the noise. With
 * the errors balanced, each is about eps32^(2/3) ≈ 2.4e-5 times its scale factor, and
 * a perturbation of norm h spread over P parameters moves each by h/√P, about
 * 2^23·h/(√P·|θ_i|) ulps — it survives rounding unless P is astronomically large.
 * Measured on a 5-4-3 tanh MLP (test/unit/curvature.test.ts), the HVP error against a
 * float64 reference is smallest for h between 3e-3 and 5e-3, ~3e-5 relative, and grows
 * as 1/h below (θ rounding and gradient rounding) and as h² above (truncation).
 */
export function defaultStep(theta: Float32Array): number {
  if (theta.length === 0) throw new RangeError("defaultStep: θ is empty");
  return Math.cbrt(EPS32) * Math.max(1, rms(theta));
}

/**
 * H v ≈ (∇f(θ + h v̂) − ∇f(θ − h v̂)) / ‖d‖ · ‖v‖ (central difference along the unit vector
 * v̂ = v/‖v‖), with d = θ₊ − θ₋ the step realized after float32 rounding of θ₊ and θ₋
 * (≈ 2h). Exact for a quadratic up to rounding; O(h²) otherwise. Calls the oracle twice,
 * one call after the other (never concurrently). v = 0 gives 0 without calling it.
 */
export async function hessianVectorProduct(oracle: GradientOracle, theta: Float32Array, v: Float64Array, o: HvpOptions): Promise<Float64Array> {
  checkTheta(theta, "hessianVectorProduct");
  if (v.length !== theta.length) throw new RangeError(`hessianVectorProduct: v has ${v.length} values, θ has ${theta.length}`);
  checkFinite(v, "hessianVectorProduct: v");
  checkStep(o.h, "hessianVectorProduct");
  const scale = norm(v);
  if (scale === 0) return new Float64Array(v.length);
  const unit = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) unit[i] = v[i]! / scale;
  const { hv } = await directionalHvp(oracle, theta, unit, o.h);
  for (let i = 0; i < hv.length; i++) hv[i]! *= scale;
  return hv;
}

/**
 * Dominant eigenvalue (largest |λ|, with its sign) of H by power iteration on HVPs, from a
 * seeded random start (standard normal, Rng(seed, stream ?? 0)); stops when the Rayleigh
 * quotient changes by < tolerance (relative) or after maxIterations.
 *
 * Each iteration takes one product along the current unit vector q, λ = q̂ᵀ(H q̂) along the
 * realized direction q̂, and the next q = H q̂ / ‖H q̂‖. The Rayleigh quotient's error is
 * about (λ₂/λ₁)^(2k), so a relative change below tolerance usually means λ is within about
 * tolerance·(λ₂/λ₁)²/(1 − (λ₂/λ₁)²) relative, and the vector within the square root of that;
 * with a tiny gap the quotient barely moves and the test can pass (or fail) with the vector
 * still mixing the top eigenvectors — `residual` bounds the eigenvalue error regardless.
 * Rounding floor: at a float32 θ each product's realized direction misses the intended one
 * by ε ≈ eps32·‖θ‖/(√6·2h) (≈ 2e-5 for ‖θ‖ ≈ 4.5, h = defaultStep), so the quotient jitters
 * by ~ε²·|λ| (≈ 1e-9 relative there) and the residual cannot fall below ~ε·(spread of the
 * spectrum); ask for a tolerance well above ε², or the iteration may run to maxIterations.
 * If H q̂ = 0 exactly (H = 0, almost surely, from a random start) λ = 0 is returned, converged.
 */
export async function powerIteration(
  oracle: GradientOracle,
  theta: Float32Array,
  o: { maxIterations: number; tolerance: number; h: number; seed: number; stream?: number },
): Promise<PowerIterationResult> {
  checkTheta(theta, "powerIteration");
  checkStep(o.h, "powerIteration");
  if (!Number.isSafeInteger(o.maxIterations) || o.maxIterations < 1) {
    throw new RangeError(`powerIteration: maxIterations must be a positive integer, got ${o.maxIterations}`);
  }
  if (!Number.isFinite(o.tolerance) || o.tolerance < 0) throw new RangeError(`powerIteration: tolerance must be finite and ≥ 0, got ${o.tolerance}`);
  const rng = new Rng(o.seed, o.stream ?? 0);
  const p = theta.length;
  let q: Float64Array = new Float64Array(p);
  for (let i = 0; i < p; i++) q[i] = rng.nextNormal();
  normalizeInPlace(q);

  let previous = NaN;
  let result: PowerIterationResult | null = null;
  for (let k = 1; k <= o.maxIterations; k++) {
    const { direction, hv } = await directionalHvp(oracle, theta, q, o.h);
    const lambda = dot(direction, hv);
    if (!Number.isFinite(lambda)) throw new Error(`powerIteration: Rayleigh quotient is ${lambda} at iteration ${k}`);
    const r = new Float64Array(p);
    for (let i = 0; i < p; i++) r[i] = hv[i]! - lambda * direction[i]!;
    const residual = norm(r);
    const hvNorm = norm(hv);
    if (hvNorm === 0) return { lambda: 0, vector: direction, iterations: k, converged: true, residual: 0 };
    const change = Math.abs(lambda - previous);
    const converged = k > 1 && (change === 0 || change < o.tolerance * Math.abs(lambda));
    result = { lambda, vector: direction, iterations: k, converged, residual };
    if (converged) return result;
    previous = lambda;
    q = hv;
    for (let i = 0; i < p; i++) q[i]! /= hvNorm;
  }
  return result!;
}

/**
 * Hutchinson's trace estimator with Rademacher probes z (Rng(seed, stream ?? 0)): mean of
 * zᵀHz over `probes` probes, with its standard error (sample standard deviation / √n; NaN
 * for n = 1) and n. Each probe is one product along ẑ = z/√P, and zᵀHz = P·ẑᵀ(H ẑ). For
 * a diagonal H every probe gives tr H exactly (up to rounding), so the stderr is ~0.
 */
export async function hutchinsonTrace(
  oracle: GradientOracle,
  theta: Float32Array,
  o: { probes: number; h: number; seed: number; stream?: number },
): Promise<{ mean: number; stderr: number; n: number }> {
  checkTheta(theta, "hutchinsonTrace");
  checkStep(o.h, "hutchinsonTrace");
  if (!Number.isSafeInteger(o.probes) || o.probes < 1) throw new RangeError(`hutchinsonTrace: probes must be a positive integer, got ${o.probes}`);
  const rng = new Rng(o.seed, o.stream ?? 0);
  const p = theta.length;
  const inv = 1 / Math.sqrt(p);
  const values = new Float64Array(o.probes);
  const unit = new Float64Array(p);
  for (let n = 0; n < o.probes; n++) {
    let bits = 0;
    for (let i = 0; i < p; i++) {
      if (i % 32 === 0) bits = rng.nextUint32();
      unit[i] = bits & 1 ? inv : -inv;
      bits >>>= 1;
    }
    // zᵀ(H z) with H z measured along the realized direction: the first-order effect of
    // float32 rounding is half that of the realized quadratic form d̂ᵀH d̂.
    const { hv } = await directionalHvp(oracle, theta, unit, o.h);
    values[n] = p * dot(unit, hv);
  }
  // Two passes, shifted by the first value: equal values give a stderr of exactly 0
  // (a plain mean of equal values can be off by an ulp, and the spread with it).
  const shift = values[0]!;
  let sum = 0;
  for (const x of values) sum += x - shift;
  const m = sum / values.length;
  let ss = 0;
  for (const x of values) ss += (x - shift - m) ** 2;
  const stderr = values.length > 1 ? Math.sqrt(ss / (values.length - 1) / values.length) : NaN;
  return { mean: shift + m, stderr, n: values.length };
}

/**
 * One central difference along the unit vector `unit` with step h: θ± = fl32(θ ± h·unit),
 * the realized unit direction d̂ = (θ₊ − θ₋)/‖θ₊ − θ₋‖ (exact: both are known), and
 * hv = (∇f(θ₊) − ∇f(θ₋))/‖θ₊ − θ₋‖ ≈ H d̂. Throws when rounding moves the step by more
 * than MAX_STEP_DEVIATION of its length (h too small for θ's magnitude in float32).
 */
async function directionalHvp(oracle: GradientOracle, theta: Float32Array, unit: Float64Array, h: number): Promise<{ direction: Float64Array; hv: Float64Array }> {
  const p = theta.length;
  const plus = new Float32Array(p);
  const minus = new Float32Array(p);
  for (let i = 0; i < p; i++) {
    const t = theta[i]!;
    const s = h * unit[i]!;
    plus[i] = t + s; // the one rounding to float32, on assignment
    minus[i] = t - s;
  }
  const d = new Float64Array(p);
  const miss = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    d[i] = plus[i]! - minus[i]!; // exact in float64 for float32 operands of similar size
    miss[i] = d[i]! - 2 * h * unit[i]!;
  }
  const length = norm(d);
  const deviation = norm(miss) / (2 * h);
  if (!(deviation <= MAX_STEP_DEVIATION)) {
    throw new RangeError(
      `finite-difference step h = ${h} is too small for float32 θ (rms ${rms(theta).toExponential(3)}): rounding θ ± h·v̂ moves the step by ${(100 * deviation).toPrecision(3)}% (limit ${100 * MAX_STEP_DEVIATION}%); try defaultStep(θ) = ${defaultStep(theta).toExponential(3)}`,
    );
  }
  const gPlus = await callOracle(oracle, plus);
  const gMinus = await callOracle(oracle, minus);
  const hv = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    hv[i] = (gPlus[i]! - gMinus[i]!) / length;
    d[i]! /= length;
  }
  return { direction: d, hv };
}

async function callOracle(oracle: GradientOracle, theta: Float32Array): Promise<Float64Array> {
  const g = await oracle(theta);
  if (!(g instanceof Float64Array) || g.length !== theta.length) {
    throw new Error(`gradient oracle returned ${g instanceof Float64Array ? `${g.length} values` : "something other than a Float64Array"} for ${theta.length} parameters`);
  }
  checkFinite(g, "gradient oracle's result");
  return g;
}

function checkTheta(theta: Float32Array, where: string): void {
  if (theta.length === 0) throw new RangeError(`${where}: θ is empty`);
  checkFinite(theta, `${where}: θ`);
}

function checkStep(h: number, where: string): void {
  if (!Number.isFinite(h) || h <= 0) throw new RangeError(`${where}: step h must be finite and > 0, got ${h}`);
}

function checkFinite(a: Float32Array | Float64Array, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new RangeError(`${what} has a non-finite value ${a[i]} at index ${i}`);
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Euclidean norm, scaled by the largest magnitude so that it neither overflows nor underflows. */
function norm(a: Float32Array | Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  if (m === 0 || !Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! / m;
    s += x * x;
  }
  return m * Math.sqrt(s);
}

function rms(a: Float32Array | Float64Array): number {
  return a.length === 0 ? 0 : norm(a) / Math.sqrt(a.length);
}

function normalizeInPlace(a: Float64Array): void {
  const n = norm(a);
  for (let i = 0; i < a.length; i++) a[i]! /= n;
}
