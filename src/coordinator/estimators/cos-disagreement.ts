// 1 − cos(g1, g2): the scale-free part of the regret (0 for identical directions, 2 for
// opposite ones).
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";
import { cosine } from "./pair.js";

export class CosDisagreementEstimator extends MeanEstimator {
  readonly name = "cos_disagreement" as const;

  protected value(p: PairSample): number {
    return 1 - cosine(p.a, p.b, p.c);
  }
}
