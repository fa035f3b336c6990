// What every operator's converter gets: the graph being read and the model being built,
// and the attribute readers they share.

import type { ModelBuilder, Value } from "../builder.js";
import type { AttrValue, OnnxNode } from "../decode.js";
import type { OnnxGraph } from "../graph.js";

export interface OpContext {
  g: OnnxGraph;
  b: ModelBuilder;
}

export type OpConverter = (node: OnnxNode, ctx: OpContext) => void;

function attr(node: OnnxNode, name: string): AttrValue | undefined {
  return node.attrs.get(name);
}

export function intAttr(ctx: OpContext, node: OnnxNode, name: string, fallback: number): number {
  const v = attr(node, name);
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v)) ctx.g.fail(node, `attribute ${name} should be an integer`);
  return v;
}

export function floatAttr(ctx: OpContext, node: OnnxNode, name: string, fallback: number): number {
  const v = attr(node, name);
  if (v === undefined) return fallback;
  if (typeof v !== "number") ctx.g.fail(node, `attribute ${name} should be a number`);
  return v;
}

export function intsAttr(ctx: OpContext, node: OnnxNode, name: string, fallback: number[] | null): number[] | null {
  const v = attr(node, name);
  if (v === undefined) return fallback;
  if (!Array.isArray(v)) ctx.g.fail(node, `attribute ${name} should be a list of integers`);
  return v;
}

export function stringAttr(ctx: OpContext, node: OnnxNode, name: string, fallback: string): string {
  const v = attr(node, name);
  if (v === undefined) return fallback;
  if (typeof v !== "string") ctx.g.fail(node, `attribute ${name} should be a string`);
  return v;
}

/** Records `v` as the node's output k (0 by default). */
export function output(ctx: OpContext, node: OnnxNode, v: Value, k = 0): void {
  const name = node.outputs[k];
  if (!name) ctx.g.fail(node, `has no output ${k}`);
  ctx.g.values.set(name, v);
}

/** Refuses a node whose outputs beyond the first are used (e.g. MaxPool's indices). */
export function onlyFirstOutput(ctx: OpContext, node: OnnxNode): void {
  for (const extra of node.outputs.slice(1)) {
    if (extra && ((ctx.g.consumers.get(extra)?.length ?? 0) > 0 || ctx.g.model.outputs.some((o) => o.name === extra))) {
      ctx.g.fail(node, `its output '${extra}' is used; gradswarm converts only the first output of ${node.op}`);
    }
  }
}

/** A function computed once, on first call. */
export function once<T>(f: () => T): () => T {
  let done: { v: T } | null = null;
  return () => (done ??= { v: f() }).v;
}

/** The TF.js layer name for a layer whose weight is initializer `param` ("fc.weight" → "fc"). */
export function layerNameFor(ctx: OpContext, param: string, node: OnnxNode): string {
  const m = /^(.+)\.(weight|bias)$/.exec(param);
  if (m && ctx.b.isFree(m[1]!)) return m[1]!;
  return ctx.b.uniqueName(node.name);
}
