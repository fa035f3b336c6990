// The safetensors format (Hugging Face): what PyTorch users save their weights as.
// Layout, as the reference implementation (huggingface/safetensors, safetensors/src/
// tensor.rs: read_metadata, Metadata::validate, prepare) reads and writes it:
//
//   8 bytes   N, an unsigned little-endian 64-bit integer: the header's length
//   N bytes   a UTF-8 JSON object that starts with "{" and may be padded with spaces:
//             {"__metadata__": {string: string}, NAME: {"dtype", "shape", "data_offsets": [BEGIN, END]}, ...}
//   the rest  the byte buffer; offsets are relative to its start, little-endian, C order.
//
// The reader refuses what the reference refuses: a header over 100 MB, a length that runs
// past the file, JSON that is not an object, offsets that leave a hole or overlap (sorted
// by offset, each tensor must begin where the previous one ended, the first at 0, the last
// end at the end of the file), a byte length other than elements × dtype size; and, as its
// README asks of every parser, duplicate keys. Every error names the file and the tensor.
// No TensorFlow.js here: the model code converts what this returns.

import { readFile } from "node:fs/promises";

/** The header limit of the reference implementation (MAX_HEADER_SIZE). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Dtypes this reader decodes (the reference has also sub-byte, 8-bit float and complex ones: refused by name). */
export type SafetensorsDtype = "BOOL" | "U8" | "I8" | "I16" | "U16" | "F16" | "BF16" | "I32" | "U32" | "F32" | "F64" | "I64" | "U64";

export type SafetensorsData = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /**
   * The values, in a fresh buffer (not a view of the file). F16 and BF16 are their raw
   * 16-bit patterns in a Uint16Array (tensorAsFloat32 converts them); BOOL is a Uint8Array.
   */
  data: SafetensorsData;
}

export interface SafetensorsFile {
  /** In the order of their offsets in the file. */
  tensors: Map<string, SafetensorsTensor>;
  /** The header's __metadata__ (empty when it has none). */
  metadata: Record<string, string>;
}

/** A safetensors file that cannot be read or written; the message names the file and tensor. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

interface DtypeInfo {
  bytes: number;
  decode: (view: DataView, count: number) => SafetensorsData;
}

function decoder<A extends SafetensorsData, V extends number | bigint>(
  bytes: number,
  make: new (n: number) => A,
  get: (view: DataView, offset: number) => V,
): DtypeInfo {
  return {
    bytes,
    decode: (view, count) => {
      const out = new make(count);
      const arr = out as unknown as { [i: number]: V };
      for (let i = 0; i < count; i++) arr[i] = get(view, i * bytes);
      return out;
    },
  };
}

// DataView reads are little-endian whatever the host's byte order, and copy into an aligned
// buffer: the header length need not be a multiple of the element size (other writers pad
// differently), so the data cannot always be viewed in place.
const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  BOOL: decoder(1, Uint8Array, (v, o) => v.getUint8(o)),
  U8: decoder(1, Uint8Array, (v, o) => v.getUint8(o)),
  I8: decoder(1, Int8Array, (v, o) => v.getInt8(o)),
  I16: decoder(2, Int16Array, (v, o) => v.getInt16(o, true)),
  U16: decoder(2, Uint16Array, (v, o) => v.getUint16(o, true)),
  F16: decoder(2, Uint16Array, (v, o) => v.getUint16(o, true)),
  BF16: decoder(2, Uint16Array, (v, o) => v.getUint16(o, true)),
  I32: decoder(4, Int32Array, (v, o) => v.getInt32(o, true)),
  U32: decoder(4, Uint32Array, (v, o) => v.getUint32(o, true)),
  F32: decoder(4, Float32Array, (v, o) => v.getFloat32(o, true)),
  F64: decoder(8, Float64Array, (v, o) => v.getFloat64(o, true)),
  I64: decoder(8, BigInt64Array, (v, o) => v.getBigInt64(o, true)),
  U64: decoder(8, BigUint64Array, (v, o) => v.getBigUint64(o, true)),
};
/** In the reference's Dtype enum but not decoded here. */
const KNOWN_UNSUPPORTED = ["F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64"];

