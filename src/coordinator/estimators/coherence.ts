// Coherence α = ‖ḡ‖² / tr F̂ = E_{i,j}[g_i·g_j] / E_i[‖g_i‖²] over independent examples i, j
// (Chatterjee 2020, "Coherent Gradients"; Chatterjee & Zielinski 2022): 1 when every
// example's gradient is the same, 1/N when they are orthogonal. m-coherence is m·α.
// α = 1 / (1 + noise_scale) = 1 / (N·Δ) with Δ the per-example gradient diversity of Yin
// et al. (vector_stats.gradient_diversity_per_example): the three are one quantity.
// A ratio of the means of G_i and F_i = G_i + T_i; its interval is Fieller's. See
// docs/measures.md.
import type { Estimate, PairSample, Sampling } from "./types.js";
import { PairEstimator } from "./base.js";
import { deltaStderr, fiellerInterval, finish, OVERFLOW_REASON, unresolved } from "./ratio.js";
import { NO_NOISE_REASON, gSample, linearForms, tSample, type LinearForms } from "./sampling.js";

export class CoherenceEstimator extends PairEstimator {
  readonly name = "coherence" as const;
  private readonly forms: LinearForms;

  constructor(sampling: Sampling) {
    super(sampling, 2);
    this.forms = linearForms(sampling);
  }

  /** [ G_i, F_i = G_i + T_i ] */
  protected sample(p: PairSample, out: number[]): void {
    out[0] = gSample(this.forms, p);
    out[1] = out[0] + (this.forms.k === null ? 0 : tSample(this.forms.k, p));
  }

  protected estimate(n: number, t: number): Estimate {
    if (this.forms.k === null) return unresolved(n, NO_NOISE_REASON);
    const v = (j: number, k: number): number => this.moments.meanCovariance(j, k);
    const mG = this.moments.mean(0);
    const mF = this.moments.mean(1);
    const half = t * Math.sqrt(v(1, 1));
    if (!Number.isFinite(mF) || !Number.isFinite(half) || !Number.isFinite(mG)) return unresolved(n, OVERFLOW_REASON);
    if (!(mF - half > 0)) return unresolved(n, `tr F̂ = ${mF.toExponential(1)} ± ${half.toExponential(1)} (95% CI) is not resolved from zero`);
    const ci = fiellerInterval(mG, mF, v(0, 0), v(0, 1), v(1, 1), t);
    if (ci === null) return unresolved(n, "Fieller's interval for ‖ḡ‖² / tr F̂ is unbounded");
    const r = mG / mF;
    return finish(n, r, deltaStderr([1 / mF, -r / mF], v), ci);
  }
}
