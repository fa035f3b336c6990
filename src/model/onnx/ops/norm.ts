// BatchNormalization in its inference form: (x − running_mean) / √(running_var + ε) · γ + β
// as a TF.js BatchNormalization layer (gamma, beta trainable; moving_mean,
// moving_variance not), which workers apply with training: false. A minibatch's gradient
// then depends on that minibatch alone (docs/measures.md).

import { floatAttr, intAttr, layerNameFor, onlyFirstOutput, output, type OpConverter } from "./context.js";

const batchNorm: OpConverter = (node, ctx) => {
  if (intAttr(ctx, node, "training_mode", 0) !== 0) ctx.g.fail(node, "training_mode=1 (batch statistics) is not supported: export in eval mode (model.eval(), training=torch.onnx.TrainingMode.PRESERVE)");
  onlyFirstOutput(ctx, node);
  const given = ctx.g.value(node, 0);
  // Per-feature statistics of a flattened map are indexed in PyTorch's C·H·W order.
  const x = given.hwcFlat ? given.hwcFlat.inOnnxOrder() : given;
  const c = x.shape[0]!;
  if (x.shape.length !== 3 && x.shape.length !== 1) ctx.g.fail(node, `input of shape [N, ${x.shape}]: gradswarm converts BatchNorm1d on [N, F] and BatchNorm2d on [N, C, H, W]`);
  const gamma = ctx.g.parameter(node, 1, "scale", [c]);
  const beta = ctx.g.parameter(node, 2, "bias", [c]);
  const mean = ctx.g.parameter(node, 3, "running mean", [c]);
  const variance = ctx.g.parameter(node, 4, "running variance", [c]);
  const epsilon = floatAttr(ctx, node, "epsilon", 1e-5);
  const name = layerNameFor(ctx, gamma.name, node);
  const layer = ctx.b.layer("BatchNormalization", { axis: -1, momentum: 0.99, epsilon, center: true, scale: true }, [x], name);
  ctx.b.weight(layer, "gamma", gamma.name, gamma.dims, gamma.data, { kind: "same" }, true);
  ctx.b.weight(layer, "beta", beta.name, beta.dims, beta.data, { kind: "same" }, true);
  ctx.b.weight(layer, "moving_mean", mean.name, mean.dims, mean.data, { kind: "same" }, false);
  ctx.b.weight(layer, "moving_variance", variance.name, variance.dims, variance.data, { kind: "same" }, false);
  const y = { layer, shape: x.shape, tfShape: x.tfShape, nonneg: false };
  output(ctx, node, y);
};

export const normOps: Record<string, OpConverter> = { BatchNormalization: batchNorm };
