// MaxPool, AveragePool, GlobalAveragePool. AveragePool with pads needs
// count_include_pad=1 (ZeroPadding2D + 'valid'): TF.js's 'same' leaves the padding out of
// the count in the forward pass, as count_include_pad=0 does, but its gradient divides by
// the whole window everywhere (tfjs-backend-cpu AvgPoolGrad: avgMultiplier =
// 1 / (filterHeight · filterWidth)), so it is refused.

import { intAttr, intsAttr, onlyFirstOutput, output, type OpConverter } from "./context.js";
import { outputSize, padded, spatialInput, windowOf } from "./spatial.js";

function pool(kind: "max" | "average"): OpConverter {
  return (node, ctx) => {
    onlyFirstOutput(ctx, node);
    const x = spatialInput(ctx, node);
    const kernel = intsAttr(ctx, node, "kernel_shape", null);
    if (!kernel) return ctx.g.fail(node, "has no kernel_shape");
    const win = windowOf(ctx, node, kernel);
    if (win.dilations.some((d) => d !== 1)) ctx.g.fail(node, "dilated pooling is not supported");
    if (intAttr(ctx, node, "storage_order", 0) !== 0) ctx.g.fail(node, "storage_order=1 is not supported");
    const [c, h, w] = x.shape as [number, number, number];
    const out = outputSize(ctx, node, [h, w], win);
    const countPad = kind === "average" && intAttr(ctx, node, "count_include_pad", 0) === 1;
    if (kind === "average" && !countPad && win.pads.some((p) => p > 0)) {
      ctx.g.fail(node, `pads [${win.pads}] with count_include_pad=0 are not yet supported: TensorFlow.js (4.22) computes the gradient of such an average pooling as if the padding counted; use count_include_pad=True (PyTorch's default) or open an issue`);
    }
    const zerosExact = kind === "max" ? x.nonneg : countPad;
    const why =
      kind === "max"
        ? "TF.js pads max pooling only as 'same' (which places the windows differently here), and zero padding equals it only after a ReLU; open an issue"
        : "count_include_pad=0 with pads that TF.js's 'same' does not reproduce; use count_include_pad=True or open an issue";
    const { input, padding } = padded(ctx, node, x, win, out, zerosExact, why);
    const layer = ctx.b.layer(kind === "max" ? "MaxPooling2D" : "AveragePooling2D", { pool_size: win.kernel, strides: win.strides, padding, data_format: "channels_last" }, [input], ctx.b.uniqueName(node.name));
    output(ctx, node, { layer, shape: [c, out[0], out[1]], tfShape: [out[0], out[1], c], nonneg: x.nonneg });
  };
}

/** [N, C, H, W] → [N, C, 1, 1] in ONNX; TF.js's GlobalAveragePooling2D gives [N, C]. */
const globalAveragePool: OpConverter = (node, ctx) => {
  const x = spatialInput(ctx, node);
  const c = x.shape[0]!;
  const layer = ctx.b.layer("GlobalAveragePooling2D", { data_format: "channels_last" }, [x], ctx.b.uniqueName(node.name));
  output(ctx, node, { layer, shape: [c, 1, 1], tfShape: [c], nonneg: x.nonneg });
};

export const poolOps: Record<string, OpConverter> = { MaxPool: pool("max"), AveragePool: pool("average"), GlobalAveragePool: globalAveragePool };
