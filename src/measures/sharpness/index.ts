// The perturbation measures at one θ (docs/measures.md §14): ε-sharpness, PAC-Bayes
// flatness and adaptive m-sharpness, over an Objective that the worker serves from a
// model (model-objective.ts) and the tests from exact functions.

export type { Evaluator, Objective } from "./objective.js";
export { diagonalMap, subspaceMap, type PerturbationMap } from "./perturbation-map.js";
export { project, randomSubspace, type Subspace } from "./subspace.js";
export { projectedAscent, type AscentOptions, type AscentResult, type AscentStop, type Ball } from "./projected-ascent.js";
export { epsilonSharpness, type EpsilonSharpnessOptions, type EpsilonSharpnessResult } from "./epsilon-sharpness.js";
export { pacBayesFlatness, riseAt, type PacBayesOptions, type PacBayesResult, type RiseAt } from "./pac-bayes.js";
export {
  adaptiveScale,
  ascentOnMinibatch,
  ascentOnModelMinibatch,
  averageRiseOnMinibatch,
  averageRiseOnModelMinibatch,
  type AdaptiveAscentOptions,
  type AdaptiveOptions,
  type AverageRise,
} from "./adaptive-sharpness.js";
export { meanInterval, type MeanInterval } from "./mean-interval.js";
export { DEFAULT_PASS, modelError, modelObjective, onModel, trainableTheta, type TrainableModel } from "./model-objective.js";
