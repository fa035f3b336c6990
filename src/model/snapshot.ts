// θ as it travels: the model's topology (TensorFlow.js layers-model JSON) plus every
// weight as a spec and one flat Float32Array. Encoded as a tensor bundle whose sha256
// names it in the object store, so a worker fetches each θ once and can check it.

import { createHash } from "node:crypto";
import { ProtocolError } from "../protocol/errors.js";
import { decodeTensorBundle, elementCount, encodeTensorBundle } from "../protocol/tensor-bundle.js";

export interface WeightSpec {
  /** TensorFlow.js weight name, "layer/kernel"; the part before the last "/" is the layer. */
  name: string;
  shape: number[];
}

export interface Snapshot {
  modelTopology: Record<string, unknown>;
  weights: WeightSpec[];
  /** All weights concatenated in `weights` order. */
  data: Float32Array;
}

export const SNAPSHOT_KIND = "snapshot";

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The layer a weight belongs to: "dense_1/kernel" → "dense_1". */
export function layerOfWeight(name: string): string {
  const cut = name.lastIndexOf("/");
  return cut > 0 ? name.slice(0, cut) : name;
}

/** Layer names in order of first appearance among the weights. */
export function layerNames(weights: readonly WeightSpec[]): string[] {
  return [...new Set(weights.map((w) => layerOfWeight(w.name)))];
}

/** Views of each weight inside `data`. */
export function weightViews(s: Snapshot): Float32Array[] {
  const out: Float32Array[] = [];
  let offset = 0;
  for (const w of s.weights) {
    const n = elementCount(w.shape);
    out.push(s.data.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}

export function parameterCount(weights: readonly WeightSpec[]): number {
  return weights.reduce((sum, w) => sum + elementCount(w.shape), 0);
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const views = weightViews(s);
  return encodeTensorBundle({
    kind: SNAPSHOT_KIND,
    meta: { modelTopology: s.modelTopology },
    tensors: s.weights.map((w, i) => ({ name: w.name, shape: w.shape, dtype: "float32" as const, data: views[i]! })),
  });
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const bundle = decodeTensorBundle(bytes);
  if (bundle.kind !== SNAPSHOT_KIND) throw new ProtocolError("bundle.kind", `expected "${SNAPSHOT_KIND}", got "${bundle.kind}"`);
  const keys = Object.keys(bundle.meta);
  if (keys.length !== 1 || keys[0] !== "modelTopology") throw new ProtocolError("bundle.meta", `a snapshot's meta holds exactly modelTopology, got keys [${keys}]`);
  const topology = bundle.meta.modelTopology;
  if (typeof topology !== "object" || topology === null || Array.isArray(topology)) {
    throw new ProtocolError("bundle.meta.modelTopology", "must be an object");
  }
  for (const t of bundle.tensors) {
    if (t.dtype !== "float32") throw new ProtocolError(`bundle.tensors.${t.name}.dtype`, "snapshot weights must be float32");
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]!)) throw new ProtocolError(`bundle.tensors.${t.name}[${i}]`, "weights must be finite");
    }
  }
  // The tensors lie back to back in the bundle: θ is one view of them, not a copy —
  // unless the bundle's bytes were unaligned and the decoder had to copy each tensor.
  const total = parameterCount(bundle.tensors);
  const first = bundle.tensors[0]?.data;
  let contiguous = first !== undefined;
  let next = first?.byteOffset ?? 0;
  for (const t of bundle.tensors) {
    contiguous &&= t.data.buffer === first!.buffer && t.data.byteOffset === next;
    next = t.data.byteOffset + t.data.byteLength;
  }
  let data: Float32Array;
  if (contiguous && first) {
    data = new Float32Array(first.buffer, first.byteOffset, total);
  } else {
    data = new Float32Array(total);
    let offset = 0;
    for (const t of bundle.tensors) {
      data.set(t.data, offset);
      offset += t.data.length;
    }
  }
  return {
    modelTopology: topology as Record<string, unknown>,
    weights: bundle.tensors.map((t) => ({ name: t.name, shape: t.shape })),
    data,
  };
}

/** Weights Keras keeps but never trains (batch normalization's running statistics). */
const NON_TRAINABLE_WEIGHT = /\/moving_(mean|variance)$/;

/**
 * The trainable weight tensors and their sizes, in θ's order: the parameter groups a
 * worker reports statistics for (task.result "layers"), so that a worker cannot shorten
 * the vectors it sends.
 */
export function trainableTensorSizes(s: Pick<Snapshot, "weights" | "modelTopology">): Map<string, number> {
  const frozen = frozenLayers(s.modelTopology);
  const sizes = new Map<string, number>();
  for (const w of s.weights) {
    if (NON_TRAINABLE_WEIGHT.test(w.name) || frozen.has(layerOfWeight(w.name))) continue;
    sizes.set(w.name, elementCount(w.shape));
  }
  return sizes;
}

/** Layers the topology marks `trainable: false`: TensorFlow.js computes no gradient for them. */
function frozenLayers(topology: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    const config = o.config as Record<string, unknown> | undefined;
    if (typeof o.class_name === "string" && config && typeof config.name === "string" && config.trainable === false) out.add(config.name);
    for (const v of Object.values(o)) visit(v);
  };
  visit(topology);
  return out;
}
