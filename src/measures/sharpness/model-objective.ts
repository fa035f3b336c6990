// The perturbation measures on a model: an Objective (objective.ts) served by the
// worker's GradientEngine (src/worker/gradients.ts), described here by the few methods
// used so that this library does not depend on the worker. Each evaluation writes θ + δ
// into the model's trainable weights (rounded to float32, the model's precision) and runs
// the loss's examples through it; `onModel` puts θ back afterwards.

import { checkCount, type Evaluator, type Objective } from "./objective.js";

/** What GradientEngine offers that the measures use. */
export interface TrainableModel {
  readonly parameterCount: number;
  trainableVector(): Promise<Float32Array>;
  setTrainable(values: Float32Array): void;
  /** Mean softmax cross-entropy over the examples and its gradient (one array per trainable weight). */
  minibatchGradient(indices: readonly number[]): Promise<{ loss: number; grads: Float32Array[] }>;
  /** Mean loss (reduced in float64) and accuracy over the examples, forward only. */
  lossAt(indices: readonly number[]): Promise<{ loss: number; accuracy: number }>;
}

/** Examples per forward/backward pass for a loss over many (the full training loss). */
export const DEFAULT_PASS = 1024;

function setAt(model: TrainableModel, theta: Float64Array): void {
  if (theta.length !== model.parameterCount) throw new RangeError(`a parameter vector of ${theta.length} values for ${model.parameterCount} trainable parameters`);
  model.setTrainable(Float32Array.from(theta));
}

/**
 * The mean loss over `indices` (a minibatch, or every training example for the full
 * loss). `value` is the forward-only loss reduced in float64 (lossAt); `valueAndGradient`
 * is the loss TensorFlow.js computes with the gradient, in passes of `pass` examples
 * weighted by their size. The two agree to float32 rounding (~1e-7 relative), so a rise
 * is always taken between values of the same kind.
 */
export function modelObjective(model: TrainableModel, indices: readonly number[], pass = DEFAULT_PASS): Objective {
  checkCount(indices.length, 1, "modelObjective: the number of examples");
  checkCount(pass, 1, "modelObjective: pass");
  const p = model.parameterCount;
  return {
    dimension: p,
    value: async (theta) => {
      setAt(model, theta);
      return (await model.lossAt(indices)).loss;
    },
    valueAndGradient: async (theta) => {
      setAt(model, theta);
      const gradient = new Float64Array(p);
      let value = 0;
      for (let start = 0; start < indices.length; start += pass) {
        const part = indices.slice(start, start + pass);
        const g = await model.minibatchGradient(part);
        const weight = part.length / indices.length;
        value += weight * g.loss;
        let offset = 0;
        for (const a of g.grads) {
          for (let k = 0; k < a.length; k++) gradient[offset + k] = gradient[offset + k]! + weight * a[k]!;
          offset += a.length;
        }
      }
      return { value, gradient };
    },
  };
}

/** The classification error (1 − accuracy) over `indices`: PAC-Bayes flatness by accuracy drop. */
export function modelError(model: TrainableModel, indices: readonly number[]): Evaluator {
  checkCount(indices.length, 1, "modelError: the number of examples");
  return async (theta) => {
    setAt(model, theta);
    return 1 - (await model.lossAt(indices)).accuracy;
  };
}

/** θ, the model's trainable weights now, in float64. */
export async function trainableTheta(model: TrainableModel): Promise<Float64Array> {
  return Float64Array.from(await model.trainableVector());
}

/** Runs `fn` at the model's θ and writes θ back afterwards, whether `fn` succeeded or not. */
export async function onModel<T>(model: TrainableModel, fn: (theta: Float64Array) => Promise<T>): Promise<T> {
  const saved = await model.trainableVector();
  try {
    return await fn(Float64Array.from(saved));
  } finally {
    model.setTrainable(saved);
  }
}
