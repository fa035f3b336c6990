// Flatten and Reshape to [N, features], and the small shape computations torch exports
// for x.view(x.size(0), -1) (Shape → Gather → Unsqueeze → Concat), evaluated here from the
// known shapes. Flattening a C×H×W map keeps TF.js's H·W·C order (layout.ts: a Dense
// after it takes its rows permuted); a consumer that needs PyTorch's C·H·W order gets a
// Permute([3, 1, 2]) before the Flatten.

import type { Value } from "../builder.js";
import type { OnnxNode } from "../decode.js";
import type { StaticInt } from "../graph.js";
import { intAttr, intsAttr, once, output, type OpContext, type OpConverter } from "./context.js";

/** ONNX TensorProto.DataType values. */
const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

const FLATTEN_HINT = "gradswarm converts reshapes to [N, features] whose target is known before data flows; use torch.flatten(x, 1)";

/** x flattened to [N, features]. */
export function flattened(ctx: OpContext, node: OnnxNode, x: Value): Value {
  if (x.shape.length === 1) return x;
  if (x.shape.length !== 3) ctx.g.fail(node, `flattening a value of shape [N, ${x.shape}] is not supported`);
  const [c, h, w] = x.shape as [number, number, number];
  const size = c * h * w;
  if (x.tfShape.length === 1) return { ...x, shape: [size] }; // a global pooling's [C]: already flat
  const flatten = (from: Value, base: string): string => ctx.b.layer("Flatten", {}, [from], ctx.b.uniqueName(base));
  const layer = flatten(x, node.name);
  const out: Value = { layer, shape: [size], tfShape: [size], nonneg: x.nonneg };
  if (h * w === 1 || c === 1) return out; // both orders agree
  out.hwcFlat = {
    chw: [c, h, w],
    inOnnxOrder: once(() => {
      const permute = ctx.b.layer("Permute", { dims: [3, 1, 2] }, [x], ctx.b.uniqueName(`${node.name}_chw`));
      const p: Value = { layer: permute, shape: x.shape, tfShape: [c, h, w], nonneg: x.nonneg };
      return { layer: flatten(p, `${node.name}_chw_flat`), shape: [size], tfShape: [size], nonneg: x.nonneg };
    }),
  };
  return out;
}

const flatten: OpConverter = (node, ctx) => {
  const x = ctx.g.value(node, 0);
  const axis = intAttr(ctx, node, "axis", 1);
  if (axis !== 1 && axis !== -(x.shape.length + 1) + 1) ctx.g.fail(node, `axis=${axis}: gradswarm converts Flatten(axis=1) (torch.flatten(x, 1)) only`);
  output(ctx, node, flattened(ctx, node, x));
};

const reshape: OpConverter = (node, ctx) => {
  const x = ctx.g.value(node, 0);
  const target = ctx.g.ints(node, 1);
  if (!target) return ctx.g.fail(node, `its target shape is computed from data: ${FLATTEN_HINT}`);
  const size = x.shape.reduce((a, b) => a * b, 1);
  const allowZero = intAttr(ctx, node, "allowzero", 0) === 1;
  const [n, f] = target;
  const batchOk = n === "batch" || n === -1 || (n === 0 && !allowZero);
  const featOk = f === size || (f === -1 && n !== -1);
  if (target.length !== 2 || !batchOk || !featOk) ctx.g.fail(node, `its target shape [${target.map(String)}] on [N, ${x.shape}] is not [N, ${size}]: ${FLATTEN_HINT}`);
  output(ctx, node, flattened(ctx, node, x));
};

function setStatic(ctx: OpContext, node: OnnxNode, v: StaticInt[], scalar: boolean): void {
  const name = node.outputs[0]!;
  ctx.g.statics.set(name, v);
  if (scalar) ctx.g.scalars.add(name);
}

function staticInput(ctx: OpContext, node: OnnxNode, k: number): StaticInt[] {
  const v = ctx.g.ints(node, k);
  if (!v) return ctx.g.fail(node, `input ${k} is not known before data flows: ${FLATTEN_HINT}`);
  return v;
}

const shape: OpConverter = (node, ctx) => {
  const x = ctx.g.value(node, 0);
  const full: StaticInt[] = ["batch", ...x.shape];
  const start = intAttr(ctx, node, "start", 0);
  const end = intAttr(ctx, node, "end", full.length);
  const at = (i: number): number => Math.min(Math.max(i < 0 ? i + full.length : i, 0), full.length);
  setStatic(ctx, node, full.slice(at(start), at(end)), false);
};

