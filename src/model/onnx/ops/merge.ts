// Add of two tensors of one shape (residual connections) and Concat along the channels
// (or features), as TF.js Add and Concatenate. A bias Add is absorbed by the Dense before
// it (dense.ts); any other Add of a constant is refused.

import type { Value } from "../builder.js";
import { intAttr, output, type OpConverter } from "./context.js";
import { staticConcat } from "./shape.js";

/** The value in ONNX order, as TF.js shape of equal rank to its ONNX shape where it matters. */
function inOrder(v: Value): Value {
  return v.hwcFlat ? v.hwcFlat.inOnnxOrder() : v;
}

const add: OpConverter = (node, ctx) => {
  if (node.inputs.some((_, k) => ctx.g.constant(node, k) !== null)) {
    ctx.g.fail(node, "adding a constant is supported only as the bias right after MatMul or Gemm; export without it or open an issue");
  }
  let [a, b] = [ctx.g.value(node, 0), ctx.g.value(node, 1)];
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) ctx.g.fail(node, `adds shapes [N, ${a.shape}] and [N, ${b.shape}]: broadcasting is not supported`);
  if (a.hwcFlat || b.hwcFlat) [a, b] = [inOrder(a), inOrder(b)];
  if (a.tfShape.length !== b.tfShape.length) ctx.g.fail(node, "adds a globally pooled map to a full one; flatten both first");
  const layer = ctx.b.layer("Add", {}, [a, b], ctx.b.uniqueName(node.name));
  output(ctx, node, { layer, shape: a.shape, tfShape: a.tfShape, nonneg: a.nonneg && b.nonneg });
};

const concat: OpConverter = (node, ctx) => {
  if (staticConcat(ctx, node)) return;
  const xs = node.inputs.map((_, k) => inOrder(ctx.g.value(node, k)));
  const rank = xs[0]!.shape.length + 1;
  const axis = intAttr(ctx, node, "axis", 1);
  if (axis !== 1 && axis !== 1 - rank) ctx.g.fail(node, `axis=${axis}: gradswarm concatenates along the channels (axis 1) only`);
  for (const x of xs) {
    if (x.shape.length !== rank - 1 || x.shape.slice(1).some((d, i) => d !== xs[0]!.shape[i + 1]) || x.tfShape.length !== xs[0]!.tfShape.length) ctx.g.fail(node, `concatenates shapes ${xs.map((v) => `[N, ${v.shape}]`).join(", ")} that differ beyond the channels`);
  }
  const channels = xs.reduce((n, x) => n + x.shape[0]!, 0);
  const layer = ctx.b.layer("Concatenate", { axis: -1 }, xs, ctx.b.uniqueName(node.name));
  const shape = [channels, ...xs[0]!.shape.slice(1)];
  output(ctx, node, { layer, shape, tfShape: shape.length === 3 ? [shape[1]!, shape[2]!, channels] : shape, nonneg: xs.every((x) => x.nonneg) });
};

export const mergeOps: Record<string, OpConverter> = { Add: add, Concat: concat };
