// Conv2DBackpropFilter from one forward Conv2D between transposes (conv-by-forward.ts):
// tfjs-backend-wasm 4.22 registers none, so the gradient of any conv layer's kernel throws
// there; on webgpu it replaces the stock kernel when asked (--conv-grad forward).
//
// Filter gradient. dW[i,j,c,o] = Σ_{b,p,q} xpad[b, p·sh+i, q·sw+j, c] · dy[b,p,q,o]. With
// x as [C, H, W, B] (the input channels as the batch, the batch as the channels) and dy
// as a filter [OH, OW, B, O], that is a stride-1 convolution with dilation (sh, sw) whose
// output is [C, KH, KW, O]; padded top/left as the forward pass and bottom/right so that
// exactly KH×KW outputs come out (a negative pad crops rows the forward pass never read).

import type * as TF from "@tensorflow/tfjs";
import { conv2d, convInfo, ConvGradientError, padOrCrop, sliceIfNeeded, type ConvAttrs } from "./conv-by-forward.js";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, Temps, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

function makeBackpropFilter(tf: typeof TF, on: string): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const info = convInfo(tf, on, "Conv2DBackpropFilter", x.shape, attrs.filterShape, attrs);
    if (dy.shape.join() !== info.outShape.join()) throw new ConvGradientError(`Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    if (x.dtype !== "float32" || dy.dtype !== "float32") throw new ConvGradientError(`Conv2DBackpropFilter on ${on} supports float32 only`);
    const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const backend = args.backend as BackendLike;
    const transpose = backendKernel(tf, on, "Transpose");
    const temps = new Temps(backend);
    try {
      // Rows of the padded input the forward pass read: KH + (OH−1)·sh from `top` above row 0.
      const rows = padOrCrop(H, top, KH + (OH - 1) * sh - H - top);
      const cols = padOrCrop(W, left, KW + (OW - 1) * sw - W - left);
      const xc = sliceIfNeeded(tf, on, backend, temps, x, rows, cols);
      const xt = temps.keep(single(transpose({ inputs: { x: xc }, backend, attrs: { perm: [3, 1, 2, 0] } }))); // [C, H', W', B]
      const dyt = temps.keep(single(transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }))); // [OH, OW, B, O]
      const g = temps.keep(conv2d(tf, on, backend, xt, dyt, [rows.before, rows.after, cols.before, cols.after], [sh, sw])); // [C, KH, KW, O]
      if (g.shape[1] !== KH || g.shape[2] !== KW) throw new ConvGradientError(`Conv2DBackpropFilter: internal shape [${g.shape}] for a ${KH}×${KW} filter`);
      return single(transpose({ inputs: { x: g }, backend, attrs: { perm: [1, 2, 0, 3] } })); // [KH, KW, C, O]
    } finally {
      temps.dispose();
    }
  };
}


/** Conv2DBackpropFilter (wasm, webgpu with forward conv gradients). */
export const conv2DBackpropFilter: KernelOfOurs = {
  kernelName: "Conv2DBackpropFilter",
  purpose: "from one forward Conv2D",
  wrapsOriginal: false,
  make: (tf, on) => makeBackpropFilter(tf, on),
};
