// Convolution gradients from forward convolutions, on tfjs-backend-wasm and (optionally)
// tfjs-backend-webgpu.
//
// tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter, so the gradient of any conv
// layer's kernel throws there; its Conv2DBackpropInput is a scalar C loop. On webgpu the
// backprop kernels are correct but were ~100× slower than cuDNN (docs/design.md "Measured facts"), while its
// forward conv is a matmul-based kernel: the same construction may be faster there. Both are
// written here as one forward Conv2D each (XNNPACK on wasm), between transposes (NHWC, dilation 1,
// any stride, 'same' / 'valid' / explicit padding):
//
// Filter gradient. dW[i,j,c,o] = Σ_{b,p,q} xpad[b, p·sh+i, q·sw+j, c] · dy[b,p,q,o]. With
// x as [C, H, W, B] (the input channels as the batch, the batch as the channels) and dy
// as a filter [OH, OW, B, O], that is a stride-1 convolution with dilation (sh, sw) whose
// output is [C, KH, KW, O]; padded top/left as the forward pass and bottom/right so that
// exactly KH×KW outputs come out (a negative pad crops rows the forward pass never read).
//
// Input gradient. dx[b,h,w,c] = Σ_{i,j,o} dy⁺[b, h+pt−i, w+pl−j, o] · W[i,j,c,o], where dy⁺
// is dy with (s−1) zeros after each row and column (two PadV2s of dy seen as
// [B, OH, 1, OW·O] and then [B·OH·sh, OW, 1, O]). With the filter flipped and its channels swapped,
// Wr[i,j,o,c] = W[KH−1−i, KW−1−j, c, o], that is a stride-1 convolution of dy⁺ padded
// KH−1−pt on top and KW−1−pl on the left.

import type * as TF from "@tensorflow/tfjs";
import { backendKernel, isOurs, markOurs, single, Temps, view, type Info, type KernelArgs, type RawKernelFunc, type WasmBackendLike } from "./kernels.js";

export class ConvGradientError extends Error {
  override name = "ConvGradientError";
}

type ConvAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  dilations?: number | [number, number];
};

function convInfo(tf: typeof TF, on: string, kernel: string, xShape: number[], filterShape: number[], attrs: ConvAttrs): TF.backend_util.Conv2DInfo {
  const format = attrs.dataFormat ?? "NHWC";
  if (format !== "NHWC") throw new ConvGradientError(`${kernel} on ${on} supports only dataFormat NHWC, not ${format}`);
  const dilations = attrs.dilations ?? 1;
  const dil = typeof dilations === "number" ? [dilations, dilations] : dilations;
  if (dil[0] !== 1 || dil[1] !== 1) throw new ConvGradientError(`${kernel} on ${on} supports only dilation 1, not [${dil}]`);
  if (xShape.length !== 4 || filterShape.length !== 4) throw new ConvGradientError(`${kernel} on ${on} needs 4-D input and filter, got [${xShape}] and [${filterShape}]`);
  if (xShape[3] !== filterShape[2]) throw new ConvGradientError(`${kernel}: input depth ${xShape[3]} does not match the filter's ${filterShape[2]}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
}

/**
 * A pad of `before`/`after` around `length` rows, either of which may be negative (rows
 * to drop): the slice to keep and the non-negative pads left to the convolution.
 */
function padOrCrop(length: number, before: number, after: number): { begin: number; size: number; before: number; after: number } {
  const begin = Math.max(0, -before);
  const size = length - begin - Math.max(0, -after);
  if (size <= 0) throw new ConvGradientError(`a convolution gradient would crop all ${length} rows`);
  return { begin, size, before: Math.max(0, before), after: Math.max(0, after) };
}

function conv2d(tf: typeof TF, on: string, backend: WasmBackendLike, x: Info, filter: Info, pads: [number, number, number, number], dilations: [number, number]): Info {
  const [top, bottom, left, right] = pads;
  return single(
    backendKernel(tf, on, "Conv2D")({
      inputs: { x, filter },
      backend,
      attrs: {
        strides: [1, 1],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: "NHWC",
        dilations,
        dimRoundingMode: undefined as unknown as string,
      } as unknown as TF.NamedAttrMap,
    }),
  );
}

function sliceIfNeeded(tf: typeof TF, on: string, backend: WasmBackendLike, temps: Temps, t: Info, rows: ReturnType<typeof padOrCrop>, cols: ReturnType<typeof padOrCrop>): Info {
  if (rows.begin === 0 && cols.begin === 0 && rows.size === t.shape[1] && cols.size === t.shape[2]) return t;
  return temps.keep(
    single(
      backendKernel(tf, on, "Slice")({
        inputs: { x: t },
        backend,
        attrs: { begin: [0, rows.begin, cols.begin, 0], size: [t.shape[0]!, rows.size, cols.size, t.shape[3]!] },
      }),
    ),
  );
}

function makeBackpropFilter(tf: typeof TF, on: string): RawKernelFunc {
  return markOurs((args: KernelArgs): Info => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const info = convInfo(tf, on, "Conv2DBackpropFilter", x.shape, attrs.filterShape, attrs);
    if (dy.shape.join() !== info.outShape.join()) throw new ConvGradientError(`Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    if (x.dtype !== "float32" || dy.dtype !== "float32") throw new ConvGradientError(`Conv2DBackpropFilter on ${on} supports float32 only`);
    const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const backend = args.backend as WasmBackendLike;
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
  });
}

