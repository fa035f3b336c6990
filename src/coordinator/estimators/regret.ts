// The seed's regret R/ε: how much a step along −g1 (unit length) fails to reduce the loss
// of minibatch 2 compared with its own best step, ‖g2‖ − g2·g1/‖g1‖ = ‖g2‖(1 − cos).
import type { PairSample } from "./types.js";
import { MeanEstimator } from "./base.js";
import { projection } from "./pair.js";

export class RegretEstimator extends MeanEstimator {
  readonly name = "regret" as const;

  protected value(p: PairSample): number {
    return p.b - projection(p.c, p.a);
  }
}
