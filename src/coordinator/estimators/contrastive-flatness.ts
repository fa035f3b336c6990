// E‖g_b‖ / ‖ḡ‖: the seed's first-order "flatness of minibatch losses vs flatness of the
// average loss". Both are slopes, so a reparametrization that rescales gradients rescales
// them alike; the ratio is large when minibatch gradients are big but cancel on average.
// Not defined until ‖ḡ‖² is resolved from zero.
import type { Estimate, PairSample, Sampling } from "./types.js";
import { PairEstimator } from "./base.js";
import { deltaStderr, finish, tInterval, unresolved, unresolvedDenominator } from "./ratio.js";
import { gSample, linearForms, type LinearForms } from "./sampling.js";

export class ContrastiveFlatnessEstimator extends PairEstimator {
  readonly name = "contrastive_flatness" as const;
  private readonly forms: LinearForms;

  constructor(sampling: Sampling) {
    super(sampling, 2);
    this.forms = linearForms(sampling);
  }

  /** [ (a+b)/2, G_i ] */
  protected sample(p: PairSample, out: number[]): void {
    out[0] = (p.a + p.b) / 2;
    out[1] = gSample(this.forms, p);
  }

  protected estimate(n: number, t: number): Estimate {
    const v = (j: number, k: number): number => this.moments.meanCovariance(j, k);
    const u = this.moments.mean(0);
    const mG = this.moments.mean(1);
    const why = unresolvedDenominator(mG, Math.sqrt(v(1, 1)), t);
    if (why !== null) return unresolved(n, why);
    const r = u / Math.sqrt(mG);
    const se = deltaStderr([1 / Math.sqrt(mG), -r / (2 * mG)], v);
    return finish(n, r, se, tInterval(r, se, t));
  }
}
