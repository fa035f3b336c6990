// Stiffness (Fort et al. 2019, "Stiffness: a new perspective on generalization in neural
// networks"): how much a step on one minibatch helps another. Measured on pairs of
// minibatch gradients: E[cos(g1, g2)] and E[sign(g1·g2)] (the share of pairs that agree
// minus the share that disagree). stiffness_cos is 1 − cos_disagreement, named as the
// literature names it. See docs/measures.md.
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";
import { cosine } from "./pair.js";

export class StiffnessCosEstimator extends MeanEstimator {
  readonly name = "stiffness_cos" as const;

  protected value(p: PairSample): number {
    return cosine(p.a, p.b, p.c);
  }
}

export class StiffnessSignEstimator extends MeanEstimator {
  readonly name = "stiffness_sign" as const;

  protected value(p: PairSample): number {
    return Math.sign(p.c);
  }
}
