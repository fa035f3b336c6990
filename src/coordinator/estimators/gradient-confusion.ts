// Gradient confusion (Sankararaman et al. 2020, "The impact of neural network
// overparameterization on gradient confusion and stochastic gradient descent"):
// η = max(0, −min g1·g2) over pairs of (here: minibatch) gradients. A minimum is a tail
// statistic: no normal interval is given for it. Beside it, the distribution of the
// pairwise dots and cosines as quantiles with distribution-free 95% intervals
// (order-statistics.ts). See docs/measures.md.
import type { PairSample } from "./types.js";
import { checkPair, cosine } from "./pair.js";
import { quantileRanks, quantiles, type QuantileEstimate } from "./order-statistics.js";

/** The quantiles reported; 0 and 1 are the sample's extremes (no interval). */
export const CONFUSION_QUANTILES = [0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1] as const;

export interface GradientConfusion {
  /** max(0, −min over the pairs of g1·g2): the sample's confusion. */
  eta: number;
  /** min over the pairs of g1·g2. */
  min_dot: number;
  /** Share of pairs with g1·g2 < 0. */
  negative_share: number;
  n: number;
  dot_quantiles: QuantileEstimate[];
  cos_quantiles: QuantileEstimate[];
}

export function gradientConfusion(samples: readonly PairSample[]): GradientConfusion {
  if (samples.length === 0) throw new RangeError("gradientConfusion: no pairs");
  for (const p of samples) checkPair(p);
  const dots = samples.map((p) => p.c);
  const cosines = samples.map((p) => cosine(p.a, p.b, p.c));
  const minDot = dots.reduce((m, d) => Math.min(m, d), Infinity);
  // The dots and the cosines are samples of one size: their ranks are the same.
  const ranks = CONFUSION_QUANTILES.map((q) => quantileRanks(samples.length, q));
  return {
    eta: Math.max(0, -minDot),
    min_dot: minDot,
    negative_share: dots.filter((d) => d < 0).length / dots.length,
    n: samples.length,
    dot_quantiles: quantiles(dots, CONFUSION_QUANTILES, ranks),
    cos_quantiles: quantiles(cosines, CONFUSION_QUANTILES, ranks),
  };
}
