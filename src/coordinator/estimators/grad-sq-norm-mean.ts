// E‖g_b‖² = tr E[g_b g_bᵀ], the minibatch gradient second moment (the seed's "trace of
// the empirical Fisher" at minibatch level; not the per-example empirical Fisher).
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";
import { meanSquare } from "./pair.js";

export class GradSqNormMeanEstimator extends MeanEstimator {
  readonly name = "grad_sq_norm_mean" as const;

  protected value(p: PairSample): number {
    return meanSquare(p.a, p.b);
  }
}
