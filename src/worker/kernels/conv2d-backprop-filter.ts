// Conv2DBackpropFilter: on tfjs-backend-wasm as matrix products through XNNPACK, one per
// filter tap and block of output pixels (below); on webgpu, when asked (--conv-grad
// forward), as one forward Conv2D between transposes (conv-by-forward.ts).
// tfjs-backend-wasm 4.22 registers none, so without it the gradient of any conv layer's
// kernel throws there.
//
// Filter gradient. dW[i,j,c,o] = Σ_{b,p,q} xpad[b, p·sh+i, q·sw+j, c] · dy[b,p,q,o].
//
// wasm, by taps: for tap (i,j), the input pixels it reads, one row per output pixel
// (b,p,q), are X_ij [B·OH·OW, C] (an im2col of one tap, copied in the heap: for stride 1
// a whole output row is one contiguous run of x), and dW[i,j]ᵀ = dyᵀ · X_ij, an [O, C]
// product over the B·OH·OW output pixels, dy [B·OH·OW, O] being dy itself. XNNPACK's
// GEMM does not block its inner dimension, so one product over all 32,768 pixels of a
// 32×32 layer at B=32 streams megabytes per output tile; the pixels are taken in blocks
// of about BLOCK_PIXELS (whole output rows) and the blocks' products summed. dyᵀ per block
// is one Transpose; the taps' [O, C] results are transposed to [KH, KW, C, O] at the end.
//
// webgpu (and the wasm construction before, kept for webgpu): with x as [C, H, W, B] (the
// input channels as the batch, the batch as the channels) and dy as a filter
// [OH, OW, B, O], that is a stride-1 convolution with dilation (sh, sw) whose output is
// [C, KH, KW, O]; padded top/left as the forward pass and bottom/right so that exactly
// KH×KW outputs come out (a negative pad crops rows the forward pass never read).

import type * as TF from "@tensorflow/tfjs";
import { conv2d, convInfo, ConvGradientError, padOrCrop, sliceIfNeeded, type ConvAttrs } from "./conv-by-forward.js";
import type { WasmLike } from "./filter-cache.js";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, Temps, view, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

/**
 * Output pixels per block of the wasm products: the inner dimension of each GEMM. Chosen
 * by bench/resnet18-profile.ts --by-shape on ResNet-18-CIFAR's shapes (README of bench/).
 */
export const BLOCK_PIXELS = 1024;

