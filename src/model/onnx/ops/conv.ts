// Conv as TF.js Conv2D (group 1, kernel OIHW → HWIO) or DepthwiseConv2D (group = C_in,
// kernel [C·M, 1, kH, kW] → [kH, kW, C, M]); Pad with zeros on H and W as ZeroPadding2D.

import type { Value } from "../builder.js";
import type { OnnxNode, OnnxTensor } from "../decode.js";
import { intAttr, layerNameFor, output, stringAttr, type OpContext, type OpConverter } from "./context.js";
import { outputSize, padded, spatialInput, windowOf, zeroPad, type Window } from "./spatial.js";

const conv: OpConverter = (node: OnnxNode, ctx: OpContext) => {
  const x = spatialInput(ctx, node);
  const w = ctx.g.parameter(node, 1, "weight");
  if (w.dims.length !== 4) ctx.g.fail(node, `its weight '${w.name}' has shape [${w.dims}]; gradswarm converts 2-D convolutions (Conv2d) only`);
  const [o, perGroup, kh, kw] = w.dims as [number, number, number, number];
  const [c, h, wd] = x.shape as [number, number, number];
  const group = intAttr(ctx, node, "group", 1);
  const depthwise = group === c && perGroup === 1 && group > 1;
  if (group !== 1 && !depthwise) ctx.g.fail(node, `group=${group} on ${c} channels is not yet supported: gradswarm converts group=1 and depthwise (group = in_channels) convolutions; export without it or open an issue`);
  if (!depthwise && perGroup !== c) ctx.g.fail(node, `its weight '${w.name}' takes ${perGroup} channels but the input has ${c}`);
  if (depthwise && o % c !== 0) ctx.g.fail(node, `a depthwise convolution with ${o} outputs on ${c} channels`);
  const win = windowOf(ctx, node, [kh, kw]);
  const out = outputSize(ctx, node, [h, wd], win);
  if (win.dilations.some((d) => d > 1)) {
    if (depthwise || win.strides.some((s) => s > 1)) ctx.g.fail(node, `dilation [${win.dilations}] with ${depthwise ? "a depthwise convolution" : `strides [${win.strides}]`} is not yet supported: TensorFlow.js (4.22) computes no gradients for dilated convolutions, and gradswarm rewrites only stride-1, group-1 ones; export without it or open an issue`);
    return dilatedConv(ctx, node, x, w, win, out);
  }
  const { input, padding } = padded(ctx, node, x, win, out, true, "");
  const bias = node.inputs[2] ? ctx.g.parameter(node, 2, "bias", [o]) : null;
  const name = layerNameFor(ctx, w.name, node);
  const common = { kernel_size: [kh, kw], strides: win.strides, padding, data_format: "channels_last", dilation_rate: win.dilations, activation: "linear", use_bias: bias !== null };
  let layer: string;
  if (depthwise) {
    const multiplier = o / c;
    layer = ctx.b.layer("DepthwiseConv2D", { ...common, depth_multiplier: multiplier }, [input], name);
    ctx.b.weight(layer, "depthwise_kernel", w.name, w.dims, w.data, { kind: "depthwise", multiplier }, true);
  } else {
    layer = ctx.b.layer("Conv2D", { ...common, filters: o }, [input], name);
    ctx.b.weight(layer, "kernel", w.name, w.dims, w.data, { kind: "conv" }, true);
  }
  if (bias) ctx.b.weight(layer, "bias", bias.name, bias.dims, bias.data, { kind: "same" }, true);
  output(ctx, node, { layer, shape: [o, out[0], out[1]], tfShape: [out[0], out[1], o], nonneg: false });
};

/**
 * A stride-1 dilated convolution without TF.js's dilated Conv2D, which has no gradient
 * (tfjs-core Conv2D_grad: "dilation rates greater than 1 are not yet supported in
 * gradients"). With the input zero-padded to Hp × Wp (multiples of the dilations dh, dw),
 * output row a·dh + r reads only input rows ≡ r (mod dh): each of the P = dh·dw phases is
 * an undilated 'valid' convolution of its subgrid. The subgrids are stacked along the
 * height (Reshape, Permute, Reshape) and convolved by one Conv2D; the kH − 1 output rows of
 * each block that straddle two blocks are cut off (ZeroPadding2D to whole blocks, Reshape,
 * Cropping2D), and the phases are interleaved back; rows added to reach a multiple of the
 * dilation are cropped at the end. (A Conv3D over the phases would be shorter, but
 * tfjs-backend-wasm's Conv3D disagrees with the cpu backend's.)
 */
