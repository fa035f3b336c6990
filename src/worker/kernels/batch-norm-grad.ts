// The gradient of FusedBatchNorm (tf.batchNorm: what a BatchNormalization layer runs in its
// inference form, with its moving mean and variance), without the full-size Tile of
// tfjs-core 4.22's own: it builds dx as dy · tile(1/√(σ²+ε), [B, H, W, 1]) · γ, copying a
// per-channel vector out to the size of the activation and then multiplying twice. On
// ResNet-18-CIFAR at B=32 on wasm that Tile alone took 11% of a gradient's kernel time
// (bench/README.md, "ResNet-18"). Here every per-channel factor is folded into one vector
// first and broadcast by the multiply:
//   dx = dy · (γ/√(σ²+ε)),  dγ = Σ dy · (x − μ) · 1/√(σ²+ε),  dβ = Σ dy,
//   dμ = −Σ dy · γ/√(σ²+ε),  dσ² = Σ dy · γ · (x − μ) · (−½)(σ²+ε)^(−3/2),
// sums over every axis but the channels. The same values as the stock gradient up to
// float32 rounding (products regrouped); each input's gradient is computed only when the
// tape asks for it (in the inference form, only x, γ and β are on its path). Running means
// and variances of another rank than 1 go to the stock gradient.

import type * as TF from "@tensorflow/tfjs";

const KERNEL = "FusedBatchNorm";

/** Marks the gradient registered here, so that registering again changes nothing. */
const OURS = Symbol.for("gradswarm.batchNormGrad");

/** Replaces tfjs-core's gradient of FusedBatchNorm (for every backend: gradients are not per backend). */
export function registerBatchNormGradient(tf: typeof TF): boolean {
  const stock = tf.getGradient(KERNEL);
  if (!stock) throw new Error(`tfjs-core has no gradient for ${KERNEL} to replace`);
  if ((stock.gradFunc as { [OURS]?: boolean })[OURS]) return false;
  const gradFunc: TF.GradFunc = (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as TF.Tensor[];
    if (mean!.rank !== 1) return stock.gradFunc(dy, saved, attrs);
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const g = Array.isArray(dy) ? dy[0]! : dy;
    const axes = Array.from({ length: x!.rank - 1 }, (_, i) => i); // all but the channels
    const rsqrt = () => tf.rsqrt(tf.add(variance!, tf.scalar(varianceEpsilon)));
    const gammaOverSd = () => (scale ? tf.mul(rsqrt(), scale) : rsqrt());
    return {
      x: () => tf.mul(g, gammaOverSd()),
      mean: () => tf.neg(tf.sum(tf.mul(g, gammaOverSd()), axes)),
      variance: () => {
        const r = rsqrt();
        const factor = tf.mul(tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5)), scale ?? tf.scalar(1));
        return tf.sum(tf.mul(tf.mul(g, tf.sub(x!, mean!)), factor), axes);
      },
      scale: () => tf.mul(tf.sum(tf.mul(g, tf.sub(x!, mean!)), axes), rsqrt()),
      offset: () => tf.sum(g, axes),
    };
  };
  Object.defineProperty(gradFunc, OURS, { value: true });
  tf.registerGradient({ kernelName: KERNEL, inputsToSave: stock.inputsToSave, gradFunc });
  return true;
}
