// Padding for convolutions and pooling. ONNX pads are explicit, [top, left, bottom,
// right]; TF.js knows 'valid' and 'same'. 'same' is used where it puts the windows at
// the same places as ONNX's pads (TF.js conv_util: total = max((⌈in/s⌉−1)·s + k_eff − in, 0),
// before = ⌊total/2⌋) and gives as many outputs; otherwise a ZeroPadding2D layer and
// 'valid', where zeros are what the operator means (convolutions; average pooling that
// counts the padding, pool.ts; max pooling of values ≥ 0).

import type { Value } from "../builder.js";
import type { OnnxNode } from "../decode.js";
import { intAttr, intsAttr, stringAttr, type OpContext } from "./context.js";

export interface Window {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
}

/** A [C, H, W] map as a 4-D TF.js tensor (a global pooling's [C] is reshaped to [1, 1, C]). */
export function spatialInput(ctx: OpContext, node: OnnxNode, k = 0): Value {
  const x = ctx.g.value(node, k);
  if (x.shape.length !== 3) ctx.g.fail(node, `input ${k} has shape [N, ${x.shape}]; gradswarm converts ${node.op} on 2-D maps [N, C, H, W] only`);
  if (x.tfShape.length === 3) return x;
  const [c, h, w] = x.shape as [number, number, number];
  const layer = ctx.b.layer("Reshape", { target_shape: [h, w, c] }, [x], ctx.b.uniqueName(`${node.name}_reshape`));
  return { layer, shape: x.shape, tfShape: [h, w, c], nonneg: x.nonneg };
}

export function windowOf(ctx: OpContext, node: OnnxNode, kernel: number[]): Window {
  const pair = (v: number[] | null, name: string, fallback: number): [number, number] => {
    const r = v ?? [fallback, fallback];
    if (r.length !== 2) ctx.g.fail(node, `attribute ${name} has ${r.length} values; gradswarm converts 2-D ${node.op} only`);
    return [r[0]!, r[1]!];
  };
  const autoPad = stringAttr(ctx, node, "auto_pad", "NOTSET");
  if (autoPad !== "NOTSET" && autoPad !== "VALID") ctx.g.fail(node, `auto_pad=${autoPad} is not supported (torch.onnx.export writes explicit pads)`);
  const pads = intsAttr(ctx, node, "pads", null) ?? [0, 0, 0, 0];
  if (pads.length !== 4) ctx.g.fail(node, `attribute pads has ${pads.length} values; gradswarm converts 2-D ${node.op} only`);
  return {
    kernel: pair(kernel, "kernel_shape", 1),
    strides: pair(intsAttr(ctx, node, "strides", null), "strides", 1),
    dilations: pair(intsAttr(ctx, node, "dilations", null), "dilations", 1),
    pads: (autoPad === "VALID" ? [0, 0, 0, 0] : pads) as Window["pads"],
  };
}

/** ONNX's output size along one axis (floor, or ceil with ceil_mode). */
function outSize(size: number, k: number, s: number, d: number, before: number, after: number, ceil: boolean): number {
  const span = size + before + after - ((k - 1) * d + 1);
  return (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
}

/** The output [H, W] of the window on an [H, W] map; ceil_mode=1 only where it changes nothing. */
export function outputSize(ctx: OpContext, node: OnnxNode, hw: [number, number], win: Window): [number, number] {
  const ceil = intAttr(ctx, node, "ceil_mode", 0) === 1;
  const out = [0, 1].map((a) => outSize(hw[a]!, win.kernel[a]!, win.strides[a]!, win.dilations[a]!, win.pads[a]!, win.pads[a + 2]!, false)) as [number, number];
  if (ceil) {
    const c = [0, 1].map((a) => outSize(hw[a]!, win.kernel[a]!, win.strides[a]!, win.dilations[a]!, win.pads[a]!, win.pads[a + 2]!, true));
    if (c[0] !== out[0] || c[1] !== out[1]) ctx.g.fail(node, `ceil_mode=1 gives a ${c[0]}×${c[1]} output where TF.js gives ${out[0]}×${out[1]}; use ceil_mode=False or open an issue`);
  }
  if (out[0] < 1 || out[1] < 1) ctx.g.fail(node, `its ${win.kernel[0]}×${win.kernel[1]} window leaves no output on a ${hw[0]}×${hw[1]} map`);
  return out;
}

/** Whether TF.js's 'same' puts the windows where ONNX's pads put them. */
function sameMatches(hw: [number, number], win: Window, out: [number, number]): boolean {
  return [0, 1].every((a) => {
    const s = win.strides[a]!;
    const kEff = (win.kernel[a]! - 1) * win.dilations[a]! + 1;
    const tfOut = Math.ceil(hw[a]! / s);
    const total = Math.max((tfOut - 1) * s + kEff - hw[a]!, 0);
    return tfOut === out[a] && Math.floor(total / 2) === win.pads[a];
  });
}

/**
 * The input and padding mode that compute the ONNX window exactly: 'valid' without pads,
 * 'same' where it matches, else zero padding where `zerosExact`, else a refusal naming `why`.
 */
export function padded(ctx: OpContext, node: OnnxNode, x: Value, win: Window, out: [number, number], zerosExact: boolean, why: string): { input: Value; padding: "valid" | "same" } {
  if (win.pads.every((p) => p === 0)) return { input: x, padding: "valid" };
  const hw: [number, number] = [x.shape[1]!, x.shape[2]!];
  // TF.js's 'same' pads a convolution with zeros and leaves the pad out of a max pooling,
  // as ONNX does; an average pooling that counts the padding needs the zeros themselves.
  // Max pooling of values ≥ 0 takes the zero padding even where 'same' matches: the wasm
  // backend's (tfjs-backend-wasm 4.22) max-pooling gradient is wrong wherever 'same' pads
  // (measured against the cpu backend), and values ≥ 0 are the common case (after a ReLU).
  const preferZeros = node.op === "AveragePool" || (node.op === "MaxPool" && zerosExact);
  if (sameMatches(hw, win, out) && !preferZeros) return { input: x, padding: "same" };
  if (!zerosExact) ctx.g.fail(node, `pads [${win.pads}] on a ${hw[0]}×${hw[1]} map: ${why}`);
  const [t, l, b, r] = win.pads;
  return { input: zeroPad(ctx, x, [t, l, b, r], `${node.name}_pad`), padding: "valid" };
}

export function zeroPad(ctx: OpContext, x: Value, [t, l, b, r]: [number, number, number, number], base: string): Value {
  const layer = ctx.b.layer("ZeroPadding2D", { padding: [[t, b], [l, r]], data_format: "channels_last" }, [x], ctx.b.uniqueName(base));
  const [c, h, w] = x.shape as [number, number, number];
  return { layer, shape: [c, h + t + b, w + l + r], tfShape: [h + t + b, w + l + r, c], nonneg: x.nonneg };
}
