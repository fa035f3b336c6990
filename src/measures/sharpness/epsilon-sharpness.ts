// ε-sharpness after Keskar et al. (2017), "On large-batch training for deep learning:
// generalization gap and sharp minima", metric (3):
//   φ(ε, A) = 100 · (max_{y ∈ C_ε} f(θ + A y) − f(θ)) / (1 + f(θ)),
//   C_ε = { y ∈ ℝᵏ : |y_j| ≤ ε(|(A⁺θ)_j| + 1) },
// in the full space (A = I, k = P) or in a random subspace (A a P × k matrix). The box is
// on y, the subspace's coordinates, with half-widths from θ's own coordinates there,
// A⁺θ: the perturbation A y itself is not box-constrained in θ's coordinates. Here A has
// orthonormal columns (subspace.ts), so A⁺ = Aᵀ. The maximum is taken by projected
// ascent (projected-ascent.ts) where Keskar et al. ran 10 iterations of L-BFGS-B.

import { checkPositive, checkVector, type Objective } from "./objective.js";
import { diagonalMap, subspaceMap } from "./perturbation-map.js";
import { projectedAscent, type AscentResult } from "./projected-ascent.js";
import { project, randomSubspace } from "./subspace.js";

export interface EpsilonSharpnessOptions {
  epsilon: number;
  /** Loss-and-gradient evaluations in all (θ's included); default 20. */
  maxEvaluations?: number;
  gapTolerance?: number;
  /** Further ascents from random corners and inner points of the box (projected-ascent.ts); default 0. */
  restarts?: number;
  /** A random k-dimensional subspace from Rng(seed, stream); absent: the full space. */
  subspace?: { k: number; seed: number; stream?: number };
}

export interface EpsilonSharpnessResult extends AscentResult {
  /** 100 · rise / (1 + f(θ)). */
  sharpness: number;
}

export async function epsilonSharpness(objective: Objective, theta: Float64Array, o: EpsilonSharpnessOptions): Promise<EpsilonSharpnessResult> {
  checkPositive(o.epsilon, "epsilonSharpness: epsilon");
  checkVector(theta, objective.dimension, "epsilonSharpness: θ");
  let map;
  if (o.subspace) {
    const a = randomSubspace(objective.dimension, o.subspace.k, o.subspace.seed, o.subspace.stream ?? 0);
    const coords = project(a, theta);
    map = subspaceMap(a, Float64Array.from(coords, (c) => o.epsilon * (Math.abs(c) + 1)));
  } else {
    map = diagonalMap(Float64Array.from(theta, (t) => o.epsilon * (Math.abs(t) + 1)));
  }
  const r = await projectedAscent(objective, theta, map, {
    ball: "linf",
    maxEvaluations: o.maxEvaluations ?? 20,
    ...(o.gapTolerance !== undefined ? { gapTolerance: o.gapTolerance } : {}),
    restarts: o.restarts ?? 0,
    seed: o.subspace?.seed ?? 0,
    stream: o.subspace?.stream ?? 0,
  });
  return { ...r, sharpness: (100 * r.rise) / (1 + r.base) };
}
