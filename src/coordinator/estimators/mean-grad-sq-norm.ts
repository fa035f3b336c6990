// ‖ḡ‖², unbiased: the mean of G_i (see sampling.ts for the correction under disjoint
// pairing). Reported even when it is not resolved from zero: near a minimum a value
// within noise of 0 (or below) is the honest answer.
import type { PairSample, Sampling } from "./types.js";
import { MeanEstimator } from "./base.js";
import { gSample, linearForms, type LinearForms } from "./sampling.js";

export class MeanGradSqNormEstimator extends MeanEstimator {
  readonly name = "mean_grad_sq_norm" as const;
  private readonly forms: LinearForms;

  constructor(sampling: Sampling) {
    super(sampling);
    this.forms = linearForms(sampling);
  }

  protected value(p: PairSample): number {
    return gSample(this.forms, p);
  }
}
