// Projected ascent of f(θ + M z) over the unit ball ‖z‖ ≤ 1 of ℓ∞ (a box) or ℓ₂: the
// worst case that ε-sharpness and adaptive sharpness take (docs/measures.md §14).
//
// Step rule. At z with z-gradient d = Mᵀ∇f(θ + M z), Π is the projection on the ball
// (clipping to [−1, 1] for ℓ∞, radial scaling for ℓ₂). The first step is Π(z + η v) with
// v the linear maximizer over the ball, v = sign(d) (ℓ∞) or d/‖d‖₂ (ℓ₂): from the centre,
// η = 1 is exactly the first-order worst case (a box corner, the SAM point). Later steps
// are spectral projected-gradient steps Π(z + α d) (Birgin, Martínez & Raydan's SPG),
// α = sᵀs/(−sᵀy) from the last accepted step s and its change of gradient y (the
// Barzilai–Borwein step of the curvature seen along s), or 10¹² where that curvature is
// ≥ 0 (the projection then stops the step at the boundary). A trial is accepted when it
// rises at least 10⁻⁴ of the rise its linear model dᵀ(trial − z) predicts (Armijo along
// the projection arc); a rejected one halves η or α. Sign steps alone would reach an
// interior maximum only to about the last step length; these converge to it.
//
// Stopping rule, the first of:
//   - "gap": the Frank–Wolfe gap max_{‖z'‖≤1} dᵀ(z' − z) = ‖d‖_* − dᵀz (‖·‖_* the dual
//     norm: ℓ₁ for the box, ℓ₂ for the ball) is ≤ gapTolerance·(1 + |f(θ)|). It is a
//     first-order stationarity measure; when f(θ + M z) is concave in z it also bounds the
//     rise still missing (f is below its tangent plane);
//   - "step": the trial step is shorter than 10⁻¹⁰ (in the ball's norm), or no step
//     along the projection arc can rise to first order;
//   - "budget": maxEvaluations loss-and-gradient evaluations (forward + backward passes)
//     are spent, the one at θ included.
// Every evaluated point lies in the ball, so the largest value seen, θ itself included,
// is a valid lower bound on the maximum; that is what is returned. The maximum of a
// non-concave function over a ball is a hard problem in general: the ascent finds a local
// maximum, as the L-BFGS-B of Keskar et al. and the PGD of the adaptive-sharpness papers do.
// `restarts` adds ascents from seeded random points, alternately of the surface (a random
// corner of the box; a uniform direction on the sphere) and uniform in the ball (radius
// U^(1/k) for ℓ₂), and keeps the best: a better lower bound for more evaluations, never an upper bound.

import { Rng } from "../../util/rng.js";
import { checkCount, checkFiniteValue, checkPositive, checkVector, type Objective } from "./objective.js";
import type { PerturbationMap } from "./perturbation-map.js";

export type Ball = "linf" | "l2";

export interface AscentOptions {
  ball: Ball;
  /** Loss-and-gradient evaluations in all, the one at θ included (≥ 2). */
  maxEvaluations: number;
  /** The gap test's tolerance, relative to 1 + |f(θ)|; default 1e-6. */
  gapTolerance?: number;
  /**
   * Where the gradient at θ is exactly zero in z (θ a critical point of the loss), the
   * ascent starts from a seeded random point of the ball's surface (Rng(seed, stream)):
   * from the centre it could not move.
   */
  seed?: number;
  stream?: number;
  /**
   * Further ascents from seeded random points, alternately of the surface and inside the ball,
   * each with its own maxEvaluations; the best value over all is returned. Default 0.
   */
  restarts?: number;
}

export type AscentStop = "gap" | "step" | "budget";

export interface AscentResult {
  /** f(θ). */
  base: number;
  /** The largest f(θ + M z) seen (≥ base: z = 0 is in the ball). */
  value: number;
  /** value − base. */
  rise: number;
  /** The z of `value`, and its δ = M z. */
  z: Float64Array;
  delta: Float64Array;
  /** Loss-and-gradient evaluations made. */
  evaluations: number;
  /** The first ascent's (from θ) Frank–Wolfe gap at its last accepted point, and why it stopped. */
  gap: number;
  stop: AscentStop;
}

