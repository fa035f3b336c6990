// Adaptive m-sharpness after Kwon et al. (2021, ASAM) and Andriushchenko et al. (2023, "A
// modern look at the relationship between sharpness and generalization"): on a minibatch
// b of m examples,
//   worst case:   S_b = max_{‖δ ⊘ c‖_p ≤ ρ} L_b(θ + δ) − L_b(θ),  p = 2 or ∞,
//   average case: A_b = E_{δ ~ N(0, ρ² diag(c²))} L_b(θ + δ) − L_b(θ),
// with c_i = |θ_i| + ξ (elementwise; ξ > 0 the floor that lets a zero weight move, Kwon
// et al.'s η), and the m-sharpness is the mean of S_b (or A_b) over minibatches,
// meanInterval (mean-interval.ts) with its t interval. One minibatch's ascent is one task.
//
// Worst case: δ = ρ c∘z with ‖z‖_p ≤ 1 and projected ascent in z (projected-ascent.ts);
// its first step from θ is exactly the first-order worst case (ℓ₂: the ASAM/SAM point
// ρ c∘(c∘g)/‖c∘g‖; ℓ∞: the corner ρ c∘sign(g)), later steps refine it. Average case: the
// mean over M antithetic pairs ±z (pac-bayes.ts's riseAt), unbiased, with its standard
// error.

import { checkCount, checkPositive, checkVector, type Evaluator, type Objective } from "./objective.js";
import { diagonalMap } from "./perturbation-map.js";
import { riseAt } from "./pac-bayes.js";
import { projectedAscent, type AscentResult, type Ball } from "./projected-ascent.js";
import { modelObjective, onModel, type TrainableModel } from "./model-objective.js";

export interface AdaptiveOptions {
  rho: number;
  /** ξ in c_i = |θ_i| + ξ. */
  floor: number;
}

export interface AdaptiveAscentOptions extends AdaptiveOptions {
  norm: Ball;
  /** Loss-and-gradient evaluations (forward + backward passes over b), θ's included; default 10. */
  maxEvaluations?: number;
  gapTolerance?: number;
  restarts?: number;
  seed?: number;
  stream?: number;
}

/** c_i = ρ(|θ_i| + ξ): the scale of δ in the ascent's variables. */
export function adaptiveScale(theta: Float64Array, o: AdaptiveOptions): Float64Array {
  checkPositive(o.rho, "adaptive sharpness: rho");
  checkPositive(o.floor, "adaptive sharpness: floor");
  return Float64Array.from(theta, (t) => o.rho * (Math.abs(t) + o.floor));
}

/** S_b on the minibatch whose loss `objective` is: the rise and how it was found. */
export async function ascentOnMinibatch(objective: Objective, theta: Float64Array, o: AdaptiveAscentOptions): Promise<AscentResult> {
  checkVector(theta, objective.dimension, "ascentOnMinibatch: θ");
  return projectedAscent(objective, theta, diagonalMap(adaptiveScale(theta, o)), {
    ball: o.norm,
    maxEvaluations: o.maxEvaluations ?? 10,
    ...(o.gapTolerance !== undefined ? { gapTolerance: o.gapTolerance } : {}),
    restarts: o.restarts ?? 0,
    seed: o.seed ?? 0,
    stream: o.stream ?? 0,
  });
}

/** S_b for the minibatch `indices` of a model, at its current θ, which is restored afterwards. */
export async function ascentOnModelMinibatch(model: TrainableModel, indices: readonly number[], o: AdaptiveAscentOptions): Promise<AscentResult> {
  return onModel(model, (theta) => ascentOnMinibatch(modelObjective(model, indices), theta, o));
}

export interface AverageRise {
  /** L_b(θ). */
  base: number;
  /** Â_b: the mean over the M antithetic pairs. */
  rise: number;
  stderr: number;
  samples: number;
  /** Loss evaluations (forward passes over b): 2M + 1. */
  evaluations: number;
}

/** A_b by M antithetic pairs from Rng(seed, stream). */
export async function averageRiseOnMinibatch(evaluate: Evaluator, theta: Float64Array, o: AdaptiveOptions & { samples: number; seed: number; stream?: number }): Promise<AverageRise> {
  checkCount(o.samples, 2, "averageRiseOnMinibatch: samples");
  checkVector(theta, theta.length, "averageRiseOnMinibatch: θ");
  const scale = adaptiveScale(theta, { rho: 1, floor: o.floor });
  checkPositive(o.rho, "adaptive sharpness: rho");
  const base = await evaluate(theta);
  const r = await riseAt(evaluate, theta, base, scale, o.rho, o.samples, o.seed, o.stream ?? 0);
  return { base, rise: r.rise, stderr: r.stderr, samples: o.samples, evaluations: 2 * o.samples + 1 };
}

/** A_b for the minibatch `indices` of a model (its forward-only loss), θ restored afterwards. */
export async function averageRiseOnModelMinibatch(model: TrainableModel, indices: readonly number[], o: AdaptiveOptions & { samples: number; seed: number; stream?: number }): Promise<AverageRise> {
  return onModel(model, (theta) => averageRiseOnMinibatch(modelObjective(model, indices).value, theta, o));
}
