// A tensor bundle: named tensors as specs plus one flat little-endian buffer, with a
// small JSON header. Parameter snapshots and datasets travel as bundles through the
// object store, where their content hash (sha256 of these exact bytes) names them.
//
// Layout: "GSTB" | u32 version | u32 headerLength | header JSON (UTF-8, space-padded so
// that the data starts at a multiple of 8) | tensor data in spec order.
// Msgpack is not used here: the bytes must be canonical (they are hashed) and the data
// must be viewable as typed arrays without a copy.

import { ProtocolError, ProtocolVersionError } from "./errors.js";
import { float32View, int32View } from "./float-bytes.js";
import { describe, shortKey } from "./validate.js";
import { PROTOCOL_VERSION } from "./version.js";

export type BundleDtype = "float32" | "int32";

export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: BundleDtype;
}

export interface BundleTensor extends TensorSpec {
  data: Float32Array | Int32Array;
}

export interface TensorBundle {
  /** What the bundle holds ("snapshot", "dataset"); checked by the consumer. */
  kind: string;
  /** Kind-specific JSON metadata; validated by the consumer. */
  meta: Record<string, unknown>;
  tensors: BundleTensor[];
}

const MAGIC = [0x47, 0x53, 0x54, 0x42]; // "GSTB"
const PREFIX_BYTES = 12;
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const MAX_TENSORS = 100_000;
const MAX_RANK = 8;
const HEADER_KEYS = ["kind", "meta", "tensors"];
const SPEC_KEYS = ["name", "shape", "dtype"];

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Typed-array views below assume a little-endian host (x86-64 and ARM64 are).
  throw new Error("gradswarm needs a little-endian host");
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function encodeTensorBundle(bundle: TensorBundle): Uint8Array {
  const specs = bundle.tensors.map((t, i) => {
    const expected = elementCount(t.shape);
    if (t.data.length !== expected) {
      throw new ProtocolError(`tensors[${i}].data`, `${t.name} has ${t.data.length} values, its shape [${t.shape}] needs ${expected}`);
    }
    const isFloat = t.data instanceof Float32Array;
    if ((t.dtype === "float32") !== isFloat) {
      throw new ProtocolError(`tensors[${i}].dtype`, `${t.name} is declared ${t.dtype} but holds ${t.data.constructor.name}`);
    }
    return { name: t.name, shape: [...t.shape], dtype: t.dtype };
  });
  let header = new TextEncoder().encode(JSON.stringify({ kind: bundle.kind, meta: bundle.meta, tensors: specs }));
  const padded = align8(PREFIX_BYTES + header.length) - PREFIX_BYTES;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }
  const dataBytes = bundle.tensors.reduce((s, t) => s + t.data.byteLength, 0);
  const out = new Uint8Array(PREFIX_BYTES + header.length + dataBytes);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, PROTOCOL_VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, PREFIX_BYTES);
  let offset = PREFIX_BYTES + header.length;
  for (const t of bundle.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  return out;
}

function fail(field: string, message: string): never {
  throw new ProtocolError(field, message);
}

function checkSpec(raw: unknown, i: number): TensorSpec {
  const field = `bundle.tensors[${i}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(field, "must be an object");
  const keys = Object.keys(raw);
  for (const k of keys) if (!SPEC_KEYS.includes(k)) fail(`${field}.${shortKey(k)}`, "unknown key");
  const { name, shape, dtype } = raw as Record<string, unknown>;
  if (typeof name !== "string" || name.length === 0 || name.length > 1024) fail(`${field}.name`, "must be a non-empty string of at most 1024 characters");
  if (dtype !== "float32" && dtype !== "int32") fail(`${field}.dtype`, `must be "float32" or "int32", got ${describe(dtype)}`);
  if (!Array.isArray(shape) || shape.length > MAX_RANK) fail(`${field}.shape`, `must be an array of at most ${MAX_RANK} dimensions`);
  for (const [j, d] of shape.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`${field}.shape[${j}]`, `must be a non-negative integer, got ${describe(d)}`);
  }
  return { name, shape: shape as number[], dtype };
}

/**
 * Decodes and validates a bundle. Tensor data are views into `bytes` when aligned
 * (no copy), else copies. Throws ProtocolError naming the first thing wrong.
 */
export function decodeTensorBundle(bytes: Uint8Array): TensorBundle {
  if (!(bytes instanceof Uint8Array)) fail("bundle", "must be bytes");
  if (bytes.length < PREFIX_BYTES) fail("bundle", `truncated: ${bytes.length} bytes is shorter than the ${PREFIX_BYTES}-byte prefix`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) fail("bundle.magic", "not a gradswarm tensor bundle");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== PROTOCOL_VERSION) throw new ProtocolVersionError(PROTOCOL_VERSION, version);
  const headerLength = view.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES || PREFIX_BYTES + headerLength > bytes.length) {
    fail("bundle.headerLength", `declares ${headerLength} header bytes but only ${bytes.length - PREFIX_BYTES} follow`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength)));
  } catch (err) {
    throw new ProtocolError("bundle.header", "is not valid UTF-8 JSON", { cause: err });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("bundle.header", "must be a JSON object");
  for (const k of Object.keys(header)) if (!HEADER_KEYS.includes(k)) fail(`bundle.${shortKey(k)}`, "unknown key");
  const { kind, meta, tensors } = header as Record<string, unknown>;
  if (typeof kind !== "string" || kind.length === 0) fail("bundle.kind", "must be a non-empty string");
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) fail("bundle.meta", "must be an object");
  if (!Array.isArray(tensors) || tensors.length > MAX_TENSORS) fail("bundle.tensors", `must be an array of at most ${MAX_TENSORS} specs`);
  const specs = tensors.map(checkSpec);

  let offset = PREFIX_BYTES + headerLength;
  const remaining = bytes.length - offset;
  let needed = 0;
  for (const s of specs) needed += elementCount(s.shape) * 4;
  if (needed !== remaining) fail("bundle.data", `the specs need ${needed} data bytes, ${remaining} are present`);

  const out: BundleTensor[] = [];
  for (const s of specs) {
    const count = elementCount(s.shape);
    const slice = bytes.subarray(offset, offset + count * 4);
    const data = s.dtype === "float32" ? float32View(slice) : int32View(slice);
    out.push({ ...s, data });
    offset += count * 4;
  }
  return { kind, meta: meta as Record<string, unknown>, tensors: out };
}
