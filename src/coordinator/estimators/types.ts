// Shared types of the estimators. The coordinator feeds every estimator the same three
// scalars per pair of minibatches, for the whole network and for each layer or tensor alike.

/**
 * The sample an estimator takes from one pair of minibatch gradients: a = ‖g1‖, b = ‖g2‖,
 * c = g1·g2 (of the whole network, one layer or one tensor). Not the wire's PairStats, the
 * worker's full per-pair result from which these are read.
 */
export interface PairSample {
  a: number;
  b: number;
  c: number;
}

/**
 * How the pairs were drawn. Each minibatch is B examples without replacement from N;
 * "independent": the two minibatches are drawn independently (they may overlap);
 * "disjoint": b2 is drawn from the N − B examples not in b1.
 */
export interface Sampling {
  datasetSize: number;
  batchSize: number;
  pairing: "independent" | "disjoint";
}

/**
 * One measure's estimate. Invariant: resolved ⇔ mean, stderr and ci95 are all finite
 * numbers; otherwise they are all null and `reason` says why in words.
 */
export interface Estimate {
  mean: number | null;
  stderr: number | null;
  ci95: [number, number] | null;
  /** Number of pairs the estimate is based on. */
  n: number;
  resolved: boolean;
  reason?: string;
}

/** The measures, in report order. */
export const MEASURE_NAMES = [
  "regret",
  "regret_sym",
  "cos_disagreement",
  "grad_norm_mean",
  "grad_sq_norm_mean",
  "jensen_ratio",
  "mean_grad_sq_norm",
  "fisher_trace_per_example",
  "noise_scale",
  "contrastive_flatness",
  "stiffness_cos",
  "stiffness_sign",
  "coherence",
] as const;

export type MeasureName = (typeof MEASURE_NAMES)[number];

export interface Estimator {
  readonly name: MeasureName;
  add(p: PairSample): void;
  /** Folds another estimator of the same measure and sampling into this one. */
  merge(other: Estimator): void;
  result(): Estimate;
}
