// The jobs besides pairs: loss at landscape points, and curvature of minibatch (or
// full-data) losses. Both only move θ and ask for losses or gradients; θ is restored
// afterwards whatever happens, so the next task starts from the snapshot.

import type { CurvatureItem } from "../protocol/index.js";
import { defaultStep, hutchinsonTrace, powerIteration, type GradientOracle } from "../measures/curvature.js";
import type { Job } from "./compute-messages.js";
import type { GradientEngine } from "./gradients.js";

export async function runLoss(
  e: GradientEngine,
  points: { id: number; alpha: number; beta: number }[],
  directions: Float32Array[],
  indices: number[],
): Promise<{ id: number; loss: number; accuracy: number }[]> {
  const [d1, d2] = directions;
  const out = [];
  try {
    for (const p of points) {
      if (!d1) {
        e.setWeights(null);
      } else {
        const theta = await e.weightVector();
        for (let j = 0; j < theta.length; j++) theta[j] = theta[j]! + p.alpha * d1[j]! + (d2 ? p.beta * d2[j]! : 0);
        e.setWeights(theta);
      }
      out.push({ id: p.id, ...(await e.lossAt(indices)) });
    }
  } finally {
    e.setWeights(null);
  }
  return out;
}

/** Relative size of the second difference above which a central difference crossed a kink. */
export const KINK_THRESHOLD = 0.1;

/**
 * A default finite-difference step for the model. Through piecewise-linear activations
 * (ReLU and the like) the gradient jumps where a unit switches; a central difference
 * straddling such a switch measures the jump, not curvature, and the chance of
 * straddling one grows with the step. So for those models the step is much smaller than
 * the smooth optimum, as small as float32 θ allows (each coordinate moving ≥ 32 ulps).
 */
export function curvatureStep(theta: Float32Array, piecewiseLinear: boolean): number {
  const smooth = defaultStep(theta);
  if (!piecewiseLinear) return smooth;
  let sq = 0;
  for (const t of theta) sq += t * t;
  const rms = Math.sqrt(sq / theta.length);
  const floor = 32 * 2 ** -23 * Math.max(rms, 1e-30) * Math.sqrt(theta.length);
  return Math.min(smooth, Math.max(3e-5 * Math.max(1, rms), floor));
}

/**
 * The gradient oracle of one loss, watching every central difference it serves: with g₀
 * the gradient at θ, a smooth loss has g₊ − 2g₀ + g₋ = O(h²) against g₊ − g₋ = O(h); a
 * difference that straddles a kink has a second difference as large as the jump. Those
 * products are counted, so that a curvature built on them is reported as unreliable.
 */
function watchedOracle(e: GradientEngine, indices: number[], g0: Float64Array): { oracle: GradientOracle; products: () => number; kinked: () => number } {
  let pending: Float64Array | null = null;
  let products = 0;
  let kinked = 0;
  const oracle: GradientOracle = async (at) => {
    e.setTrainable(at);
    const g = await e.gradientOver(indices);
    if (pending === null) {
      pending = g; // g₊: the product's first call
    } else {
      let second = 0;
      let first = 0;
      for (let i = 0; i < g.length; i++) {
        second += (pending[i]! - 2 * g0[i]! + g[i]!) ** 2;
        first += (pending[i]! - g[i]!) ** 2;
      }
      products++;
      if (Math.sqrt(second) > KINK_THRESHOLD * Math.sqrt(first)) kinked++;
      pending = null;
    }
    return g;
  };
  return { oracle, products: () => products, kinked: () => kinked };
}

export async function runCurvature(e: GradientEngine, job: Extract<Job, { type: "curvature" }>): Promise<CurvatureItem[]> {
  const theta = await e.trainableVector();
  const h = job.step > 0 ? job.step : curvatureStep(theta, e.piecewiseLinear);
  const out: CurvatureItem[] = [];
  try {
    for (const item of job.items) {
      e.setTrainable(theta);
      const g0 = await e.gradientOver(item.indices);
      const w = watchedOracle(e, item.indices, g0);
      // One stream per item, so an item's estimate does not depend on its task's other items.
      const power = await powerIteration(w.oracle, theta, { maxIterations: job.maxIterations, tolerance: job.tolerance, h, seed: job.seed, stream: 2 * item.id });
      const trace = job.probes > 0 ? await hutchinsonTrace(w.oracle, theta, { probes: job.probes, h, seed: job.seed, stream: 2 * item.id + 1 }) : { mean: 0, stderr: 0 };
      out.push({
        id: item.id,
        lambda: power.lambda,
        iterations: power.iterations,
        converged: power.converged,
        trace: trace.mean,
        traceStderr: Number.isFinite(trace.stderr) ? trace.stderr : 0,
        products: w.products(),
        kinked: w.kinked(),
      });
    }
  } finally {
    e.setTrainable(theta);
  }
  return out;
}
