// ResNet-18 with a CIFAR stem (torchvision's resnet18 with conv1 = 3×3 stride 1 padding 1
// without bias and no max pool; 32×32×3 inputs, 11.2M parameters) as a TensorFlow.js
// functional layers model, built from the layers an ONNX → TensorFlow.js converter emits:
// Conv2D (HWIO, NHWC, no bias), BatchNormalization (ε = 1e-5 as PyTorch's; used in its
// inference form, running statistics), Activation relu, Add, GlobalAveragePooling2D,
// Dense. Widths and input size are parameters so that tests can run a small one of the
// same structure.
//
// Padding. ONNX Conv carries explicit pads (PyTorch's padding=1: one row and column on
// every side). A converter can write every padded conv as ZeroPadding2D + Conv2D 'valid'
// ("zeropad"), or use 'same' where it computes the same thing ("same"): for a 3×3 stride-1
// conv 'same' pads 1 on every side as PyTorch does, but for stride 2 on an even input
// TensorFlow's 'same' pads 0 above and 1 below where PyTorch pads 1 above (and reads no
// row below), a different function; so in "same" the stride-2 convs keep ZeroPadding2D.

import type * as TF from "@tensorflow/tfjs";
import type { Dataset } from "../src/data/dataset.js";
import type { Snapshot } from "../src/model/snapshot.js";
import { Rng } from "../src/util/rng.js";

export type ResnetPadding = "zeropad" | "same";

export interface ResnetSpec {
  /** [height, width, channels] of an example (32×32×3 for CIFAR). */
  inputShape: [number, number, number];
  /** Channels of the stem and of the four stages (torchvision: 64, 64, 128, 256, 512). */
  widths: [number, number, number, number, number];
  /** BasicBlocks per stage (ResNet-18: 2 each). */
  blocks: [number, number, number, number];
  classes: number;
  padding: ResnetPadding;
  seed: number;
}

export const RESNET18_CIFAR: Omit<ResnetSpec, "padding"> = {
  inputShape: [32, 32, 3],
  widths: [64, 64, 128, 256, 512],
  blocks: [2, 2, 2, 2],
  classes: 10,
  seed: 1,
};

/** The functional model, with tfjs's own (unseeded) initial weights: resnetSnapshot sets them. */
export function resnetModel(tf: typeof TF, spec: ResnetSpec): TF.LayersModel {
  const L = tf.layers;
  const input = tf.input({ shape: spec.inputShape, name: "input" });
  const conv = (x: TF.SymbolicTensor, name: string, filters: number, kernel: number, stride: number): TF.SymbolicTensor => {
    const pad = (kernel - 1) / 2;
    if (pad > 0 && (spec.padding === "zeropad" || stride > 1)) {
      x = L.zeroPadding2d({ padding: [[pad, pad], [pad, pad]], name: `${name}_pad` }).apply(x) as TF.SymbolicTensor;
    }
    const padding = pad > 0 && spec.padding === "same" && stride === 1 ? "same" : "valid";
    return L.conv2d({ filters, kernelSize: kernel, strides: stride, padding, useBias: false, name }).apply(x) as TF.SymbolicTensor;
  };
  const bn = (x: TF.SymbolicTensor, name: string) => L.batchNormalization({ axis: -1, epsilon: 1e-5, name }).apply(x) as TF.SymbolicTensor;
  const relu = (x: TF.SymbolicTensor, name: string) => L.activation({ activation: "relu", name }).apply(x) as TF.SymbolicTensor;

  let x = relu(bn(conv(input, "conv1", spec.widths[0], 3, 1), "bn1"), "relu1");
  let channels = spec.widths[0];
  for (let stage = 0; stage < 4; stage++) {
    const width = spec.widths[stage + 1]!;
    for (let b = 0; b < spec.blocks[stage]!; b++) {
      const name = `layer${stage + 1}_${b}`;
      const stride = stage > 0 && b === 0 ? 2 : 1;
      let y = relu(bn(conv(x, `${name}_conv1`, width, 3, stride), `${name}_bn1`), `${name}_relu1`);
      y = bn(conv(y, `${name}_conv2`, width, 3, 1), `${name}_bn2`);
      const shortcut = stride !== 1 || channels !== width ? bn(conv(x, `${name}_downsample_0`, width, 1, stride), `${name}_downsample_1`) : x;
      x = relu(L.add({ name: `${name}_add` }).apply([y, shortcut]) as TF.SymbolicTensor, `${name}_relu2`);
      channels = width;
    }
  }
  x = L.globalAveragePooling2d({ name: "avgpool" }).apply(x) as TF.SymbolicTensor;
  const logits = L.dense({ units: spec.classes, name: "fc" }).apply(x) as TF.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: "resnet18_cifar" });
}

/**
 * θ for the model: conv and dense kernels uniform in ±1/√fan_in (PyTorch's default
 * init for Conv2d and Linear), the dense bias in ±0.05, BatchNorm γ in [0.5, 1.5], β in ±0.1, running means in ±0.1, running variances in
 * [0.5, 1.5]; all from our seeded Rng, so θ is the same in every process.
 */
export function resnetSnapshot(tf: typeof TF, spec: ResnetSpec): Snapshot {
  const model = resnetModel(tf, spec);
  try {
    const rng = new Rng(spec.seed, 11);
    const uniform = (lo: number, hi: number) => lo + (hi - lo) * rng.nextFloat();
    const weights = model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
    const total = weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const w of weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const kind = w.name.slice(w.name.lastIndexOf("/") + 1);
      const fanIn = w.shape.length > 1 ? w.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 0;
      const bound = kind === "kernel" ? 1 / Math.sqrt(fanIn) : 0;
      for (let i = 0; i < n; i++) {
        data[offset + i] =
          kind === "kernel" ? uniform(-bound, bound)
          : kind === "gamma" || kind === "moving_variance" ? uniform(0.5, 1.5)
          : kind === "beta" || kind === "moving_mean" ? uniform(-0.1, 0.1)
          : uniform(-0.05, 0.05); // the dense bias
      }
      offset += n;
    }
    const modelTopology = model.toJSON(null, false) as unknown as Record<string, unknown>;
    return { modelTopology, weights, data };
  } finally {
    model.dispose();
  }
}

/** Random images in [0, 1) with random labels: the rates do not depend on the values. */
export function syntheticImages(spec: Pick<ResnetSpec, "inputShape" | "classes">, n: number, seed: number): Dataset {
  const rng = new Rng(seed, 12);
  const size = spec.inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * size);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = rng.nextInt(spec.classes);
  return { name: "synthetic-images", n, featureShape: [...spec.inputShape], numClasses: spec.classes, x, y };
}
