// Gemm (nn.Linear) and MatMul followed by a bias Add, as TF.js Dense layers. The ONNX
// weight [out, in] (Gemm transB=1) or [in, out] becomes the kernel [in, out]; after a
// Flatten of a C×H×W map the kernel's rows are permuted (layout.ts), so the Dense reads
// TF.js's H·W·C features as PyTorch's C·H·W ones.

import type { Value } from "../builder.js";
import type { OnnxNode, OnnxTensor } from "../decode.js";
import { floatAttr, intAttr, layerNameFor, output, type OpContext, type OpConverter } from "./context.js";

type Param = OnnxTensor & { data: Float32Array };

function dense(ctx: OpContext, node: OnnxNode, x: Value, w: Param, transpose: boolean, bias: Param | null): Value {
  if (w.dims.length !== 2) ctx.g.fail(node, `its weight '${w.name}' has shape [${w.dims}]; a 2-D weight is needed`);
  const [inputs, units] = transpose ? [w.dims[1]!, w.dims[0]!] : [w.dims[0]!, w.dims[1]!];
  if (x.shape.length !== 1) ctx.g.fail(node, `its input has shape [N, ${x.shape}]; gradswarm takes ${node.op} on [N, features] only (flatten first: torch.flatten(x, 1))`);
  if (x.shape[0] !== inputs) ctx.g.fail(node, `its input has ${x.shape[0]} features but the weight '${w.name}' takes ${inputs}`);
  if (bias && (bias.dims.length !== 1 || bias.dims[0] !== units)) ctx.g.fail(node, `its bias '${bias.name}' has shape [${bias.dims}]; [${units}] is needed`);
  const name = layerNameFor(ctx, w.name, node);
  const layer = ctx.b.layer("Dense", { units, activation: "linear", use_bias: bias !== null }, [x], name);
  const rows = x.hwcFlat?.chw ?? null;
  ctx.b.weight(layer, "kernel", w.name, w.dims, w.data, { kind: "dense", transpose, rows }, true);
  if (bias) ctx.b.weight(layer, "bias", bias.name, bias.dims, bias.data, { kind: "same" }, true);
  return { layer, shape: [units], tfShape: [units], nonneg: false };
}

/**
 * The bias of an Add that alone reads `out` and adds a constant of `units` values (what
 * torch exports for a Linear on a MatMul, or a Gemm without its C): absorbed into the Dense.
 */
function followingBias(ctx: OpContext, out: string, units: number): { add: OnnxNode; bias: Param } | null {
  const add = ctx.g.soleConsumer(out);
  if (add?.op !== "Add") return null;
  const k = add.inputs[0] === out ? 1 : 0;
  const c = ctx.g.constant(add, k);
  if (!c || c.dtype !== "FLOAT" || c.dims.length !== 1 || c.dims[0] !== units) return null;
  return { add, bias: ctx.g.parameter(add, k, "bias") };
}

const gemm: OpConverter = (node, ctx) => {
  if (intAttr(ctx, node, "transA", 0) !== 0) ctx.g.fail(node, "transA=1 is not supported (the batch must be the first dimension of A)");
  const alpha = floatAttr(ctx, node, "alpha", 1);
  const beta = floatAttr(ctx, node, "beta", 1);
  // A scaled weight would be a different parameter than PyTorch's (other gradients, other norms).
  if (alpha !== 1 || (beta !== 1 && node.inputs[2])) ctx.g.fail(node, `alpha=${alpha}, beta=${beta}: gradswarm converts Gemm with alpha = beta = 1 (nn.Linear) only; export without the scaling or open an issue`);
  const x = ctx.g.value(node, 0);
  const w = ctx.g.parameter(node, 1, "weight");
  const transpose = intAttr(ctx, node, "transB", 0) === 1;
  const units = transpose ? w.dims[0]! : w.dims[1]!;
  if (node.inputs[2]) {
    output(ctx, node, dense(ctx, node, x, w, transpose, ctx.g.parameter(node, 2, "bias")));
    return;
  }
  const after = followingBias(ctx, node.outputs[0]!, units);
  if (after) ctx.g.absorbed.add(after.add);
  output(ctx, after?.add ?? node, dense(ctx, node, x, w, transpose, after?.bias ?? null));
};

const matMul: OpConverter = (node, ctx) => {
  const x = ctx.g.value(node, 0);
  const w = ctx.g.parameter(node, 1, "weight");
  const after = followingBias(ctx, node.outputs[0]!, w.dims[1] ?? -1);
  if (after) ctx.g.absorbed.add(after.add);
  output(ctx, after?.add ?? node, dense(ctx, node, x, w, false, after?.bias ?? null));
};

export const denseOps: Record<string, OpConverter> = { Gemm: gemm, MatMul: matMul };
