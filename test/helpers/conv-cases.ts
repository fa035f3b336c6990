// Convolution shapes for the conv-gradient kernels' tests (wasm and webgpu), and the
// Conv2DBackpropFilter kernel called directly (tfjs has no public op for it).

import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../../src/util/rng.js";

export interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
}

export const CONV_CASES: ConvCase[] = [
  // The small CNN: 28×28×1 → 8 'same'; after pooling 14×14×8 → 16 'valid' stride 2.
  { x: [64, 28, 28, 1], filter: [3, 3, 1, 8], strides: 1, pad: "same" },
  { x: [64, 14, 14, 8], filter: [3, 3, 8, 16], strides: 2, pad: "valid" },
  // Odd sizes, strides 1 and 2 (also mixed), 'same' and 'valid', even kernels, explicit pads.
  { x: [3, 9, 11, 4], filter: [3, 3, 4, 5], strides: 2, pad: "same" },
  { x: [2, 10, 7, 3], filter: [2, 2, 3, 6], strides: 2, pad: "same" },
  { x: [2, 10, 7, 3], filter: [4, 2, 3, 6], strides: 1, pad: "same" },
  { x: [2, 13, 12, 2], filter: [5, 3, 2, 3], strides: [2, 1], pad: "valid" },
  { x: [1, 8, 8, 3], filter: [3, 3, 3, 2], strides: 2, pad: "valid" },
  { x: [4, 7, 9, 5], filter: [1, 1, 5, 7], strides: 2, pad: "valid" },
  { x: [2, 6, 6, 2], filter: [3, 3, 2, 4], strides: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { x: [2, 9, 9, 2], filter: [3, 3, 2, 4], strides: 2, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
];

/** The Conv2DBackpropFilter kernel itself (tfjs has no public op for it). */
export function backpropFilter(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], strides: ConvCase["strides"], pad: ConvCase["pad"], dataFormat = "NHWC"): tf.Tensor {
  return tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides, pad, dataFormat, dimRoundingMode: undefined, filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

export function caseName(c: ConvCase): string {
  return `x [${c.x}] filter [${c.filter}] strides ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`;
}


/** A random convolution: kernels 1–4, inputs up to 3×12×12×4, strides 1–2, 'same' or 'valid'. */
export function randomConvCase(rng: Rng): { x: [number, number, number, number]; filter: [number, number, number, number]; strides: [number, number]; pad: "same" | "valid" } {
  const randInt = (lo: number, hi: number) => lo + Math.floor(rng.nextFloat() * (hi - lo + 1));
  const kh = randInt(1, 4);
  const kw = randInt(1, 4);
  const x: [number, number, number, number] = [randInt(1, 3), randInt(kh, 12), randInt(kw, 12), randInt(1, 4)];
  const filter: [number, number, number, number] = [kh, kw, x[3], randInt(1, 5)];
  const strides: [number, number] = [randInt(1, 2), randInt(1, 2)];
  const pad = rng.nextFloat() < 0.5 ? "same" : "valid";
  return { x, filter, strides, pad };
}
