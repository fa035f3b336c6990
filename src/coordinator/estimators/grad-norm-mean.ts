// E‖g_b‖; both minibatches of a pair are draws of g_b, so average them.
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";

export class GradNormMeanEstimator extends MeanEstimator {
  readonly name = "grad_norm_mean" as const;

  protected value(p: PairSample): number {
    return (p.a + p.b) / 2;
  }
}
