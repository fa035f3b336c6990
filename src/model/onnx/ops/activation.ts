// Elementwise activations, Identity and Dropout (identity at evaluation), and GELU as
// torch 1.13 exports it: x · (erf(x / √2) + 1) · 0.5, taken as TF.js's 'gelu'
// activation, which computes x · 0.5 · (1 + erf(x / √2)) (tfjs-layers activations.js
// Gelu): the same formula; a product by 0.5 is exact in floating point.

import type { Value } from "../builder.js";
import type { OnnxNode } from "../decode.js";
import { floatAttr, onlyFirstOutput, once, output, type OpContext, type OpConverter } from "./context.js";

type Json = Record<string, unknown>;

/** An elementwise layer on x; a value in H·W·C flat order keeps that order. */
export function elementwise(ctx: OpContext, x: Value, className: string, config: Json, nonneg: boolean, base: string): Value {
  const layer = ctx.b.layer(className, config, [x], ctx.b.uniqueName(base));
  const out: Value = { layer, shape: x.shape, tfShape: x.tfShape, nonneg };
  const flat = x.hwcFlat;
  if (flat) out.hwcFlat = { chw: flat.chw, inOnnxOrder: once(() => elementwise(ctx, flat.inOnnxOrder(), className, config, nonneg, base)) };
  return out;
}

function activation(name: string, nonneg: boolean): OpConverter {
  return (node, ctx) => output(ctx, node, elementwise(ctx, ctx.g.value(node, 0), "Activation", { activation: name }, nonneg, node.name));
}

const leakyRelu: OpConverter = (node, ctx) => {
  const alpha = floatAttr(ctx, node, "alpha", 0.01);
  output(ctx, node, elementwise(ctx, ctx.g.value(node, 0), "LeakyReLU", { alpha }, false, node.name));
};

/** Clip(x, 0, 6) is relu6 and Clip(x, 0, ∞) relu, exactly; other bounds are refused. */
const clip: OpConverter = (node, ctx) => {
  const bound = (k: number, fallback: number): number => {
    if (!node.inputs[k]) return fallback;
    const v = ctx.g.floats(node, k);
    if (!v || v.length !== 1) return ctx.g.fail(node, `its bound (input ${k}) must be a constant scalar`);
    return v[0]!;
  };
  const lo = bound(1, -Infinity);
  const hi = bound(2, Infinity);
  const x = ctx.g.value(node, 0);
  if (lo === 0 && hi === 6) return output(ctx, node, elementwise(ctx, x, "Activation", { activation: "relu6" }, true, node.name));
  if (lo === 0 && hi === Infinity) return output(ctx, node, elementwise(ctx, x, "Activation", { activation: "relu" }, true, node.name));
  ctx.g.fail(node, `Clip(min=${lo}, max=${hi}) is not supported: gradswarm converts Clip(0, 6) (ReLU6) and Clip(0, ∞) (ReLU) only; export without it or open an issue`);
};

/** Identity and Dropout (inference: identity) pass their input on, tensor or constant. */
const identity: OpConverter = (node, ctx) => {
  onlyFirstOutput(ctx, node);
  const from = node.inputs[0] ?? "";
  const to = node.outputs[0]!;
  const c = ctx.g.constants.get(from);
  // torch 1.13 deduplicates equal initializers and recreates the others as Identity
  // nodes named after the real parameter (Identity(layer4.0.bn1.weight) →
  // layer4.1.bn2.weight): each such alias is a parameter of its own.
  if (c) return void ctx.g.constants.set(to, { ...c, name: to, data: c.data instanceof Float32Array ? c.data.slice() : c.data });
  const s = ctx.g.statics.get(from);
  if (s) return void ctx.g.statics.set(to, s);
  output(ctx, node, ctx.g.value(node, 0));
};

const dropout: OpConverter = (node, ctx) => {
  if (node.op === "Dropout" && node.inputs[2]) {
    const training = ctx.g.constant(node, 2);
    if (!training || !training.data || Array.from(training.data).some((v) => v !== 0)) ctx.g.fail(node, "training_mode must be a constant false: gradswarm takes dropout as the identity (evaluation mode)");
  }
  identity(node, ctx);
};

/**
 * Div(x, √2) → Erf → Add(·, 1) → Mul(x, ·) → Mul(·, 0.5), each intermediate read only by
 * the next: GELU. Returns the nodes after the Div, or null.
 */
function geluPattern(ctx: OpContext, div: OnnxNode): OnnxNode[] | null {
  const g = ctx.g;
  const scalar = (n: OnnxNode, k: number): number | null => {
    const v = g.floats(n, k);
    return v && v.length === 1 ? v[0]! : null;
  };
  const other = (n: OnnxNode, name: string): number => (n.inputs[0] === name ? 1 : n.inputs[1] === name ? 0 : -1);
  const x = div.inputs[0]!;
  if (scalar(div, 1) !== Math.fround(Math.SQRT2)) return null;
  const erf = g.soleConsumer(div.outputs[0]!);
  if (erf?.op !== "Erf") return null;
  const add = g.soleConsumer(erf.outputs[0]!);
  if (add?.op !== "Add" || other(add, erf.outputs[0]!) < 0 || scalar(add, other(add, erf.outputs[0]!)) !== 1) return null;
  const mul = g.soleConsumer(add.outputs[0]!);
  if (mul?.op !== "Mul" || mul.inputs[other(mul, add.outputs[0]!)] !== x) return null;
  const half = g.soleConsumer(mul.outputs[0]!);
  if (half?.op !== "Mul" || other(half, mul.outputs[0]!) < 0 || scalar(half, other(half, mul.outputs[0]!)) !== 0.5) return null;
  return [erf, add, mul, half];
}

const div: OpConverter = (node, ctx) => {
  const rest = geluPattern(ctx, node);
  if (!rest) {
    return ctx.g.fail(node, "Div is supported only inside GELU (x · 0.5 · (1 + erf(x / √2)), as torch exports nn.GELU()); export without it or open an issue");
  }
  const y = elementwise(ctx, ctx.g.value(node, 0), "Activation", { activation: "gelu" }, false, rest.at(-1)!.name.replace(/Mul(_\d+)?$/, "Gelu"));
  for (const n of rest) ctx.g.absorbed.add(n);
  output(ctx, rest.at(-1)!, y);
};

export const activationOps: Record<string, OpConverter> = {
  Relu: activation("relu", true),
  Sigmoid: activation("sigmoid", true),
  Tanh: activation("tanh", false),
  LeakyRelu: leakyRelu,
  Clip: clip,
  Identity: identity,
  Dropout: dropout,
  Div: div,
};
