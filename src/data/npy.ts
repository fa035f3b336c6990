// The .npy format as np.save writes it (numpy.lib.format): the magic "\x93NUMPY", a major
// and minor version byte, the header's length (little-endian uint16 in version 1.0, uint32
// in 2.0 and 3.0), then the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 1, 28, 28), }
// padded with spaces and ended by "\n" (ASCII in 1.0 and 2.0, UTF-8 in 3.0), then the
// values. Only plain numeric dtypes are read, either byte order, in C order; Fortran order
// is refused (np.ascontiguousarray makes a C-order copy).
//
// Our own reader rather than an npm package: the one maintained, npyjs (1.2.0), reads the
// header with regular expressions, treats a big-endian descr as unsupported, does not check
// the data's length against the shape, needs the data aligned in memory, and brings
// cross-fetch; numpy-parser (1.2.3) is a smaller variant of the same. The format is small,
// and a reader that checks every field and names the file in its errors is ~150 lines.

import { DataError } from "./dataset.js";
import { readDataFile } from "./idx.js";

export const NPY_MAGIC = "\x93NUMPY";

/** The dtypes read (without their byte-order character). */
export type NpyDtype = "u1" | "i1" | "u2" | "i2" | "u4" | "i4" | "i8" | "f4" | "f8";

export type NpyData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** The values in C order, in a fresh buffer in the host's byte order. */
  data: NpyData;
}

interface DtypeReader {
  bytes: number;
  read: (view: DataView, count: number, little: boolean) => NpyData;
}

function reader<A extends NpyData, V extends number | bigint>(bytes: number, make: new (n: number) => A, get: (v: DataView, o: number, little: boolean) => V): DtypeReader {
  return {
    bytes,
    read: (view, count, little) => {
      const out = new make(count);
      const arr = out as unknown as { [i: number]: V };
      for (let i = 0; i < count; i++) arr[i] = get(view, i * bytes, little);
      return out;
    },
  };
}

// DataView reads in the file's byte order whatever the host's, and copies into an aligned
// buffer (the data starts at a multiple of 64 in np.save's files, but not in older ones).
const READERS: Record<NpyDtype, DtypeReader> = {
  u1: reader(1, Uint8Array, (v, o) => v.getUint8(o)),
  i1: reader(1, Int8Array, (v, o) => v.getInt8(o)),
  u2: reader(2, Uint16Array, (v, o, l) => v.getUint16(o, l)),
  i2: reader(2, Int16Array, (v, o, l) => v.getInt16(o, l)),
  u4: reader(4, Uint32Array, (v, o, l) => v.getUint32(o, l)),
  i4: reader(4, Int32Array, (v, o, l) => v.getInt32(o, l)),
  i8: reader(8, BigInt64Array, (v, o, l) => v.getBigInt64(o, l)),
  f4: reader(4, Float32Array, (v, o, l) => v.getFloat32(o, l)),
  f8: reader(8, Float64Array, (v, o, l) => v.getFloat64(o, l)),
};

type Literal = string | number | boolean | Literal[] | { [key: string]: Literal };

/**
 * Parses the header's dict: the subset of Python literals np.save writes (strings, ints,
 * True/False, tuples, a dict). Anything else (a structured dtype's list of fields is a
 * list, so it parses, and is refused by the caller) is an error.
 */
function parseHeaderDict(text: string, file: string): Record<string, Literal> {
  let i = 0;
  const fail = (what: string): never => {
    throw new DataError(`${file}: the .npy header is not a dict np.save writes (${what} at character ${i}): ${JSON.stringify(text.trimEnd())}`);
  };
  const skip = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const value = (): Literal => {
    skip();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail("an unterminated string");
      const s = text.slice(i + 1, end);
      if (s.includes("\\")) fail("an escape in a string");
      i = end + 1;
      return s;
    }
    if (c === "{" || c === "(" || c === "[") {
      const close = c === "{" ? "}" : c === "(" ? ")" : "]";
      i++;
      const items: Literal[] = [];
      const dict: Record<string, Literal> = Object.create(null) as Record<string, Literal>;
      for (;;) {
        skip();
        if (text[i] === close) break;
        const item = value();
        if (c === "{") {
          if (typeof item !== "string") fail("a key that is not a string");
          skip();
          if (text[i] !== ":") fail('a missing ":"');
          i++;
          if (Object.hasOwn(dict, item as string)) fail(`the key '${item as string}' twice`);
          dict[item as string] = value();
        } else {
          items.push(item);
        }
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== close) fail(`a missing "," or "${close}"`);
      }
      i++;
      return c === "{" ? dict : items;
    }
    const word = /^(True|False|-?\d+L?)/.exec(text.slice(i));
    if (!word) return fail("an unexpected character");
    i += word[0].length;
    if (word[0] === "True" || word[0] === "False") return word[0] === "True";
    // Python 2's numpy wrote long integers with an L suffix ("(3L, 4L)").
    return Number(word[0].replace("L", ""));
  };
  const dict = value();
  skip();
  if (i !== text.length) fail("text after the dict");
  if (typeof dict !== "object" || Array.isArray(dict)) return fail("not a dict");
  return dict as Record<string, Literal>;
}

