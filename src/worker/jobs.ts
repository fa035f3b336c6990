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

export async function runCurvature(e: GradientEngine, job: Extract<Job, { type: "curvature" }>): Promise<CurvatureItem[]> {
  const theta = await e.trainableVector();
  const h = job.step > 0 ? job.step : defaultStep(theta);
  const out: CurvatureItem[] = [];
  try {
    for (const item of job.items) {
      const oracle: GradientOracle = async (at) => {
        e.setTrainable(at);
        return e.gradientOver(item.indices);
      };
      // One stream per item, so an item's estimate does not depend on its task's other items.
      const power = await powerIteration(oracle, theta, { maxIterations: job.maxIterations, tolerance: job.tolerance, h, seed: job.seed, stream: 2 * item.id });
      const trace = job.probes > 0 ? await hutchinsonTrace(oracle, theta, { probes: job.probes, h, seed: job.seed, stream: 2 * item.id + 1 }) : { mean: 0, stderr: 0 };
      out.push({ id: item.id, lambda: power.lambda, iterations: power.iterations, converged: power.converged, trace: trace.mean, traceStderr: trace.stderr });
    }
  } finally {
    e.setTrainable(theta);
  }
  return out;
}
