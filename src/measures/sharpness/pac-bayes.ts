// PAC-Bayes flatness after Jiang et al. (2019), "Fantastic generalization measures and
// where to find them": the largest σ whose Gaussian perturbation keeps the expected rise
// of the loss (or of the error) within a set amount d,
//   σ* = max { σ : E_{z~N(0,I)} [L(θ + σ s∘z)] − L(θ) ≤ d },
// with s_i = 1 (isotropic: u ~ N(0, σ²I)) or s_i = |θ_i| + ε′ (magnitude-aware), reported
// as 1/σ*², which grows with sharpness (docs/measures.md §14.2).
//
// Estimator. The expectation at each σ is a mean over M antithetic pairs: z_m ~ N(0, I)
// and −z_m, r_m = (L(θ + σ s∘z_m) + L(θ − σ s∘z_m))/2 − L(θ), which cancels every odd
// order of the loss's Taylor series (the gradient term, whose mean over a few samples is
// the largest noise near a non-stationary θ) and leaves the mean unbiased. The same z_m
// (common random numbers: Rng(seed, stream), drawn m by m, coordinate by coordinate, anew
// for every σ) are used at every σ, so the estimated rise R̂(σ) is a smooth function of σ
// and bisection finds its crossing of d deterministically.
//
// Bracketing: from σ₀ the bracket doubles (or halves) until R̂(lo) ≤ d < R̂(hi); then
// bisection at the geometric midpoint until (hi − lo) ≤ tolerance·hi. σ̂ = (lo + hi)/2.
//
// Interval. Two errors: the bracket's (σ* of the sampled curve R̂ lies in [lo, hi]), and
// the Monte Carlo error of R̂ itself. By the delta method the root moves by
// (R̂(σ) − R(σ))/R̂′(σ); R̂′ is the slope across the final bracket (with common random
// numbers, the derivative of the sampled curve), and R̂'s standard error is that of the
// M pair values r_m at hi. So σ* ∈ [lo − t·se/slope, hi + t·se/slope], t = t95(M − 1),
// and 1/σ*² ∈ [1/(hi + …)², 1/(lo − …)²] (upper end ∞ when the lower σ end is ≤ 0).
// The interval assumes R increases with σ through the crossing (one crossing); it covers
// the Monte Carlo noise of the perturbations, not the choice of the examples in L.

import { t95 } from "../../coordinator/estimators/student-t.js";
import { Rng } from "../../util/rng.js";
import { checkCount, checkFiniteValue, checkPositive, checkVector, type Evaluator } from "./objective.js";

export interface PacBayesOptions {
  /** d, the allowed rise of the evaluated quantity (loss, or error). */
  target: number;
  /** M antithetic pairs per σ (2M evaluations), ≥ 2. */
  samples: number;
  seed: number;
  stream?: number;
  /** Absent: isotropic noise. With epsilon: noise σ·(|θ_i| + ε′) per coordinate. */
  magnitude?: { epsilon: number };
  /** Relative width of the final bracket; default 1e-3. */
  tolerance?: number;
  /** First σ tried; default 1e-2. */
  start?: number;
  /** The bracket search gives up beyond these (reported unresolved); defaults 1e-8 and 1e4. */
  minSigma?: number;
  maxSigma?: number;
}

export interface RiseAt {
  sigma: number;
  /** R̂(σ): the mean of the M pair values. */
  rise: number;
  /** Its standard error (sd of the pair values / √M). */
  stderr: number;
}

export type PacBayesResult =
  | {
      resolved: true;
      /** L(θ) (or the error at θ). */
      base: number;
      sigma: number;
      /** The final bracket: R̂(lo) ≤ d < R̂(hi). */
      bracket: [number, number];
      /** σ*'s 95% interval: the bracket widened by the Monte Carlo error. */
      sigmaCi95: [number, number];
      /** 1/σ̂² and its 95% interval. */
      inverseSigmaSq: number;
      inverseSigmaSqCi95: [number, number];
      /** R̂ at the bracket's ends. */
      atLo: RiseAt;
      atHi: RiseAt;
      /** Evaluations of the loss (forward passes over its examples), θ's included. */
      evaluations: number;
    }
  | { resolved: false; base: number; reason: string; evaluations: number };

/**
 * R̂(σ) with the M pairs of common random numbers: returns the mean, its standard error
 * and the number of evaluations made (2M).
 */
