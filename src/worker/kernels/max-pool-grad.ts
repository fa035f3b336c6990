// MaxPoolGrad on tfjs-backend-wasm. Its own (4.22) is wrong where windows do not tile the
// input: a 2×2 window of stride 2 on 7 rows ('valid', or 'same' with its pad below) gave
// gradients off by whole dy values against the cpu backend and against a brute-force
// argmax (test/unit/wasm-depthwise-pool.test.ts). A plain loop over the heap instead: each
// output's dy goes to the first maximum of its window in row-major order (padding never
// wins), as tfjs-backend-cpu and TensorFlow route it.

import type * as TF from "@tensorflow/tfjs";
import { ConvGradientError } from "./conv-by-forward.js";
import type { WasmLike } from "./filter-cache.js";
import type { KernelOfOurs } from "./register.js";
import type { Info, KernelArgs, RawKernelFunc } from "./raw-kernel.js";

type PoolAttrs = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | TF.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
};

function makeMaxPoolGrad(tf: typeof TF): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const { dy, input } = args.inputs as { dy: Info; input: Info };
    const attrs = args.attrs as unknown as PoolAttrs;
    if (dy.dtype !== "float32" || input.dtype !== "float32") throw new ConvGradientError(`MaxPoolGrad on wasm supports float32 only`);
    if (input.shape.length !== 4) throw new ConvGradientError(`MaxPoolGrad on wasm needs a 4-D input, got [${input.shape}]`);
    const c = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    if (dy.shape.join() !== c.outShape.join()) throw new ConvGradientError(`MaxPoolGrad: dy has shape [${dy.shape}], expected [${c.outShape}]`);
    const backend = args.backend as WasmLike;
    const out = backend.makeOutput(input.shape, "float32"); // before the views: it may grow the heap
    const dx = backend.typedArrayFromHeap(out) as Float32Array;
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const g = backend.typedArrayFromHeap(dy) as Float32Array;
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = c;
    const { top, left } = c.padInfo;
    dx.fill(0);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < OH; p++) {
        const h0 = Math.max(0, p * sh - top);
        const h1 = Math.min(H, p * sh - top + KH);
        for (let q = 0; q < OW; q++) {
          const w0 = Math.max(0, q * sw - left);
          const w1 = Math.min(W, q * sw - left + KW);
          const gOff = ((b * OH + p) * OW + q) * C;
          for (let ch = 0; ch < C; ch++) {
            let best = -Infinity;
            let at = -1;
            for (let h = h0; h < h1; h++) {
              for (let w = w0; w < w1; w++) {
                const k = ((b * H + h) * W + w) * C + ch;
                if (x[k]! > best || at < 0) {
                  best = x[k]!;
                  at = k;
                }
              }
            }
            if (at >= 0) dx[at] = dx[at]! + g[gOff + ch]!;
          }
        }
      }
    }
    return out;
  };
}

/** MaxPoolGrad (wasm: replaces one that is wrong where windows do not tile the input). */
export const maxPoolGrad: KernelOfOurs = {
  kernelName: "MaxPoolGrad",
  purpose: "a loop over the heap (the stock kernel misroutes gradients where windows do not tile the input)",
  wrapsOriginal: false,
  make: (tf) => makeMaxPoolGrad(tf),
};