function isDtype(s: string): s is SafetensorsDtype {
  return Object.hasOwn(DTYPES, s);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The first key that appears twice in one object of valid JSON `text`, with the key of
 * the object holding it (null at the top level). JSON.parse keeps the last silently.
 */
export function findDuplicateKey(text: string): { key: string; parent: string | null } | null {
  const stack: { keys: Set<string> | null; expectKey: boolean; name: string | null; lastKey: string | null }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, parent: top.name };
        top.keys.add(key);
        top.expectKey = false;
        top.lastKey = key;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      stack.push({ keys: c === "{" ? new Set() : null, expectKey: c === "{", name: top?.keys ? top.lastKey : (top?.name ?? null), lastKey: null });
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === "," && top?.keys) {
      top.expectKey = true;
    }
  }
  return null;
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, info: unknown, where: string): Entry {
  const at = `${where}: tensor ${JSON.stringify(name)}`;
  if (!isRecord(info)) throw new SafetensorsError(`${at}: must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== "string") throw new SafetensorsError(`${at}: dtype must be a string, got ${JSON.stringify(dtype)}`);
  if (!isDtype(dtype)) {
    const why = KNOWN_UNSUPPORTED.includes(dtype) ? "is not supported here" : "is not a safetensors dtype";
    throw new SafetensorsError(`${at}: dtype ${dtype} ${why} (supported: ${Object.keys(DTYPES).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new SafetensorsError(`${at}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new SafetensorsError(`${at}: data_offsets must be [BEGIN, END], two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const bytes = elements * DTYPES[dtype].bytes;
  if (!Number.isSafeInteger(bytes)) throw new SafetensorsError(`${at}: shape [${shape}] is too large`);
  if (end - begin !== bytes) {
    throw new SafetensorsError(`${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape}] of ${dtype} needs ${elements} × ${DTYPES[dtype].bytes} = ${bytes}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Decodes the bytes of a safetensors file; `where` (the file) names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, where: string): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`${where}: truncated: ${bytes.length} bytes, a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${where}: header too large: ${declared} bytes declared, the limit is ${SAFETENSORS_MAX_HEADER_BYTES} (not a safetensors file?)`);
  }
  const n = Number(declared);
  if (8 + n > bytes.length) throw new SafetensorsError(`${where}: truncated: the header declares ${n} bytes, ${bytes.length - 8} follow the length`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch (err) {
    throw new SafetensorsError(`${where}: the header is not valid UTF-8`, { cause: err });
  }
  if (!text.startsWith("{")) throw new SafetensorsError(`${where}: the header must start with "{", got ${JSON.stringify(text.slice(0, 16))} (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`${where}: the header is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(header)) throw new SafetensorsError(`${where}: the header must be a JSON object`);
  const dup = findDuplicateKey(text);
  if (dup) {
    const what = dup.parent === null ? `tensor ${JSON.stringify(dup.key)}` : `key ${JSON.stringify(dup.key)} in ${JSON.stringify(dup.parent)}`;
    throw new SafetensorsError(`${where}: the header names ${what} twice`);
  }
  const metadata: Record<string, string> = {};
  const rawMeta = header.__metadata__;
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isRecord(rawMeta)) throw new SafetensorsError(`${where}: __metadata__ must be an object of strings`);
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== "string") throw new SafetensorsError(`${where}: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata[k] = v;
    }
  }
  const entries = Object.entries(header)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, info]) => parseEntry(name, info, where));
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let expected = 0;
  let previous: string | null = null;
  for (const e of entries) {
    if (e.begin !== expected) {
      const after = previous === null ? "the first tensor must begin at 0" : `tensor ${JSON.stringify(previous)} ends at ${expected}`;
      const what = e.begin < expected ? "overlaps the tensor before it" : "leaves a hole before it";
      throw new SafetensorsError(`${where}: tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] ${what} (${after})`);
    }
    expected = e.end;
    previous = e.name;
  }
  if (expected !== dataLength) {
    const what = expected > dataLength ? "truncated" : "has bytes no tensor covers";
    const last = previous === null ? "no tensors" : `the last tensor, ${JSON.stringify(previous)}, ending at ${expected}`;
    throw new SafetensorsError(`${where}: ${what}: the header declares ${expected} bytes of data (${last}), ${dataLength} follow it`);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const info = DTYPES[e.dtype];
    const data = info.decode(new DataView(bytes.buffer, bytes.byteOffset + dataStart + e.begin, e.end - e.begin), (e.end - e.begin) / info.bytes);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Reads and decodes a safetensors file; errors name `path`. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory, expected a file" : (err as Error).message;
    throw new SafetensorsError(`${path}: ${why}`, { cause: err });
  }
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/** IEEE 754 binary16 bits to their value (exact in float32). */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits to their value: the upper half of a float32. */
export function bfloat16BitsToNumber(b: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = (b & 0xffff) << 16;
  return f[0]!;
}

/**
 * A tensor's values as float32: F32 as it is (a copy), F16 and BF16 exactly, F64 rounded to
 * nearest (a finite value beyond float32's range is refused, not made infinite). Integer and
 * BOOL tensors are refused unless `options.integers` (weights are floats: an integer tensor
 * is more likely a buffer such as BatchNorm's num_batches_tracked); then only values float32
 * holds exactly (|v| ≤ 2^24) are converted. `where` names the tensor in errors.
 */
export function tensorAsFloat32(t: SafetensorsTensor, where: string, options: { integers?: boolean } = {}): Float32Array {
  const { dtype, data } = t;
  if (dtype === "F32") return Float32Array.from(data as Float32Array);
  if (dtype === "F16" || dtype === "BF16") {
    const convert = dtype === "F16" ? float16BitsToNumber : bfloat16BitsToNumber;
    return Float32Array.from(data as Uint16Array, convert);
  }
  if (dtype === "F64") {
    const out = Float32Array.from(data as Float64Array);
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]!) && Number.isFinite((data as Float64Array)[i]!)) {
        throw new SafetensorsError(`${where}: F64 value ${(data as Float64Array)[i]} at index ${i} is beyond float32's range`);
      }
    }
    return out;
  }
  if (!options.integers) throw new SafetensorsError(`${where}: dtype ${dtype} is an integer type, expected floating-point weights (F32, F64, F16 or BF16)`);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]!);
    if (Math.abs(v) > 2 ** 24) throw new SafetensorsError(`${where}: ${dtype} value ${data[i]} at index ${i} has no exact float32`);
    out[i] = v;
  }
  return out;
}

