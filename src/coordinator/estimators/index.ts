// The estimators of the measures, one per quantity, and a set of all of them (one set
// for the whole network and one per layer or weight tensor).
import { MEASURE_NAMES, type Estimate, type Estimator, type MeasureName, type PairSample, type Sampling } from "./types.js";
import { sameSampling, validateSampling } from "./sampling.js";
import { RegretEstimator } from "./regret.js";
import { RegretSymEstimator } from "./regret-sym.js";
import { CosDisagreementEstimator } from "./cos-disagreement.js";
import { GradNormMeanEstimator } from "./grad-norm-mean.js";
import { GradSqNormMeanEstimator } from "./grad-sq-norm-mean.js";
import { JensenRatioEstimator } from "./jensen-ratio.js";
import { MeanGradSqNormEstimator } from "./mean-grad-sq-norm.js";
import { FisherTracePerExampleEstimator } from "./fisher-trace-per-example.js";
import { NoiseScaleEstimator } from "./noise-scale.js";
import { ContrastiveFlatnessEstimator } from "./contrastive-flatness.js";
import { StiffnessCosEstimator, StiffnessSignEstimator } from "./stiffness.js";
import { CoherenceEstimator } from "./coherence.js";

export { MEASURE_NAMES };
export type { Estimate, Estimator, MeasureName, PairSample, Sampling };
export { validateSampling } from "./sampling.js";
export { studentTQuantile, normalQuantile } from "./student-t.js";
export {
  RegretEstimator,
  RegretSymEstimator,
  CosDisagreementEstimator,
  GradNormMeanEstimator,
  GradSqNormMeanEstimator,
  JensenRatioEstimator,
  MeanGradSqNormEstimator,
  FisherTracePerExampleEstimator,
  NoiseScaleEstimator,
  ContrastiveFlatnessEstimator,
  StiffnessCosEstimator,
  StiffnessSignEstimator,
  CoherenceEstimator,
};

// A Record keyed by MeasureName makes the compiler insist on one factory per measure.
const FACTORIES: Record<MeasureName, (s: Sampling) => Estimator> = {
  regret: (s) => new RegretEstimator(s),
  regret_sym: (s) => new RegretSymEstimator(s),
  cos_disagreement: (s) => new CosDisagreementEstimator(s),
  grad_norm_mean: (s) => new GradNormMeanEstimator(s),
  grad_sq_norm_mean: (s) => new GradSqNormMeanEstimator(s),
  jensen_ratio: (s) => new JensenRatioEstimator(s),
  mean_grad_sq_norm: (s) => new MeanGradSqNormEstimator(s),
  fisher_trace_per_example: (s) => new FisherTracePerExampleEstimator(s),
  noise_scale: (s) => new NoiseScaleEstimator(s),
  contrastive_flatness: (s) => new ContrastiveFlatnessEstimator(s),
  stiffness_cos: (s) => new StiffnessCosEstimator(s),
  stiffness_sign: (s) => new StiffnessSignEstimator(s),
  coherence: (s) => new CoherenceEstimator(s),
};

/** One estimator per measure, in MEASURE_NAMES order. Throws RangeError on a bad Sampling. */
export function createEstimators(sampling: Sampling): Estimator[] {
  validateSampling(sampling);
  return MEASURE_NAMES.map((name) => FACTORIES[name](sampling));
}

/** All measures for one gradient (the whole network, one layer or one weight tensor). */
export class MeasureSet {
  readonly sampling: Sampling;
  private readonly estimators: Estimator[];
  private pairs = 0;

  constructor(sampling: Sampling) {
    validateSampling(sampling);
    this.sampling = { datasetSize: sampling.datasetSize, batchSize: sampling.batchSize, pairing: sampling.pairing };
    this.estimators = createEstimators(this.sampling);
  }

  /** Number of pairs added (including merged ones). */
  get n(): number {
    return this.pairs;
  }

  add(p: PairSample): void {
    for (const e of this.estimators) e.add(p);
    this.pairs++;
  }

  merge(other: MeasureSet): void {
    if (!sameSampling(this.sampling, other.sampling)) {
      throw new RangeError("MeasureSet.merge: the two sets were built for different Sampling");
    }
    this.estimators.forEach((e, i) => e.merge(other.estimators[i]!));
    this.pairs += other.pairs;
  }

  results(): Record<MeasureName, Estimate> {
    const out = {} as Record<MeasureName, Estimate>;
    this.estimators.forEach((e) => {
      out[e.name] = e.result();
    });
    return out;
  }
}
