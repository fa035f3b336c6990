// An MLP from config: its Keras/TensorFlow.js topology JSON written out directly (so it
// does not depend on TensorFlow.js's global layer-name counters) and weights drawn from
// our seeded Rng (so θ is the same in every process and on every backend).

import { Rng } from "../util/rng.js";
import { parameterCount, type Snapshot, type WeightSpec } from "./snapshot.js";

export const MLP_ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", "elu"] as const;
export type MlpActivation = (typeof MLP_ACTIVATIONS)[number];
export const MLP_INITS = ["glorot_uniform", "he_normal"] as const;
export type MlpInit = (typeof MLP_INITS)[number];

export interface MlpSpec {
  /** Sizes from input to output: [784, 64, 10] is one hidden layer of 64. */
  layers: number[];
  /** Activation of the hidden layers; the output layer is linear (logits). */
  activation: MlpActivation;
  seed: number;
  init: MlpInit;
}

function denseConfig(name: string, units: number, activation: string, inputSize?: number): Record<string, unknown> {
  const config: Record<string, unknown> = {
    units,
    activation,
    use_bias: true,
    kernel_initializer: { class_name: "VarianceScaling", config: { scale: 1, mode: "fan_avg", distribution: "uniform", seed: null } },
    bias_initializer: { class_name: "Zeros", config: {} },
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
    name,
    trainable: true,
  };
  if (inputSize !== undefined) {
    config.batch_input_shape = [null, inputSize];
    config.dtype = "float32";
  }
  return { class_name: "Dense", config };
}

export function mlpTopology(spec: MlpSpec): Record<string, unknown> {
  const layers = spec.layers.slice(1).map((units, i) => {
    const last = i === spec.layers.length - 2;
    return denseConfig(`dense_${i + 1}`, units, last ? "linear" : spec.activation, i === 0 ? spec.layers[0] : undefined);
  });
  return {
    class_name: "Sequential",
    config: { name: "mlp", layers },
    keras_version: "tfjs-layers 4.22.0",
    backend: "tensor_flow.js",
  };
}

export function mlpSnapshot(spec: MlpSpec): Snapshot {
  if (spec.layers.length < 2) throw new RangeError(`model.layers needs at least an input and an output size, got [${spec.layers}]`);
  const weights: WeightSpec[] = [];
  for (let i = 0; i + 1 < spec.layers.length; i++) {
    const name = `dense_${i + 1}`;
    weights.push({ name: `${name}/kernel`, shape: [spec.layers[i]!, spec.layers[i + 1]!] }, { name: `${name}/bias`, shape: [spec.layers[i + 1]!] });
  }
  // One buffer for all of θ, filled in place: a 100M-parameter model is allocated once.
  const data = new Float32Array(parameterCount(weights));
  let offset = 0;
  for (let i = 0; i + 1 < spec.layers.length; i++) {
    const fanIn = spec.layers[i]!;
    const fanOut = spec.layers[i + 1]!;
    // One Rng stream per layer: changing one layer's size leaves the others' draws alone.
    const rng = new Rng(spec.seed, i + 1);
    const kernel = data.subarray(offset, offset + fanIn * fanOut);
    if (spec.init === "glorot_uniform") {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let k = 0; k < kernel.length; k++) kernel[k] = (2 * rng.nextFloat() - 1) * limit;
    } else {
      const std = Math.sqrt(2 / fanIn);
      for (let k = 0; k < kernel.length; k++) kernel[k] = rng.nextNormal() * std;
    }
    offset += fanIn * fanOut + fanOut; // the bias stays 0
  }
  return { modelTopology: mlpTopology(spec), weights, data };
}