function compareUtf8(a: string, b: string): number {
  // The reference sorts Rust Strings, which compare by their UTF-8 bytes; JavaScript's
  // default order compares UTF-16 code units, which differs above U+FFFF.
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Serializes float32 tensors as a safetensors file, as the reference's serialize does:
 * tensors ordered by descending dtype alignment then by name (all F32 here, so by name),
 * offsets contiguous from 0, the header compact JSON padded with spaces to a multiple of 8.
 */
export function encodeSafetensors(tensors: { name: string; shape: number[]; data: Float32Array }[], metadata?: Record<string, string>): Uint8Array {
  const names = new Set<string>();
  for (const t of tensors) {
    const at = `encodeSafetensors: tensor ${JSON.stringify(t.name)}`;
    if (typeof t.name !== "string" || t.name === "") throw new SafetensorsError(`encodeSafetensors: a tensor name must be a non-empty string, got ${JSON.stringify(t.name)}`);
    if (t.name === "__metadata__") throw new SafetensorsError(`${at}: the name is reserved for the header's metadata`);
    if (names.has(t.name)) throw new SafetensorsError(`${at}: named twice`);
    names.add(t.name);
    if (!(t.data instanceof Float32Array)) throw new SafetensorsError(`${at}: data must be a Float32Array`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`${at}: shape must hold non-negative integers, got [${t.shape}]`);
    const elements = t.shape.reduce((a, d) => a * d, 1);
    if (elements !== t.data.length) throw new SafetensorsError(`${at}: shape [${t.shape}] needs ${elements} values, data holds ${t.data.length}`);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== "string") throw new SafetensorsError(`encodeSafetensors: metadata.${k} must be a string, got ${JSON.stringify(v)}`);
  }
  const ordered = [...tensors].sort((a, b) => compareUtf8(a.name, b.name));
  // No prototype: a tensor named "__proto__" must be a key like any other.
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of ordered) {
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
    offset += 4 * t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  for (const t of ordered) {
    for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i]!, true);
  }
  return out;
}
