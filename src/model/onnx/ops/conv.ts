// Conv as TF.js Conv2D (group 1, kernel OIHW → HWIO) or DepthwiseConv2D (group = C_in,
// kernel [C·M, 1, kH, kW] → [kH, kW, C, M]); Pad with zeros on H and W as ZeroPadding2D.

import type { OnnxNode } from "../decode.js";
import { intAttr, layerNameFor, output, stringAttr, type OpContext, type OpConverter } from "./context.js";
import { outputSize, padded, spatialInput, windowOf, zeroPad } from "./spatial.js";

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
  // TF.js 4.22 computes convolutions with dilation but no gradient for them
  // (tfjs-core Conv2D_grad, fused conv2d: "dilation rates greater than 1 are not yet supported in gradients").
  if (win.dilations.some((d) => d > 1)) ctx.g.fail(node, `dilation [${win.dilations}] is not yet supported: TensorFlow.js (4.22) computes no gradients for dilated convolutions; export without dilation or open an issue`);
  const out = outputSize(ctx, node, [h, wd], win);
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