function makeBackpropInput(tf: typeof TF, on: string): RawKernelFunc {
  return markOurs((args: KernelArgs): Info => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    const info = convInfo(tf, on, "Conv2DBackpropInput", attrs.inputShape, filter.shape, attrs);
    if (dy.shape.join() !== info.outShape.join()) throw new ConvGradientError(`Conv2DBackpropInput: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    if (dy.dtype !== "float32" || filter.dtype !== "float32") throw new ConvGradientError(`Conv2DBackpropInput on ${on} supports float32 only`);
    const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const backend = args.backend as WasmBackendLike;
    const transpose = backendKernel(tf, on, "Transpose");
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
      const flipped = temps.keep(single(backendKernel(tf, on, "Reverse")({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } })));
      const wr = temps.keep(single(transpose({ inputs: { x: flipped }, backend, attrs: { perm: [0, 1, 3, 2] } }))); // [KH, KW, O, C]
      const dx = conv2d(tf, on, backend, upc, wr, [rows.before, rows.after, cols.before, cols.after], [1, 1]);
      if (dx.shape[1] !== H || dx.shape[2] !== W) {
        backend.disposeData(dx.dataId);
        throw new ConvGradientError(`Conv2DBackpropInput: internal shape [${dx.shape}] for input [${attrs.inputShape}]`);
      }
      return dx;
    } finally {
      temps.dispose();
    }
  });
}

export interface ConvGradOptions {
  /** The backend whose kernels are replaced: "wasm" (the default) or "webgpu". */
  backend?: string;
  /**
   * Also replace the backend's own Conv2DBackpropInput (on wasm a scalar C loop) with the
   * forward-conv one. Default true.
   */
  replaceBackpropInput?: boolean;
}

/**
 * Registers Conv2DBackpropFilter (missing on wasm) and, by default, replaces
 * Conv2DBackpropInput, on `options.backend`. Idempotent; returns the names of the kernels
 * registered now.
 */
export function installConvGradients(tf: typeof TF, options: ConvGradOptions = {}): string[] {
  const on = options.backend ?? "wasm";
  const done: string[] = [];
  const filter = tf.getKernel("Conv2DBackpropFilter", on);
  if (!isOurs(filter)) {
    if (filter) tf.unregisterKernel("Conv2DBackpropFilter", on);
    tf.registerKernel({ kernelName: "Conv2DBackpropFilter", backendName: on, kernelFunc: makeBackpropFilter(tf, on) as unknown as TF.KernelFunc });
    done.push("Conv2DBackpropFilter");
  }
  if (options.replaceBackpropInput ?? true) {
    const input = tf.getKernel("Conv2DBackpropInput", on);
    if (!isOurs(input)) {
      if (input) tf.unregisterKernel("Conv2DBackpropInput", on);
      tf.registerKernel({ kernelName: "Conv2DBackpropInput", backendName: on, kernelFunc: makeBackpropInput(tf, on) as unknown as TF.KernelFunc });
      done.push("Conv2DBackpropInput");
    }
  }
  return done;
}
