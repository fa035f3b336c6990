// tr F̂ = (1/N) Σ ‖g_i‖² = ‖ḡ‖² + tr Σ, the per-example empirical Fisher trace, recovered
// from minibatch statistics through the finite-population forms F_i = G_i + T_i.
import type { Estimate, PairSample, Sampling } from "./types.js";
import { MeanEstimator } from "./base.js";
import { unresolved } from "./ratio.js";
import { NO_NOISE_REASON, gSample, linearForms, tSample, type LinearForms } from "./sampling.js";

export class FisherTracePerExampleEstimator extends MeanEstimator {
  readonly name = "fisher_trace_per_example" as const;
  private readonly forms: LinearForms;

  constructor(sampling: Sampling) {
    super(sampling);
    this.forms = linearForms(sampling);
  }

  protected value(p: PairSample): number {
    // With k = null the result is never reported; 0 keeps the accumulator finite.
    return this.forms.k === null ? 0 : gSample(this.forms, p) + tSample(this.forms.k, p);
  }

  protected override estimate(n: number, t: number): Estimate {
    if (this.forms.k === null) return unresolved(n, NO_NOISE_REASON);
    return super.estimate(n, t);
  }
}
