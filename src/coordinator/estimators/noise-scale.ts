// B_simple = tr Σ / ‖ḡ‖² (McCandlish et al. 2018, "An Empirical Model of Large-Batch
// Training"): the batch size at which gradient noise and signal are comparable. A ratio
// of the means of T_i and G_i; its interval is Fieller's, which stays honest when ‖ḡ‖²
// is noisy (where the delta method's symmetric interval would not), and which exists
// exactly when ‖ḡ‖² is resolved from zero.
import type { Estimate, PairSample, Sampling } from "./types.js";
import { PairEstimator } from "./base.js";
import { deltaStderr, fiellerInterval, finish, unresolved, unresolvedDenominator } from "./ratio.js";
import { NO_NOISE_REASON, gSample, linearForms, tSample, type LinearForms } from "./sampling.js";

export class NoiseScaleEstimator extends PairEstimator {
  readonly name = "noise_scale" as const;
  private readonly forms: LinearForms;

  constructor(sampling: Sampling) {
    super(sampling, 2);
    this.forms = linearForms(sampling);
  }

  /** [ T_i, G_i ] */
  protected sample(p: PairSample, out: number[]): void {
    out[0] = this.forms.k === null ? 0 : tSample(this.forms.k, p);
    out[1] = gSample(this.forms, p);
  }

  protected estimate(n: number, t: number): Estimate {
    if (this.forms.k === null) return unresolved(n, NO_NOISE_REASON);
    const v = (j: number, k: number): number => this.moments.meanCovariance(j, k);
    const mT = this.moments.mean(0);
    const mG = this.moments.mean(1);
    const why = unresolvedDenominator(mG, Math.sqrt(v(1, 1)), t);
    if (why !== null) return unresolved(n, why);
    const ci = fiellerInterval(mT, mG, v(0, 0), v(0, 1), v(1, 1), t);
    // Unreachable in exact arithmetic (the two conditions coincide); guards rounding.
    if (ci === null) return unresolved(n, "Fieller's interval for tr Σ / ‖ḡ‖² is unbounded");
    const r = mT / mG;
    const se = deltaStderr([1 / mG, -r / mG], v);
    return finish(n, r, se, ci);
  }
}
