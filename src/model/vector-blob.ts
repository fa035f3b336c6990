// One float32 vector as a content-addressed blob: a diagonal metric (Fisher) over the
// gradient's parameters, or a landscape direction over θ's weights. Workers fetch them
// by hash like θ itself.

import { ProtocolError } from "../protocol/errors.js";
import { decodeTensorBundle, encodeTensorBundle } from "../protocol/tensor-bundle.js";

export const VECTOR_KIND = "vector";
export type VectorRole = "metric" | "direction";

export function encodeVector(values: Float32Array, role: VectorRole): Uint8Array {
  return encodeTensorBundle({ kind: VECTOR_KIND, meta: { role }, tensors: [{ name: "v", shape: [values.length], dtype: "float32", data: values }] });
}

export function decodeVector(bytes: Uint8Array): { role: VectorRole; values: Float32Array } {
  const b = decodeTensorBundle(bytes);
  if (b.kind !== VECTOR_KIND) throw new ProtocolError("bundle.kind", `expected "${VECTOR_KIND}", got a ${b.kind} bundle`);
  const role = b.meta.role;
  if (role !== "metric" && role !== "direction") throw new ProtocolError("bundle.meta.role", "must be metric or direction");
  const t = b.tensors[0];
  if (b.tensors.length !== 1 || !t || t.dtype !== "float32" || t.shape.length !== 1) throw new ProtocolError("bundle.tensors", "a vector bundle holds one 1-D float32 tensor");
  const values = t.data as Float32Array;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new ProtocolError(`bundle.tensors.v[${i}]`, "must be finite");
    if (role === "metric" && values[i]! < 0) throw new ProtocolError(`bundle.tensors.v[${i}]`, "a metric must be ≥ 0");
  }
  return { role, values };
}
