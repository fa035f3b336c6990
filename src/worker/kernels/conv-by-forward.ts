// Convolution gradients from forward convolutions, on tfjs-backend-wasm and (optionally)
// tfjs-backend-webgpu: what the two kernels (conv2d-backprop-filter.ts,
// conv2d-backprop-input.ts) share.
//
// tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter, so the gradient of any conv
// layer's kernel throws there; its Conv2DBackpropInput is a scalar C loop. On webgpu the
// backprop kernels are correct but were ~100× slower than cuDNN on an H200 (docs/design.md "Measured facts"), while its
// forward conv is a matmul-based kernel: the same construction may be faster there. Both are
// written as one forward Conv2D each (XNNPACK on wasm), between transposes (NHWC, dilation 1,
// any stride, 'same' / 'valid' / explicit padding); each file
// describes its construction.

import type * as TF from "@tensorflow/tfjs";
import { backendKernel, single, type BackendLike, type Info, type Temps } from "./raw-kernel.js";

export class ConvGradientError extends Error {
  override name = "ConvGradientError";
}

export type ConvAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  dilations?: number | [number, number];
};

export function convInfo(tf: typeof TF, on: string, kernel: string, xShape: number[], filterShape: number[], attrs: ConvAttrs): TF.backend_util.Conv2DInfo {
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

/** Rows to keep (a slice) and the non-negative pads left to the convolution. */
export type PadOrCrop = { begin: number; size: number; before: number; after: number };

/**
 * A pad of `before`/`after` around `length` rows, either of which may be negative (rows
 * to drop): the slice to keep and the non-negative pads left to the convolution.
 */
export function padOrCrop(length: number, before: number, after: number): PadOrCrop {
  const begin = Math.max(0, -before);
  const size = length - begin - Math.max(0, -after);
  if (size <= 0) throw new ConvGradientError(`a convolution gradient would crop all ${length} rows`);
  return { begin, size, before: Math.max(0, before), after: Math.max(0, after) };
}

export function conv2d(tf: typeof TF, on: string, backend: BackendLike, x: Info, filter: Info, pads: [number, number, number, number], dilations: [number, number]): Info {
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

export function sliceIfNeeded(tf: typeof TF, on: string, backend: BackendLike, temps: Temps, t: Info, rows: PadOrCrop, cols: PadOrCrop): Info {
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