const gather: OpConverter = (node, ctx) => {
  const data = staticInput(ctx, node, 0);
  const idx = staticInput(ctx, node, 1);
  if (intAttr(ctx, node, "axis", 0) !== 0 || ctx.g.isScalar(node, 0)) ctx.g.fail(node, `gathers along another axis than 0: ${FLATTEN_HINT}`);
  const picked = idx.map((i) => {
    const k = typeof i === "number" ? (i < 0 ? i + data.length : i) : -1;
    if (k < 0 || k >= data.length) ctx.g.fail(node, `index ${String(i)} outside a shape of ${data.length} dimensions`);
    return data[k]!;
  });
  setStatic(ctx, node, picked, ctx.g.isScalar(node, 1));
};

const unsqueeze: OpConverter = (node, ctx) => {
  const data = staticInput(ctx, node, 0);
  const axes = node.inputs[1] ? staticInput(ctx, node, 1) : (intsAttr(ctx, node, "axes", null) ?? []);
  if (!ctx.g.isScalar(node, 0) || axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -1)) ctx.g.fail(node, `only a scalar unsqueezed to a vector is supported: ${FLATTEN_HINT}`);
  setStatic(ctx, node, data, false);
};

const squeeze: OpConverter = (node, ctx) => {
  const data = staticInput(ctx, node, 0);
  if (data.length !== 1 || ctx.g.isScalar(node, 0)) ctx.g.fail(node, `only a 1-element vector squeezed to a scalar is supported: ${FLATTEN_HINT}`);
  setStatic(ctx, node, data, true);
};

/** Cast of a constant (torch writes Clip's bounds as Cast(Constant)) or of a static shape. */
const cast: OpConverter = (node, ctx) => {
  const c = ctx.g.constant(node, 0);
  const to = intAttr(ctx, node, "to", 0);
  const out = node.outputs[0]!;
  if (c?.data && to === FLOAT) return void ctx.g.constants.set(out, { ...c, name: out, dtype: "FLOAT", data: Float32Array.from(c.data) });
  if (c?.data && to === INT64 && Array.isArray(c.data)) return void ctx.g.constants.set(out, { ...c, name: out, dtype: "INT64" });
  const data = staticInput(ctx, node, 0);
  if (to !== INT64 && to !== INT32) ctx.g.fail(node, `casts a shape to type ${to}: ${FLATTEN_HINT}`);
  setStatic(ctx, node, data, ctx.g.isScalar(node, 0));
};

const constant: OpConverter = (node, ctx) => {
  const out = node.outputs[0]!;
  const t = node.attrs.get("value");
  if (t && typeof t === "object" && !Array.isArray(t)) return void ctx.g.constants.set(out, { ...t, name: out });
  const f = node.attrs.get("value_float");
  if (typeof f === "number") return void ctx.g.constants.set(out, { name: out, dims: [], dtype: "FLOAT", data: Float32Array.of(f) });
  const i = node.attrs.get("value_int");
  if (typeof i === "number") return void ctx.g.constants.set(out, { name: out, dims: [], dtype: "INT64", data: [i] });
  const is = node.attrs.get("value_ints");
  if (Array.isArray(is)) return void ctx.g.constants.set(out, { name: out, dims: [is.length], dtype: "INT64", data: is });
  ctx.g.fail(node, "only Constant with value, value_float, value_int or value_ints is supported");
};

/** Concat of static shape pieces or of 1-D float constants (all inputs known now). */
export function staticConcat(ctx: OpContext, node: OnnxNode): boolean {
  const floats = node.inputs.map((_, k) => ctx.g.constant(node, k));
  if (floats.every((c) => c?.dtype === "FLOAT" && c.dims.length === 1 && c.data instanceof Float32Array)) {
    const data = Float32Array.from(floats.flatMap((c) => Array.from(c!.data!)));
    ctx.g.constants.set(node.outputs[0]!, { name: node.outputs[0]!, dims: [data.length], dtype: "FLOAT", data });
    return true;
  }
  if (!node.inputs.every((_, k) => ctx.g.ints(node, k) !== null)) return false;
  setStatic(ctx, node, node.inputs.flatMap((_, k) => ctx.g.ints(node, k)!), false);
  return true;
}

export const shapeOps: Record<string, OpConverter> = { Flatten: flatten, Reshape: reshape, Shape: shape, Gather: gather, Unsqueeze: unsqueeze, Squeeze: squeeze, Cast: cast, Constant: constant };
