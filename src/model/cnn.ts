// A small CNN from config: flattened images reshaped to [height, width, channels], then
// blocks of conv (3×3, 'same', the activation) + 2×2 max pooling, then a linear Dense
// output (logits). Like the MLP, its Keras topology is written out directly and its
// weights drawn from our seeded Rng, so θ is the same in every process.

import { Rng } from "../util/rng.js";
import type { MlpActivation, MlpInit } from "./mlp.js";
import { parameterCount, type Snapshot, type WeightSpec } from "./snapshot.js";

export interface CnnSpec {
  /** [height, width, channels] of one example (the data's features, reshaped). */
  inputShape: [number, number, number];
  /** Filters of each conv block. */
  filters: number[];
  kernel: number;
  classes: number;
  activation: MlpActivation;
  seed: number;
  init: MlpInit;
}

const INIT = { class_name: "VarianceScaling", config: { scale: 1, mode: "fan_avg", distribution: "uniform", seed: null } };
const ZEROS = { class_name: "Zeros", config: {} };

/** Spatial size after `blocks` conv ('same') + 2×2 pooling ('valid') blocks. */
export function cnnFeatureMap(spec: Pick<CnnSpec, "inputShape" | "filters">): [number, number, number] {
  let [h, w] = spec.inputShape;
  for (let b = 0; b < spec.filters.length; b++) {
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  }
  return [h, w, spec.filters.at(-1) ?? spec.inputShape[2]];
}

export function cnnTopology(spec: CnnSpec): Record<string, unknown> {
  const [h, w, c] = spec.inputShape;
  const layers: Record<string, unknown>[] = [
    { class_name: "Reshape", config: { target_shape: [h, w, c], name: "reshape", trainable: true, batch_input_shape: [null, h * w * c], dtype: "float32" } },
  ];
  spec.filters.forEach((filters, b) => {
    layers.push({
      class_name: "Conv2D",
      config: {
        filters,
        kernel_initializer: INIT,
        kernel_regularizer: null,
        kernel_constraint: null,
        kernel_size: [spec.kernel, spec.kernel],
        strides: [1, 1],
        padding: "same",
        data_format: "channels_last",
        dilation_rate: [1, 1],
        activation: spec.activation,
        use_bias: true,
        bias_initializer: ZEROS,
        bias_regularizer: null,
        activity_regularizer: null,
        bias_constraint: null,
        name: `conv2d_${b + 1}`,
        trainable: true,
      },
    });
    layers.push({ class_name: "MaxPooling2D", config: { pool_size: [2, 2], padding: "valid", strides: [2, 2], data_format: "channels_last", name: `max_pooling2d_${b + 1}`, trainable: true } });
  });
  layers.push({ class_name: "Flatten", config: { name: "flatten", trainable: true } });
  layers.push({
    class_name: "Dense",
    config: {
      units: spec.classes,
      activation: "linear",
      use_bias: true,
      kernel_initializer: INIT,
      bias_initializer: ZEROS,
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      name: "dense_1",
      trainable: true,
    },
  });
  return { class_name: "Sequential", config: { name: "cnn", layers }, keras_version: "tfjs-layers 4.22.0", backend: "tensor_flow.js" };
}

export function cnnSnapshot(spec: CnnSpec): Snapshot {
  if (spec.filters.length === 0) throw new RangeError("model.filters needs at least one conv block");
  const [mh, mw] = cnnFeatureMap(spec);
  if (mh < 1 || mw < 1) throw new RangeError(`model.filters: ${spec.filters.length} blocks of 2×2 pooling leave nothing of a ${spec.inputShape[0]}×${spec.inputShape[1]} input`);
  const weights: WeightSpec[] = [];
  // [fanIn, fanOut] of each kernel, for its initialisation.
  const fans: [number, number][] = [];
  let channels = spec.inputShape[2];
  spec.filters.forEach((filters, b) => {
    weights.push({ name: `conv2d_${b + 1}/kernel`, shape: [spec.kernel, spec.kernel, channels, filters] }, { name: `conv2d_${b + 1}/bias`, shape: [filters] });
    fans.push([spec.kernel * spec.kernel * channels, spec.kernel * spec.kernel * filters]);
    channels = filters;
  });
  const flat = cnnFeatureMap(spec).reduce((a, b) => a * b, 1);
  weights.push({ name: "dense_1/kernel", shape: [flat, spec.classes] }, { name: "dense_1/bias", shape: [spec.classes] });
  fans.push([flat, spec.classes]);
  const data = new Float32Array(parameterCount(weights));
  let offset = 0;
  fans.forEach(([fanIn, fanOut], k) => {
    const size = weights[2 * k]!.shape.reduce((a, b) => a * b, 1);
    const kernel = data.subarray(offset, offset + size);
    // One Rng stream per kernel, as in the MLP.
    const rng = new Rng(spec.seed, k + 1);
    if (spec.init === "glorot_uniform") {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) kernel[i] = (2 * rng.nextFloat() - 1) * limit;
    } else {
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < size; i++) kernel[i] = rng.nextNormal() * std;
    }
    offset += size + weights[2 * k + 1]!.shape[0]!;
  });
  return { modelTopology: cnnTopology(spec), weights, data };
}