function dilatedConv(ctx: OpContext, node: OnnxNode, x: Value, w: OnnxTensor & { data: Float32Array }, win: Window, out: [number, number]): void {
  const [o, , kh, kw] = w.dims as [number, number, number, number];
  const [c, h, wd] = x.shape as [number, number, number];
  const [dh, dw] = win.dilations;
  const [t, l, b, r] = win.pads;
  const extraH = (dh - ((h + t + b) % dh)) % dh;
  const extraW = (dw - ((wd + l + r) % dw)) % dw;
  const base = ctx.b.uniqueName(node.name);
  let v = x;
  if (t + b + l + r + extraH + extraW > 0) v = zeroPad(ctx, v, [t, l, b + extraH, r + extraW], `${base}_pad`);
  const [hq, wq] = [(h + t + b + extraH) / dh, (wd + l + r + extraW) / dw];
  const phases = dh * dw;
  const [ho, wo] = [hq - kh + 1, wq - kw + 1];
  const step = (className: string, config: Record<string, unknown>, suffix: string, tfShape: number[]): void => {
    v = { layer: ctx.b.layer(className, config, [v], ctx.b.uniqueName(`${base}_${suffix}`)), shape: v.shape, tfShape, nonneg: false };
  };
  step("Reshape", { target_shape: [hq, dh, wq, dw, c] }, "split", [hq, dh, wq, dw, c]);
  step("Permute", { dims: [2, 4, 1, 3, 5] }, "phases", [dh, dw, hq, wq, c]);
  step("Reshape", { target_shape: [phases * hq, wq, c] }, "stack", [phases * hq, wq, c]);
  const bias = node.inputs[2] ? ctx.g.parameter(node, 2, "bias", [o]) : null;
  const layer = ctx.b.layer("Conv2D", { filters: o, kernel_size: [kh, kw], strides: [1, 1], padding: "valid", data_format: "channels_last", dilation_rate: [1, 1], activation: "linear", use_bias: bias !== null }, [v], layerNameFor(ctx, w.name, node));
  ctx.b.weight(layer, "kernel", w.name, w.dims, w.data, { kind: "conv" }, true);
  if (bias) ctx.b.weight(layer, "bias", bias.name, bias.dims, bias.data, { kind: "same" }, true);
  v = { layer, shape: v.shape, tfShape: [phases * hq - kh + 1, wo, o], nonneg: false };
  if (kh > 1) step("ZeroPadding2D", { padding: [[0, kh - 1], [0, 0]], data_format: "channels_last" }, "blocks", [phases * hq, wo, o]);
  step("Reshape", { target_shape: [phases, hq, wo * o] }, "unstack", [phases, hq, wo * o]);
  if (kh > 1) step("Cropping2D", { cropping: [[0, 0], [0, kh - 1]], data_format: "channels_last" }, "straddling", [phases, ho, wo * o]);
  step("Reshape", { target_shape: [dh, dw, ho, wo, o] }, "split_phases", [dh, dw, ho, wo, o]);
  step("Permute", { dims: [3, 1, 4, 2, 5] }, "interleave", [ho, dh, wo, dw, o]);
  step("Reshape", { target_shape: [ho * dh, wo * dw, o] }, "merge", [ho * dh, wo * dw, o]);
  if (extraH + extraW > 0) step("Cropping2D", { cropping: [[0, extraH], [0, extraW]], data_format: "channels_last" }, "crop", [out[0], out[1], o]);
  if (v.tfShape[0] !== out[0] || v.tfShape[1] !== out[1]) ctx.g.fail(node, `internal: the dilated convolution gives ${v.tfShape[0]}×${v.tfShape[1]}, ONNX ${out[0]}×${out[1]}`);
  output(ctx, node, { layer: v.layer, shape: [o, out[0], out[1]], tfShape: [out[0], out[1], o], nonneg: false });
}

/** Pad (opset 11+: pads and the value as inputs) with zeros, on H and W only. */
const pad: OpConverter = (node, ctx) => {
  if (stringAttr(ctx, node, "mode", "constant") !== "constant") ctx.g.fail(node, `mode=${stringAttr(ctx, node, "mode", "")} is not supported: gradswarm converts zero padding only`);
  const x = spatialInput(ctx, node);
  const pads = ctx.g.ints(node, 1);
  if (!pads || pads.length !== 8 || pads.some((p) => typeof p !== "number" || p < 0)) ctx.g.fail(node, "its pads must be a constant of 8 non-negative integers (N, C, H, W begins, then ends)");
  const [n0, c0, t, l, n1, c1, b, r] = pads as number[];
  if (n0 || c0 || n1 || c1) ctx.g.fail(node, "padding the batch or channel dimension is not supported");
  if (node.inputs[2]) {
    const v = ctx.g.floats(node, 2);
    if (!v || v.length !== 1 || v[0] !== 0) ctx.g.fail(node, "only padding with zeros is supported");
  }
  if (node.inputs[3]) ctx.g.fail(node, "the axes input of Pad is not supported");
  output(ctx, node, zeroPad(ctx, x, [t!, l!, b!, r!], node.name));
};

export const convOps: Record<string, OpConverter> = { Conv: conv, Pad: pad };
