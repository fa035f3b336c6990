// The forward pass of a stack of Dense layers for training on tfjs-backend-wasm, where it
// differs from model.apply in one respect: a layer wider than the minibatch computes
// x·W as (Wᵀ·xᵀ)ᵀ. XNNPACK (behind the wasm backend's matmul) packs the right-hand
// operand of every product into its own layout and keeps the packing only while that
// tensor lives; in training W changes every step, so x·W repacked all of W each step,
// about 30% of a step's CPU time for MLP 784-256-10 at B=32 (bench/README.md, "Training
// steps"). (Wᵀ·xᵀ)ᵀ packs the minibatch instead, B×k values rather than k×n. The
// products were bit-identical to x·W where measured; the gradients follow by autodiff.

import type * as TF from "@tensorflow/tfjs";
import { activate, type DenseSpec } from "../worker/grouped.js";

/** Logits of a flat minibatch x [B, features] through the Dense stack. */
export function denseForward(tf: typeof TF, layers: readonly DenseSpec[], x: TF.Tensor2D): TF.Tensor2D {
  let h: TF.Tensor2D = x;
  for (const layer of layers) {
    const kernel = layer.kernel as TF.Tensor2D;
    const units = kernel.shape[1];
    let z: TF.Tensor2D = h.shape[0] < units ? (tf.transpose(tf.matMul(kernel, h, true, true)) as TF.Tensor2D) : tf.matMul(h, kernel);
    if (layer.bias) z = tf.add(z, layer.bias) as TF.Tensor2D;
    for (const a of layer.activations) z = activate(tf, z, a) as TF.Tensor2D;
    h = z;
  }
  return h;
}