export async function riseAt(evaluate: Evaluator, theta: Float64Array, base: number, scale: Float64Array, sigma: number, samples: number, seed: number, stream: number): Promise<RiseAt> {
  const rng = new Rng(seed, stream);
  const p = theta.length;
  const plus = new Float64Array(p);
  const minus = new Float64Array(p);
  const values: number[] = [];
  for (let m = 0; m < samples; m++) {
    for (let i = 0; i < p; i++) {
      const u = sigma * scale[i]! * rng.nextNormal();
      plus[i] = theta[i]! + u;
      minus[i] = theta[i]! - u;
    }
    const a = await evaluate(plus);
    const b = await evaluate(minus);
    values.push((a + b) / 2 - base);
  }
  let mean = 0;
  for (const v of values) mean += v;
  mean /= samples;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { sigma, rise: mean, stderr: Math.sqrt(ss / (samples - 1) / samples) };
}

export async function pacBayesFlatness(evaluate: Evaluator, theta: Float64Array, o: PacBayesOptions): Promise<PacBayesResult> {
  checkPositive(o.target, "pacBayesFlatness: target");
  checkCount(o.samples, 2, "pacBayesFlatness: samples");
  const tolerance = o.tolerance ?? 1e-3;
  checkPositive(tolerance, "pacBayesFlatness: tolerance");
  const minSigma = o.minSigma ?? 1e-8;
  const maxSigma = o.maxSigma ?? 1e4;
  const start = o.start ?? 1e-2;
  for (const [x, what] of [[minSigma, "minSigma"], [maxSigma, "maxSigma"], [start, "start"]] as const) checkPositive(x, `pacBayesFlatness: ${what}`);
  if (!(minSigma <= start && start <= maxSigma)) throw new RangeError(`pacBayesFlatness: need minSigma ≤ start ≤ maxSigma, got ${minSigma}, ${start}, ${maxSigma}`);
  if (o.magnitude) checkPositive(o.magnitude.epsilon, "pacBayesFlatness: magnitude.epsilon");
  checkVector(theta, theta.length, "pacBayesFlatness: θ");
  const scale = o.magnitude ? Float64Array.from(theta, (t) => Math.abs(t) + o.magnitude!.epsilon) : new Float64Array(theta.length).fill(1);
  const stream = o.stream ?? 0;

  const base = await evaluate(theta);
  checkFiniteValue(base, "pacBayesFlatness: the value at θ");
  let evaluations = 1;
  const at = async (sigma: number) => {
    evaluations += 2 * o.samples;
    return riseAt(evaluate, theta, base, scale, sigma, o.samples, o.seed, stream);
  };
  // A non-finite rise (a diverged perturbation) counts as above the target.
  const over = (r: RiseAt) => !(r.rise <= o.target);

  let lo: RiseAt | null = null;
  let hi: RiseAt | null = null;
  const first = await at(start);
  if (over(first)) {
    hi = first;
    for (let s = start / 2; s >= minSigma; s /= 2) {
      const r = await at(s);
      if (!over(r)) {
        lo = r;
        break;
      }
      hi = r;
    }
    if (!lo) return { resolved: false, base, reason: `the rise exceeds ${o.target} down to σ = ${hi.sigma} (minSigma ${minSigma})`, evaluations };
  } else {
    lo = first;
    for (let s = start * 2; s <= maxSigma; s *= 2) {
      const r = await at(s);
      if (over(r)) {
        hi = r;
        break;
      }
      lo = r;
    }
    if (!hi) return { resolved: false, base, reason: `the rise stays within ${o.target} up to σ = ${lo.sigma} (maxSigma ${maxSigma})`, evaluations };
  }
  while (hi.sigma - lo.sigma > tolerance * hi.sigma) {
    const r = await at(Math.sqrt(lo.sigma * hi.sigma));
    if (over(r)) hi = r;
    else lo = r;
  }
  const sigma = (lo.sigma + hi.sigma) / 2;
  const slope = (hi.rise - lo.rise) / (hi.sigma - lo.sigma);
  const t = t95(o.samples - 1);
  const se = Number.isFinite(hi.stderr) ? hi.stderr : lo.stderr;
  // A slope that is not positive (the sampled curve not increasing across the bracket)
  // leaves the Monte Carlo error of the root unbounded.
  const widen = slope > 0 && Number.isFinite(slope) ? (t * se) / slope : Infinity;
  const sLo = lo.sigma - widen;
  const sHi = hi.sigma + widen;
  return {
    resolved: true,
    base,
    sigma,
    bracket: [lo.sigma, hi.sigma],
    sigmaCi95: [Math.max(0, sLo), sHi],
    inverseSigmaSq: 1 / (sigma * sigma),
    inverseSigmaSqCi95: [Number.isFinite(sHi) ? 1 / (sHi * sHi) : 0, sLo > 0 ? 1 / (sLo * sLo) : Infinity],
    atLo: lo,
    atHi: hi,
    evaluations,
  };
}
