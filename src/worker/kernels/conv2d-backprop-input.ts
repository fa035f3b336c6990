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

/** Which taps of a filter dimension of size k with stride s serve output rows of residue r. */
function phase(k: number, s: number, r: number): { taps: number; offset: number } {
  const taps = Math.max(0, Math.ceil((k - r) / s)); // i = r, r + s, … < k
  return { taps, offset: k - 1 - r - s * (taps - 1) }; // their first row in the flipped filter
}

/**
 * A strided input gradient as sh·sw stride-1 convolutions of dy itself, one per phase of
 * the input rows and columns, instead of one convolution of dy⁺, which is (s−1)/s zeros
 * along each strided axis (3/4 of the multiply-adds wasted at stride 2). Input row h with
 * h + top = s·u + r receives Σ_k dy[u − k] · W[r + s·k]: a full correlation of dy with the
 * taps r, r + s, … of the filter (flipped: rows offset, offset + s, … of Wr). Each phase's
 * output rows u_lo… land on rows s·u + r − top of dx, written into it on the heap. The
 * phases' sub-filters are kept with the flipped filter (wasm only).
 */
function byPhases(tf: typeof TF, backend: WasmLike, cache: FilterCache, dy: Info, filter: Info, info: TF.backend_util.Conv2DInfo): Info {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const on = "wasm";
  const subFilters = cache.get(backend, filter, `phases ${sh}x${sw}`, () => {
    const wr = cache.get(backend, filter, "flipped", () => [flippedFilter(tf, on, backend, filter)])[0]!; // [KH, KW, O, C]
    const out: Info[] = [];
    for (let r = 0; r < sh; r++) {
      for (let c = 0; c < sw; c++) {
        const pr = phase(KH, sh, r);
        const pc = phase(KW, sw, c);
        if (pr.taps === 0 || pc.taps === 0) {
          // No taps serve this phase (its rows of dx stay zero): a placeholder, one more
          // reference to wr, released with the others.
          (backend as unknown as { incRef(id: object): void }).incRef(wr.dataId);
          out.push({ ...wr });
          continue;
        }
        const sub = backend.makeOutput([pr.taps, pc.taps, O, C], "float32");
        const src = backend.typedArrayFromHeap(wr) as Float32Array;
        const dst = backend.typedArrayFromHeap(sub) as Float32Array;
        const n = O * C;
        for (let k = 0; k < pr.taps; k++) {
          for (let l = 0; l < pc.taps; l++) {
            const from = ((pr.offset + sh * k) * KW + pc.offset + sw * l) * n;
            dst.set(src.subarray(from, from + n), (k * pc.taps + l) * n);
          }
        }
        out.push(sub);
      }
    }
    return out;
  });
  const dx = backend.makeOutput([B, H, W, C], "float32");
  (backend.typedArrayFromHeap(dx) as Float32Array).fill(0);
  const temps = new Temps(backend);
  try {
    for (let r = 0; r < sh; r++) {
      const pr = phase(KH, sh, r);
      const uLo = Math.ceil((top - r) / sh);
      const nRows = Math.floor((H - 1 + top - r) / sh) - uLo + 1;
      if (pr.taps === 0 || nRows <= 0) continue;
      for (let c = 0; c < sw; c++) {
        const pc = phase(KW, sw, c);
        const vLo = Math.ceil((left - c) / sw);
        const nCols = Math.floor((W - 1 + left - c) / sw) - vLo + 1;
        if (pc.taps === 0 || nCols <= 0) continue;
        // Output u (from uLo) reads dy rows u − taps + 1 … u: pad taps − 1 − uLo above.
        const rowsBefore = pr.taps - 1 - uLo;
        const rows = padOrCrop(OH, rowsBefore, nRows + pr.taps - 1 - OH - rowsBefore);
        const colsBefore = pc.taps - 1 - vLo;
        const cols = padOrCrop(OW, colsBefore, nCols + pc.taps - 1 - OW - colsBefore);
        const dyc = sliceIfNeeded(tf, on, backend, temps, dy, rows, cols);
        const part = temps.keep(conv2d(tf, on, backend, dyc, subFilters[r * sw + c]!, [rows.before, rows.after, cols.before, cols.after], [1, 1]));
        if (part.shape[1] !== nRows || part.shape[2] !== nCols) throw new ConvGradientError(`Conv2DBackpropInput: phase (${r}, ${c}) gave [${part.shape}], expected ${nRows}×${nCols} rows×columns`);
        const src = backend.typedArrayFromHeap(part) as Float32Array;
        const dst = backend.typedArrayFromHeap(dx) as Float32Array;
        for (let b = 0; b < B; b++) {
          for (let u = 0; u < nRows; u++) {
            const h = sh * (uLo + u) + r - top;
            for (let v = 0; v < nCols; v++) {
              const w = sw * (vLo + v) + c - left;
              const from = ((b * nRows + u) * nCols + v) * C;
              dst.set(src.subarray(from, from + C), ((b * H + h) * W + w) * C);
            }
          }
        }
      }
    }
    return dx;
  } catch (err) {
    backend.disposeData(dx.dataId);
    throw err;
  } finally {
    temps.dispose();
  }
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
    if (cache && (sh > 1 || sw > 1)) return byPhases(tf, backend as unknown as WasmLike, cache, dy, filter, info);
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
      const wr = cache ? cache.get(backend as unknown as WasmLike, filter, "flipped", () => [flippedFilter(tf, on, backend, filter)])[0]! : temps.keep(flippedFilter(tf, on, backend, filter));
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
