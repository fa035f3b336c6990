// Conv2DBackpropInput from one forward Conv2D (conv-by-forward.ts): on tfjs-backend-wasm
// 4.22 the stock kernel is a scalar C loop; on webgpu it replaces the stock kernel when
// asked (--conv-grad forward).
//
// Input gradient. dx[b,h,w,c] = Σ_{i,j,o} dy⁺[b, h+pt−i, w+pl−j, o] · W[i,j,c,o], where dy⁺
// is dy with (s−1) zeros after each row and column (two PadV2s of dy seen as
// [B, OH, 1, OW·O] and then [B·OH·sh, OW, 1, O]). With the filter flipped and its channels swapped,
// Wr[i,j,o,c] = W[KH−1−i, KW−1−j, c, o], that is a stride-1 convolution of dy⁺ padded
// KH−1−pt on top and KW−1−pl on the left. On wasm, Wr is made once per filter tensor.

import type * as TF from "@tensorflow/tfjs";
import { conv2d, convInfo, ConvGradientError, padOrCrop, sliceIfNeeded, type ConvAttrs } from "./conv-by-forward.js";
import { FilterCache, type WasmLike } from "./filter-cache.js";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, Temps, view, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

/**
 * Wr[i,j,o,c] = W[KH−1−i, KW−1−j, c, o]: the filter as [KH·KW, C, O] transposed to
 * [KH·KW, O, C], then its taps in reverse order. On wasm the reversal is one memcpy per
 * tap in the heap (its Reverse kernel took 80 ms for a 3×3×512×512 filter, four times the
 * transpose); elsewhere the backend's Reverse.
 */
function flippedFilter(tf: typeof TF, on: string, backend: BackendLike, filter: Info): Info {
  const [KH, KW, C, O] = filter.shape as [number, number, number, number];
  const taps = KH * KW;
  const t = single(backendKernel(tf, on, "Transpose")({ inputs: { x: view(filter, [taps, C, O]) }, backend, attrs: { perm: [0, 2, 1] } })); // [KH·KW, O, C]
  if (on !== "wasm") {
    try {
      return single(backendKernel(tf, on, "Reverse")({ inputs: { x: view(t, [KH, KW, O, C]) }, backend, attrs: { dims: [0, 1] } }));
    } finally {
      backend.disposeData(t.dataId);
    }
  }
  const wasm = backend as unknown as WasmLike;
  const out = wasm.makeOutput([KH, KW, O, C], "float32");
  const src = wasm.typedArrayFromHeap({ ...t, shape: [taps * O * C] }) as Float32Array;
  const dst = wasm.typedArrayFromHeap(out) as Float32Array;
  const n = O * C;
  for (let tap = 0; tap < taps; tap++) dst.set(src.subarray((taps - 1 - tap) * n, (taps - tap) * n), tap * n);
  backend.disposeData(t.dataId);
  return out;
}

function makeBackpropInput(tf: typeof TF, on: string): RawKernelFunc {
  // On wasm the flipped filter is kept while the filter lives (filter-cache.ts): a layer's
  // kernel is the same tensor for every gradient at one θ, and XNNPACK's operator for the
  // convolution, keyed by the filter's data, is kept with it instead of packed again.
  const cache = on === "wasm" ? new FilterCache() : null;
  return (args: KernelArgs): Info => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    const info = convInfo(tf, on, "Conv2DBackpropInput", attrs.inputShape, filter.shape, attrs);
    if (dy.shape.join() !== info.outShape.join()) throw new ConvGradientError(`Conv2DBackpropInput: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    if (dy.dtype !== "float32" || filter.dtype !== "float32") throw new ConvGradientError(`Conv2DBackpropInput on ${on} supports float32 only`);
    const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const backend = args.backend as BackendLike;
    const temps = new Temps(backend);
    try {
      // dy⁺: (s−1) zeros after every row and column, [B, OH·sh, OW·sw, O].
      let up: Info = dy;
      if (sh > 1 || sw > 1) {
        // Two 4-D pads rather than one 6-D one (tfjs-webgpu's pad shader cannot index a
        // rank-6 coordinate): zeros after each row, then after each column.
        const pad4 = (x: Info, after: number): Info =>
          temps.keep(
            single(
              backendKernel(tf, on, "PadV2")({
                inputs: { x },
                backend,
                attrs: {
                  paddings: [
                    [0, 0],
                    [0, 0],
                    [0, after],
                    [0, 0],
                  ],
                  constantValue: 0,
                } as unknown as TF.NamedAttrMap,
              }),
            ),
          );
        const rowsDone = sh > 1 ? pad4(view(dy, [B, OH, 1, OW * O]), sh - 1) : dy; // [B, OH, sh, OW·O]
        up = sw > 1 ? pad4(view(rowsDone, [B * OH * sh, OW, 1, O]), sw - 1) : rowsDone; // [B·OH·sh, OW, sw, O]
        up = view(up, [B, OH * sh, OW * sw, O]);
      }
      // Output row h reads dy⁺ rows h + pt − i for i in [0, KH): pad KH−1−pt above, and
      // below whatever makes H outputs (negative: rows no output reads).
      const before = KH - 1 - top;
      const rows = padOrCrop(OH * sh, before, H + KH - 1 - OH * sh - before);
      const beforeW = KW - 1 - left;
      const cols = padOrCrop(OW * sw, beforeW, W + KW - 1 - OW * sw - beforeW);
      const upc = sliceIfNeeded(tf, on, backend, temps, up, rows, cols);
      const wr = cache ? cache.get(backend as unknown as WasmLike, filter, () => flippedFilter(tf, on, backend, filter)) : temps.keep(flippedFilter(tf, on, backend, filter));
      const dx = conv2d(tf, on, backend, upc, wr, [rows.before, rows.after, cols.before, cols.after], [1, 1]);
      if (dx.shape[1] !== H || dx.shape[2] !== W) {
        backend.disposeData(dx.dataId);
        throw new ConvGradientError(`Conv2DBackpropInput: internal shape [${dx.shape}] for input [${attrs.inputShape}]`);
      }
      return dx;
    } finally {
      temps.dispose();
    }
  };
}


/** Conv2DBackpropInput (wasm, webgpu with forward conv gradients). */
export const conv2DBackpropInput: KernelOfOurs = {
  kernelName: "Conv2DBackpropInput",
  purpose: "from one forward Conv2D",
  wrapsOriginal: false,
  make: (tf, on) => makeBackpropInput(tf, on),
};
