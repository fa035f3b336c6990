// DepthwiseConv2dNativeBackpropInput and DepthwiseConv2dNativeBackpropFilter on
// tfjs-backend-wasm, which registers neither (4.22): without them no gradient passes a
// DepthwiseConv2D layer there. Plain loops over the wasm heap, as tfjs-backend-cpu's own
// kernels, reordered so that the channels are the innermost loop (NHWC: contiguous), with
// float64 accumulators for the filter gradient. A depthwise conv does KH·KW multiply-adds
// per output value, C times fewer than a full conv of the same width, so in the networks
// that use it (MobileNets) the pointwise 1×1 convs around it dominate; these loops are
// correct, not tuned.
//
// Filter [KH, KW, C, M], output channel d2 = c·M + m. Both kernels take the same attributes
// as the cpu backend's (strides, dilations, pad, dimRoundingMode, and inputShape or
// filterShape) and compute the same sums:
//   dx[b,h,w,c] = Σ_{i,j,m} dy[b,p,q,c·M+m] · W[i,j,c,m]   over p·sh + i·dh − top = h, q·sw + j·dw − left = w
//   dW[i,j,c,m] = Σ_{b,p,q} x[b, p·sh + i·dh − top, q·sw + j·dw − left, c] · dy[b,p,q,c·M+m]

import type * as TF from "@tensorflow/tfjs";
import { ConvGradientError } from "./conv-by-forward.js";
import type { WasmLike } from "./filter-cache.js";
import type { KernelOfOurs } from "./register.js";
import type { Info, KernelArgs, RawKernelFunc } from "./raw-kernel.js";

type DepthwiseAttrs = {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: "valid" | "same" | number | TF.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape?: number[];
  filterShape?: number[];
};

function info(tf: typeof TF, kernel: string, xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): TF.backend_util.Conv2DInfo {
  if (xShape.length !== 4 || filterShape.length !== 4) throw new ConvGradientError(`${kernel} on wasm needs 4-D input and filter, got [${xShape}] and [${filterShape}]`);
  if (xShape[3] !== filterShape[2]) throw new ConvGradientError(`${kernel}: input depth ${xShape[3]} does not match the filter's ${filterShape[2]}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

function checkFloat(kernel: string, ...ts: Info[]): void {
  for (const t of ts) if (t.dtype !== "float32") throw new ConvGradientError(`${kernel} on wasm supports float32 only, got ${t.dtype}`);
}

function makeBackpropInput(tf: typeof TF): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as DepthwiseAttrs;
    checkFloat("DepthwiseConv2dNativeBackpropInput", dy, filter);
    const c = info(tf, "DepthwiseConv2dNativeBackpropInput", attrs.inputShape!, filter.shape, attrs);
    if (dy.shape.join() !== c.outShape.join()) throw new ConvGradientError(`DepthwiseConv2dNativeBackpropInput: dy has shape [${dy.shape}], expected [${c.outShape}]`);
    const backend = args.backend as WasmLike;
    const out = backend.makeOutput(c.inShape, "float32"); // before the views: it may grow the heap
    const dx = backend.typedArrayFromHeap(out) as Float32Array;
    const g = backend.typedArrayFromHeap(dy) as Float32Array;
    const w = backend.typedArrayFromHeap(filter) as Float32Array;
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: OC, filterHeight: KH, filterWidth: KW } = c;
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
    const { top, left } = c.padInfo;
    const M = OC / C;
    dx.fill(0);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < OH; p++) {
        for (let q = 0; q < OW; q++) {
          const gOff = ((b * OH + p) * OW + q) * OC;
          for (let i = 0; i < KH; i++) {
            const h = p * sh + i * dh - top;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < KW; j++) {
              const x = q * sw + j * dw - left;
              if (x < 0 || x >= W) continue;
              const xOff = ((b * H + h) * W + x) * C;
              const wOff = (i * KW + j) * OC;
              if (M === 1) {
                for (let ch = 0; ch < C; ch++) dx[xOff + ch] = dx[xOff + ch]! + g[gOff + ch]! * w[wOff + ch]!;
              } else {
                for (let ch = 0; ch < C; ch++) {
                  let s = 0;
                  for (let m = 0; m < M; m++) s += g[gOff + ch * M + m]! * w[wOff + ch * M + m]!;
                  dx[xOff + ch] = dx[xOff + ch]! + s;
                }
              }
            }
          }
        }
      }
    }
    return out;
  };
}

function makeBackpropFilter(tf: typeof TF): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as DepthwiseAttrs;
    checkFloat("DepthwiseConv2dNativeBackpropFilter", x, dy);
    const c = info(tf, "DepthwiseConv2dNativeBackpropFilter", x.shape, attrs.filterShape!, attrs);
    if (dy.shape.join() !== c.outShape.join()) throw new ConvGradientError(`DepthwiseConv2dNativeBackpropFilter: dy has shape [${dy.shape}], expected [${c.outShape}]`);
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: OC, filterHeight: KH, filterWidth: KW } = c;
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
    const { top, left } = c.padInfo;
    const M = OC / C;
    const acc = new Float64Array(KH * KW * OC); // [KH, KW, C, M] flat: (i·KW + j)·OC + c·M + m
    const backend = args.backend as WasmLike;
    const xs = backend.typedArrayFromHeap(x) as Float32Array;
    const g = backend.typedArrayFromHeap(dy) as Float32Array;
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < OH; p++) {
        for (let q = 0; q < OW; q++) {
          const gOff = ((b * OH + p) * OW + q) * OC;
          for (let i = 0; i < KH; i++) {
            const h = p * sh + i * dh - top;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < KW; j++) {
              const col = q * sw + j * dw - left;
              if (col < 0 || col >= W) continue;
              const xOff = ((b * H + h) * W + col) * C;
              const aOff = (i * KW + j) * OC;
              if (M === 1) {
                for (let ch = 0; ch < C; ch++) acc[aOff + ch] = acc[aOff + ch]! + xs[xOff + ch]! * g[gOff + ch]!;
              } else {
                for (let d2 = 0; d2 < OC; d2++) acc[aOff + d2] = acc[aOff + d2]! + xs[xOff + Math.floor(d2 / M)]! * g[gOff + d2]!;
              }
            }
          }
        }
      }
    }
    const out = backend.makeOutput(c.filterShape, "float32");
    (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
    return out;
  };
}

/** DepthwiseConv2dNativeBackpropInput (wasm: missing). */
export const depthwiseBackpropInput: KernelOfOurs = {
  kernelName: "DepthwiseConv2dNativeBackpropInput",
  purpose: "loops over the heap (missing in tfjs-backend-wasm)",
  wrapsOriginal: false,
  make: (tf) => makeBackpropInput(tf),
};

/** DepthwiseConv2dNativeBackpropFilter (wasm: missing). */
export const depthwiseBackpropFilter: KernelOfOurs = {
  kernelName: "DepthwiseConv2dNativeBackpropFilter",
  purpose: "loops over the heap (missing in tfjs-backend-wasm)",
  wrapsOriginal: false,
  make: (tf) => makeBackpropFilter(tf),
};