/** Decodes the bytes of a .npy file; `file` names it in errors. */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== NPY_MAGIC) {
    const hint = bytes[0] === 0x50 && bytes[1] === 0x4b ? " (this is a zip archive: an .npz holds several arrays; save each with np.save)" : "";
    throw new DataError(`${file}: not a .npy file: it does not start with "\\x93NUMPY"${hint}`);
  }
  if (bytes.length < 10) throw new DataError(`${file}: truncated: ${bytes.length} bytes, the .npy preamble takes at least 10`);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) throw new DataError(`${file}: .npy format version ${major}.${minor} is not known (1.0, 2.0 and 3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new DataError(`${file}: truncated in the header's length`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.length) throw new DataError(`${file}: truncated: the header declares ${headerLength} bytes, ${bytes.length - 8 - lengthBytes} follow`);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? "utf-8" : "ascii", { fatal: true }).decode(bytes.subarray(8 + lengthBytes, dataStart));
  } catch (err) {
    throw new DataError(`${file}: the .npy header is not valid ${major === 3 ? "UTF-8" : "ASCII"}`, { cause: err });
  }
  if (major < 3 && /[^\x00-\x7f]/.test(text)) throw new DataError(`${file}: the .npy header of a version ${major}.0 file must be ASCII`);
  const header = parseHeaderDict(text, file);
  for (const key of Object.keys(header)) {
    if (!["descr", "fortran_order", "shape"].includes(key)) throw new DataError(`${file}: the .npy header has an unknown key '${key}'`);
  }
  const { descr, fortran_order: fortran, shape } = header;
  if (typeof descr !== "string") {
    throw new DataError(`${file}: dtype ${JSON.stringify(descr)} is not supported: only plain numeric arrays are read, not structured or object arrays`);
  }
  if (typeof fortran !== "boolean") throw new DataError(`${file}: the .npy header needs fortran_order: True or False`);
  if (fortran) throw new DataError(`${file}: the array is stored in Fortran (column-major) order; save np.ascontiguousarray(a) instead`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw new DataError(`${file}: the .npy header's shape must be a tuple of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const m = /^([<>|=])([uif][1248])$/.exec(descr);
  const code = m?.[2] as NpyDtype | undefined;
  if (!m || code === undefined || !Object.hasOwn(READERS, code)) {
    throw new DataError(`${file}: dtype '${descr}' is not supported (read: uint8, int8, int16, uint16, int32, uint32, int64, float32, float64)`);
  }
  const order = m[1]!;
  const r = READERS[code];
  // '|' is "not applicable": only for one byte. '=' is native, which np.save never writes.
  if (order === "|" && r.bytes > 1) throw new DataError(`${file}: dtype '${descr}' of ${r.bytes} bytes needs a byte order, '<' or '>'`);
  const little = order === "<" || order === "|" || (order === "=" && new Uint8Array(Uint16Array.of(1).buffer)[0] === 1);
  const dims = shape as number[];
  const count = dims.reduce((a, d) => a * d, 1);
  const expected = count * r.bytes;
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    const what = actual < expected ? "truncated" : "has trailing bytes";
    throw new DataError(`${file}: ${what}: shape (${dims.join(", ")}) of '${descr}' needs ${expected} bytes of data, ${actual} follow the header`);
  }
  const data = r.read(new DataView(bytes.buffer, bytes.byteOffset + dataStart, expected), count, little);
  return { dtype: code, shape: dims, data };
}

/** Reads a .npy file; errors name `path`. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  return parseNpy(await readDataFile(path), path);
}