/** The wasm construction: one XNNPACK product per tap and block of output rows. */
function byTaps(tf: typeof TF, backend: WasmLike, x: Info, dy: Info, info: TF.backend_util.Conv2DInfo, blockPixels: number): Info {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const taps = KH * KW;
  const matMul = backendKernel(tf, "wasm", "BatchMatMul");
  const transpose = backendKernel(tf, "wasm", "Transpose");
  const plain = { transposeA: false, transposeB: false };
  const rowsPerBlock = Math.max(1, Math.floor(blockPixels / OW)); // output rows (b, p) per block
  const outRows = B * OH;
  const heap = (t: Info) => backend.typedArrayFromHeap(t) as Float32Array; // again after every allocation (the heap may grow)
  const acc = backend.makeOutput([taps, O, C], "float32"); // dW[i,j]ᵀ per tap
  const temps = new Temps(backend);
  try {
    for (let r0 = 0; r0 < outRows; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, outRows - r0);
      const n = rows * OW;
      // dyᵀ of the block: its rows of dy are contiguous ([n, O] from pixel r0·OW).
      const dyBlock = backend.makeOutput([n, O], "float32");
      heap(dyBlock).set(heap(dy).subarray(r0 * OW * O, (r0 * OW + n) * O));
      const dyT = single(transpose({ inputs: { x: dyBlock }, backend, attrs: { perm: [1, 0] } })); // [O, n]
      backend.disposeData(dyBlock.dataId);
      temps.keep(dyT);
      for (let i = 0; i < KH; i++) {
        for (let j = 0; j < KW; j++) {
          const col = backend.makeOutput([n, C], "float32"); // X_ij for the block's pixels
          try {
            const src = heap(x);
            const dst = heap(col);
            // Output columns q whose input column q·sw + j − left is inside x: q in [qLo, qHi).
            const qLo = Math.min(OW, Math.max(0, Math.ceil((left - j) / sw)));
            const qHi = Math.max(qLo, Math.min(OW, Math.floor((W - 1 + left - j) / sw) + 1));
            for (let r = 0; r < rows; r++) {
              const b = Math.floor((r0 + r) / OH);
              const p = (r0 + r) % OH;
              const h = p * sh + i - top;
              const rowOut = r * OW * C;
              if (h < 0 || h >= H || qLo === qHi) {
                dst.fill(0, rowOut, rowOut + OW * C);
                continue;
              }
              if (qLo > 0) dst.fill(0, rowOut, rowOut + qLo * C);
              if (qHi < OW) dst.fill(0, rowOut + qHi * C, rowOut + OW * C);
              const rowIn = (b * H + h) * W * C;
              if (sw === 1) {
                const from = rowIn + (qLo + j - left) * C;
                dst.set(src.subarray(from, from + (qHi - qLo) * C), rowOut + qLo * C);
              } else {
                for (let q = qLo; q < qHi; q++) {
                  const from = rowIn + (q * sw + j - left) * C;
                  dst.set(src.subarray(from, from + C), rowOut + q * C);
                }
              }
            }
            const part = single(matMul({ inputs: { a: view(dyT, [1, O, n]), b: view(col, [1, n, C]) }, backend, attrs: plain })); // [1, O, C]
            const sum = heap(acc);
            const add = heap(part);
            const at = (i * KW + j) * O * C;
            if (r0 === 0) sum.set(add, at);
            else for (let k = 0; k < O * C; k++) sum[at + k]! += add[k]!;
            backend.disposeData(part.dataId);
          } finally {
            backend.disposeData(col.dataId);
          }
        }
      }
      temps.dispose();
    }
    const out = single(transpose({ inputs: { x: acc }, backend, attrs: { perm: [0, 2, 1] } })); // [KH·KW, C, O]
    out.shape = [KH, KW, C, O];
    return out;
  } finally {
    temps.dispose();
    backend.disposeData(acc.dataId);
  }
}

/** The webgpu construction: one forward Conv2D between transposes. */
function byForwardConv(tf: typeof TF, on: string, backend: BackendLike, x: Info, dy: Info, info: TF.backend_util.Conv2DInfo): Info {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
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
}

/** How the wasm kernel computes: "taps" (the default) or "forward" (the webgpu construction, for comparison). */
export type WasmFilterGradient = { method: "taps"; blockPixels: number } | { method: "forward" };
let wasmMethod: WasmFilterGradient = { method: "taps", blockPixels: BLOCK_PIXELS };

/** Chooses the wasm construction (benchmarks and tests compare them; workers keep the default). */
export function setWasmFilterGradient(m: WasmFilterGradient): void {
  wasmMethod = m;
}

function makeBackpropFilter(tf: typeof TF, on: string): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const info = convInfo(tf, on, "Conv2DBackpropFilter", x.shape, attrs.filterShape, attrs);
    if (dy.shape.join() !== info.outShape.join()) throw new ConvGradientError(`Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    if (x.dtype !== "float32" || dy.dtype !== "float32") throw new ConvGradientError(`Conv2DBackpropFilter on ${on} supports float32 only`);
    const backend = args.backend as BackendLike;
    if (on === "wasm" && wasmMethod.method === "taps") return byTaps(tf, backend as WasmLike, x, dy, info, wasmMethod.blockPixels);
    return byForwardConv(tf, on, backend, x, dy, info);
  };
}

/** Conv2DBackpropFilter (wasm: XNNPACK products per filter tap; webgpu with forward conv gradients). */
export const conv2DBackpropFilter: KernelOfOurs = {
  kernelName: "Conv2DBackpropFilter",
  purpose: "XNNPACK products per filter tap (wasm), one forward Conv2D (webgpu)",
  wrapsOriginal: false,
  make: (tf, on) => makeBackpropFilter(tf, on),
};
