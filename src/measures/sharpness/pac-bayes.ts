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
// the Monte Carlo error of R̂ itself. The interval inverts the t test at each σ: at the
// true σ*, R(σ*) = d, and |R̂(σ*) − d| ≤ t·se(σ*) with probability ≈ 95% (t = t95(M − 1),
// se the standard error of the M pair values at that σ), so
//   σ* ∈ [σ_L, σ_U],  R̂(σ_L) + t·se(σ_L) = d,  R̂(σ_U) − t·se(σ_U) = d,
// each end found like the root (bracket outwards from the root's bracket, then bisection,
// to intervalTolerance, taking the outer end). 1/σ*² ∈ [1/σ_U², 1/σ_L²]; an end the
// search cannot find within [minSigma, maxSigma] is 0 or ∞. No linearization: a step-like
// R̂ (the error, which moves in steps of 1/n) gets as honest an interval as a smooth one.
// The interval assumes R increases with σ (one crossing of each level); it covers the
// Monte Carlo noise of the perturbations, not the choice of the examples in L.

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
  /** Relative width of the brackets of the interval's ends; default 1e-2 (never below tolerance). */
  intervalTolerance?: number;
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
      /** σ*'s 95% interval [σ_L, σ_U] (test inversion, see the top of this file). */
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
  const at = async (sigma: number): Promise<RiseAt> => {
    evaluations += 2 * o.samples;
    return riseAt(evaluate, theta, base, scale, sigma, o.samples, o.seed, stream);
  };
  // A non-finite rise (a diverged perturbation) counts as above the target.
  const t = t95(o.samples - 1);
  const over = (r: RiseAt) => !(r.rise <= o.target);
  const surelyOver = (r: RiseAt) => !(r.rise - t * r.stderr <= o.target);
  const maybeOver = (r: RiseAt) => !(r.rise + t * r.stderr <= o.target);

  /**
   * From a σ already evaluated, doubling or halving until `test` changes, then bisecting
   * at geometric midpoints to relative width `tol`: the last σ where `test` is false and
   * the first where it is true, or null where the search leaves [minSigma, maxSigma].
   */
  const crossing = async (from: RiseAt, test: (r: RiseAt) => boolean, tol: number): Promise<{ below: RiseAt; above: RiseAt } | null> => {
    let below: RiseAt | null = null;
    let above: RiseAt | null = null;
    if (test(from)) {
      above = from;
      for (let sg = from.sigma / 2; sg >= minSigma; sg /= 2) {
        const r = await at(sg);
        if (!test(r)) {
          below = r;
          break;
        }
        above = r;
      }
    } else {
      below = from;
      for (let sg = from.sigma * 2; sg <= maxSigma; sg *= 2) {
        const r = await at(sg);
        if (test(r)) {
          above = r;
          break;
        }
        below = r;
      }
    }
    if (!below || !above) return null;
    while (above.sigma - below.sigma > tol * above.sigma) {
      const r = await at(Math.sqrt(below.sigma * above.sigma));
      if (test(r)) above = r;
      else below = r;
    }
    return { below, above };
  };

  const first = await at(start);
  const root = await crossing(first, over, tolerance);
  if (!root) {
    const reason = over(first) ? `the rise exceeds ${o.target} down to σ = ${minSigma} (minSigma)` : `the rise stays within ${o.target} up to σ = ${maxSigma} (maxSigma)`;
    return { resolved: false, base, reason, evaluations };
  }
  const { below: lo, above: hi } = root;
  const sigma = (lo.sigma + hi.sigma) / 2;
  // The interval's ends: where R̂ ± t·se crosses d, found from the root's bracket outwards.
  const ciTol = Math.max(tolerance, o.intervalTolerance ?? 1e-2);
  const upper = await crossing(hi, surelyOver, ciTol);
  const lower = await crossing(lo, maybeOver, ciTol);
  const sHi = upper ? upper.above.sigma : Infinity;
  const sLo = lower ? lower.below.sigma : 0;
  return {
    resolved: true,
    base,
    sigma,
    bracket: [lo.sigma, hi.sigma],
    sigmaCi95: [sLo, sHi],
    inverseSigmaSq: 1 / (sigma * sigma),
    inverseSigmaSqCi95: [Number.isFinite(sHi) ? 1 / (sHi * sHi) : 0, sLo > 0 ? 1 / (sLo * sLo) : Infinity],
    atLo: lo,
    atHi: hi,
    evaluations,
  };
}