const ARMIJO = 1e-4;
/** A trial step shorter than this (in the ball's norm; the ball has radius 1) ends the ascent. */
const MIN_STEP = 1e-10;
const MIN_ALPHA = 1e-12;
const MAX_ALPHA = 1e12;

function dualNorm(d: Float64Array, ball: Ball): number {
  let s = 0;
  if (ball === "linf") for (const x of d) s += Math.abs(x);
  else {
    for (const x of d) s += x * x;
    s = Math.sqrt(s);
  }
  return s;
}

/** ‖step‖∞ or ‖step‖₂ (a loop: a spread of P values would overflow the call stack). */
function stepLength(step: Float64Array, ball: Ball): number {
  let s = 0;
  if (ball === "linf") for (const x of step) s = Math.max(s, Math.abs(x));
  else {
    for (const x of step) s += x * x;
    s = Math.sqrt(s);
  }
  return s;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The linear maximizer of dᵀv over the unit ball (0 where d = 0). */
function direction(d: Float64Array, ball: Ball): Float64Array {
  const v = new Float64Array(d.length);
  if (ball === "linf") for (let i = 0; i < d.length; i++) v[i] = Math.sign(d[i]!);
  else {
    const n = dualNorm(d, "l2");
    if (n > 0) for (let i = 0; i < d.length; i++) v[i] = d[i]! / n;
  }
  return v;
}

function projectInPlace(z: Float64Array, ball: Ball): Float64Array {
  if (ball === "linf") for (let i = 0; i < z.length; i++) z[i] = Math.min(1, Math.max(-1, z[i]!));
  else {
    const n = dualNorm(z, "l2");
    if (n > 1) for (let i = 0; i < z.length; i++) z[i] = z[i]! / n;
  }
  return z;
}

function add(theta: Float64Array, delta: Float64Array): Float64Array {
  const out = new Float64Array(theta.length);
  for (let i = 0; i < out.length; i++) out[i] = theta[i]! + delta[i]!;
  return out;
}

export async function projectedAscent(objective: Objective, theta: Float64Array, map: PerturbationMap, o: AscentOptions): Promise<AscentResult> {
  if (o.ball !== "linf" && o.ball !== "l2") throw new RangeError(`projectedAscent: ball must be "linf" or "l2", got ${JSON.stringify(o.ball)}`);
  checkCount(o.maxEvaluations, 2, "projectedAscent: maxEvaluations");
  const tol = o.gapTolerance ?? 1e-6;
  checkPositive(tol, "projectedAscent: gapTolerance");
  checkCount(o.restarts ?? 0, 0, "projectedAscent: restarts");
  checkVector(theta, objective.dimension, "projectedAscent: θ");
  if (map.parameters !== objective.dimension) throw new RangeError(`projectedAscent: the perturbation map is over ${map.parameters} parameters, the objective over ${objective.dimension}`);
  const k = map.dimension;

  const evaluate = async (z: Float64Array) => {
    const delta = map.toDelta(z);
    const { value, gradient } = await objective.valueAndGradient(add(theta, delta));
    checkVector(gradient, objective.dimension, "projectedAscent: the gradient");
    return { value, d: map.pullBack(gradient), delta };
  };

  const start = await evaluate(new Float64Array(k));
  checkFiniteValue(start.value, "projectedAscent: f(θ)");
  let evaluations = 1;
  const base = start.value;
  const scale = tol * (1 + Math.abs(base));
  let best = { value: base, z: new Float64Array(k), delta: start.delta };
  const rng = new Rng(o.seed ?? 0, o.stream ?? 0);
  const interiorPoint = () => {
    if (o.ball === "linf") return Float64Array.from({ length: k }, () => 2 * rng.nextFloat() - 1);
    const z = surfacePoint();
    const radius = Math.pow(rng.nextFloat(), 1 / k);
    for (let i = 0; i < k; i++) z[i] = z[i]! * radius;
    return z;
  };
  const surfacePoint = () => {
    const r = Float64Array.from({ length: k }, () => rng.nextNormal());
    return projectInPlace(direction(r, o.ball), o.ball);
  };

  /** One ascent from z (whose value and z-gradient are known), spending up to `budget` evaluations. */
  const climb = async (z: Float64Array, fz: number, d: Float64Array, budget: number) => {
    // First phase: steps η·v along the linear maximizer v; after the first accepted one,
    // spectral projected-gradient steps α·d (alpha ≠ null).
    let eta = 1;
    let alpha: number | null = null;
    let used = 0;
    let gap: number;
    let stop: AscentStop = "budget";
    while (true) {
      gap = dualNorm(d, o.ball) - dot(d, z);
      if (gap <= scale) {
        stop = "gap";
        break;
      }
      if (used >= budget) break;
      const trial = new Float64Array(k);
      if (alpha === null) {
        const v = direction(d, o.ball);
        for (let i = 0; i < k; i++) trial[i] = z[i]! + eta * v[i]!;
      } else {
        for (let i = 0; i < k; i++) trial[i] = z[i]! + alpha * d[i]!;
      }
      projectInPlace(trial, o.ball);
      const step = new Float64Array(k);
      for (let i = 0; i < k; i++) step[i] = trial[i]! - z[i]!;
      const predicted = dot(d, step);
      const length = stepLength(step, o.ball);
      if (!(predicted > 0) || length < MIN_STEP) {
        stop = "step";
        break;
      }
      const at = await evaluate(trial);
      used++;
      if (Number.isFinite(at.value) && at.value > best.value) best = { value: at.value, z: trial.slice(), delta: at.delta };
      if (Number.isFinite(at.value) && at.value - fz >= ARMIJO * predicted) {
        // Barzilai–Borwein: the step that a quadratic with the curvature seen along this
        // step would take; a direction of non-negative curvature gets the longest step.
        let sy = 0;
        for (let i = 0; i < k; i++) sy += step[i]! * (at.d[i]! - d[i]!);
        const ss = dot(step, step);
        alpha = sy < 0 ? Math.min(MAX_ALPHA, Math.max(MIN_ALPHA, ss / -sy)) : MAX_ALPHA;
        z = trial;
        fz = at.value;
        d = at.d;
      } else if (alpha === null) {
        eta /= 2;
      } else {
        alpha /= 2;
      }
    }
    return { used, gap, stop };
  };

  /** An ascent from a random point (of the surface, or inside): its evaluation counts against the budget. */
  const climbFrom = async (z: Float64Array, budget: number) => {
    const at = await evaluate(z);
    if (Number.isFinite(at.value) && at.value > best.value) best = { value: at.value, z: z.slice(), delta: at.delta };
    if (!Number.isFinite(at.value)) return { used: 1, gap: Infinity, stop: "step" as AscentStop };
    const r = await climb(z, at.value, at.d, budget - 1);
    return { ...r, used: r.used + 1 };
  };

  // The first ascent starts at θ, unless the z-gradient there is exactly zero (a critical
  // point, from which no step is an ascent direction): then from a random surface point.
  let first = dualNorm(start.d, o.ball) === 0 && k > 0 ? await climbFrom(surfacePoint(), o.maxEvaluations - 1) : await climb(new Float64Array(k), base, start.d, o.maxEvaluations - 1);
  evaluations += first.used;
  const { gap, stop } = first;
  for (let r = 0; r < (o.restarts ?? 0); r++) {
    first = await climbFrom(r % 2 === 0 ? surfacePoint() : interiorPoint(), o.maxEvaluations);
    evaluations += first.used;
  }
  return { base, value: best.value, rise: best.value - base, z: best.z, delta: best.delta, evaluations, gap, stop };
}
