// E‖g_b‖ / √(E‖g_b‖²) ∈ [0, 1]: how far Jensen's inequality is from equality, i.e. how
// much the minibatch gradient norm varies. A ratio of means (not a mean of per-pair
// ratios), since that is the quantity the seed compares.
import type { Estimate, PairSample, Sampling } from "./types.js";
import { PairEstimator } from "./base.js";
import { meanSquare } from "./pair.js";
import { deltaStderr, finish, tInterval, unresolved } from "./ratio.js";

export class JensenRatioEstimator extends PairEstimator {
  readonly name = "jensen_ratio" as const;

  constructor(sampling: Sampling) {
    super(sampling, 2);
  }

  /** [ (a+b)/2, (a²+b²)/2 ] */
  protected sample(p: PairSample, out: number[]): void {
    out[0] = (p.a + p.b) / 2;
    out[1] = meanSquare(p.a, p.b);
  }

  protected estimate(n: number, t: number): Estimate {
    const u = this.moments.mean(0);
    const m2 = this.moments.mean(1);
    if (!(m2 > 0)) return unresolved(n, "every gradient norm is zero, so the ratio is 0/0");
    const r = u / Math.sqrt(m2);
    const se = deltaStderr([1 / Math.sqrt(m2), -r / (2 * m2)], (j, k) => this.moments.meanCovariance(j, k));
    return finish(n, r, se, tInterval(r, se, t));
  }
}
