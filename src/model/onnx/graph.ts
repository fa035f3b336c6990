// What the converter knows about an ONNX graph while it walks the nodes in order: which
// names are tensors of the TF.js model (Values), which are constants (initializers,
// Constant nodes, Identity aliases of initializers) and which are small integer vectors
// known before any data flows (shapes: Shape → Gather → Unsqueeze → Concat → Reshape).

import type { OnnxModel, OnnxNode, OnnxTensor } from "./decode.js";
import { nodeLabel, OnnxError } from "./errors.js";
import type { Value } from "./builder.js";

/** A dimension of a static shape vector: a number, or the batch size (unknown until run). */
export type StaticInt = number | "batch";

export class OnnxGraph {
  readonly values = new Map<string, Value>();
  readonly constants = new Map<string, OnnxTensor>();
  readonly statics = new Map<string, StaticInt[]>();
  /** The statics (and integer constants) that are scalars (rank 0) rather than vectors. */
  readonly scalars = new Set<string>();
  /** The nodes that read each name. */
  readonly consumers = new Map<string, OnnxNode[]>();
  /** Nodes already converted as part of a pattern (a bias Add after MatMul, GELU's Erf). */
  readonly absorbed = new Set<OnnxNode>();
  /** Initializers a layer took as a weight, and by which node: a second use is refused. */
  private readonly usedBy = new Map<string, OnnxNode>();

  constructor(
    readonly model: OnnxModel,
    /** The file, for messages. */
    readonly where: string,
  ) {
    for (const [name, t] of model.initializers) this.constants.set(name, t);
    for (const n of model.nodes) for (const i of n.inputs) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
  }

  fail(node: OnnxNode, why: string): never {
    throw new OnnxError(`${this.where}: ${nodeLabel(node)}: ${why}`);
  }

  /** The single node that reads `name`, or null if there are none or several. */
  soleConsumer(name: string): OnnxNode | null {
    const c = this.consumers.get(name) ?? [];
    const outputs = this.model.outputs.some((o) => o.name === name);
    return c.length === 1 && !outputs ? c[0]! : null;
  }

  value(node: OnnxNode, k: number): Value {
    const name = node.inputs[k] ?? "";
    const v = this.values.get(name);
    if (v) return v;
    if (this.constants.has(name) || this.statics.has(name)) this.fail(node, `input ${k} ('${name}') is a constant where gradswarm expects a tensor computed from the model's input`);
    return this.fail(node, `input ${k} ('${name}') is missing or computed by a node that was not converted`);
  }

  constant(node: OnnxNode, k: number): OnnxTensor | null {
    const name = node.inputs[k];
    return name ? (this.constants.get(name) ?? null) : null;
  }

  /** A float32 constant used as a layer's weight; each may serve one layer only. */
  parameter(node: OnnxNode, k: number, what: string, shape?: readonly number[]): OnnxTensor & { data: Float32Array } {
    const t = this.constant(node, k);
    if (!t) this.fail(node, `its ${what} (input ${k}, '${node.inputs[k] ?? ""}') is not an initializer: gradswarm takes weights only from initializers`);
    if (t.dtype !== "FLOAT" || !(t.data instanceof Float32Array)) this.fail(node, `its ${what} '${t.name}' is ${t.dtype}; only float32 weights are supported (export with model.float())`);
    if (shape && (shape.length !== t.dims.length || shape.some((d, i) => d !== t.dims[i]))) this.fail(node, `its ${what} '${t.name}' has shape [${t.dims}], expected [${shape}]`);
    const other = this.usedBy.get(t.name);
    if (other) this.fail(node, `its ${what} '${t.name}' is also used by ${nodeLabel(other)}: shared weights are not supported`);
    this.usedBy.set(t.name, node);
    return t as OnnxTensor & { data: Float32Array };
  }

  /** An integer vector known now: an int constant, or a static shape computation. */
  ints(node: OnnxNode, k: number): StaticInt[] | null {
    const name = node.inputs[k];
    if (!name) return null;
    const s = this.statics.get(name);
    if (s) return s;
    const t = this.constants.get(name);
    if (t && (t.dtype === "INT64" || t.dtype === "INT32") && Array.isArray(t.data)) return t.data;
    return null;
  }

  /** Whether input k is a rank-0 integer (a static scalar or a 0-d constant). */
  isScalar(node: OnnxNode, k: number): boolean {
    const name = node.inputs[k] ?? "";
    return this.scalars.has(name) || this.constants.get(name)?.dims.length === 0;
  }

  /** A float constant's values (a scalar's one value), or null. */
  floats(node: OnnxNode, k: number): number[] | null {
    const t = this.constant(node, k);
    if (!t || !t.data) return null;
    return Array.from(t.data);
  }
}
