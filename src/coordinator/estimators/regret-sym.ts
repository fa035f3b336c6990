// Regret averaged over both directions of the pair, (r12 + r21)/2: uses both minibatches
// symmetrically, which lowers the variance of the same expectation as regret when the
// two minibatches are exchangeable.
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";
import { projection } from "./pair.js";

export class RegretSymEstimator extends MeanEstimator {
  readonly name = "regret_sym" as const;

  protected value(p: PairSample): number {
    const r12 = p.b - projection(p.c, p.a);
    const r21 = p.a - projection(p.c, p.b);
    return (r12 + r21) / 2;
  }
}
