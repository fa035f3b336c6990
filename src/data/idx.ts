// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, type, rank), one
// big-endian uint32 per dimension, then the values. Only unsigned bytes (type 0x08) are
// read: images of rank 3 (n × rows × cols) and labels of rank 1. Files may be gzipped;
// that is told from the gzip magic bytes, not the file name, because downloads are often
// renamed or unpacked by a browser.

import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { gunzipSync } from "node:zlib";
import { DataError, resolveLimit, validateDataset, type Dataset } from "./dataset.js";

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;
const UBYTE = 0x08;

export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** n × rows × cols bytes, row-major. */
  pixels: Uint8Array;
}

export interface IdxDatasetOptions {
  /** Keep the first `limit` examples. */
  limit?: number;
  /** Number of classes; default: the largest label in the file plus one. */
  classes?: number;
  /** Display name; default "idx:" + the images file's base name. */
  name?: string;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` when they start with the gzip magic, else returns them as they are. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new DataError(`${file}: is gzip-compressed but cannot be decompressed (truncated or corrupt?): ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a file, mapping a missing or unreadable file to a DataError that names it. */
export async function readDataFile(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory, expected a file" : (err as Error).message;
    throw new DataError(`${path}: ${why}`, { cause: err });
  }
}

function describeMagic(magic: number): string {
  if (magic === IDX_IMAGES_MAGIC) return "an IDX images file (0x00000803)";
  if (magic === IDX_LABELS_MAGIC) return "an IDX labels file (0x00000801)";
  return `magic 0x${magic.toString(16).padStart(8, "0")}`;
}

/** Parses the header of an uncompressed IDX file and checks the length it declares. */
function parseIdx(bytes: Uint8Array, file: string, expectedMagic: number): { dims: number[]; data: Uint8Array } {
  const rank = expectedMagic & 0xff;
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < 4) throw new DataError(`${file}: truncated: ${bytes.length} bytes, an IDX file starts with a 4-byte magic`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    const want = describeMagic(expectedMagic);
    const ubyteHint = bytes[0] === 0 && bytes[1] === 0 && bytes[2] !== UBYTE ? ` (element type 0x${bytes[2]!.toString(16)} is not supported, only unsigned bytes)` : "";
    throw new DataError(`${file}: wrong magic: expected ${want}, found ${describeMagic(magic)}${ubyteHint}`);
  }
  if (bytes.length < headerBytes) {
    throw new DataError(`${file}: truncated: ${bytes.length} bytes, the header of a rank-${rank} IDX file takes ${headerBytes}`);
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const actual = bytes.length - headerBytes;
  if (actual !== count) {
    const what = actual < count ? "truncated" : "has trailing bytes";
    throw new DataError(`${file}: ${what}: its header declares dimensions [${dims.join(" × ")}] = ${count} bytes of data, ${actual} follow`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Parses an IDX images file (gzipped or not). `file` names it in errors. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const { dims, data } = parseIdx(maybeGunzip(bytes, file), file, IDX_IMAGES_MAGIC);
  const [n, rows, cols] = dims as [number, number, number];
  if (n < 1) throw new DataError(`${file}: declares 0 images`);
  if (rows < 1 || cols < 1) throw new DataError(`${file}: declares images of ${rows} × ${cols} pixels`);
  return { n, rows, cols, pixels: data };
}

/** Parses an IDX labels file (gzipped or not). `file` names it in errors. */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  const { dims, data } = parseIdx(maybeGunzip(bytes, file), file, IDX_LABELS_MAGIC);
  if (dims[0]! < 1) throw new DataError(`${file}: declares 0 labels`);
  return data;
}

/** Serializes n × rows × cols uint8 images as an uncompressed IDX images file. */
export function writeIdx(images: Uint8Array, n: number, rows: number, cols: number): Uint8Array {
  for (const [k, v] of Object.entries({ n, rows, cols })) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`writeIdx: ${k} must be a uint32, got ${v}`);
  }
  if (images.length !== n * rows * cols) {
    throw new RangeError(`writeIdx: ${images.length} pixels given, ${n} × ${rows} × ${cols} needs ${n * rows * cols}`);
  }
  const out = new Uint8Array(16 + images.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_IMAGES_MAGIC, false);
  view.setUint32(4, n, false);
  view.setUint32(8, rows, false);
  view.setUint32(12, cols, false);
  out.set(images, 16);
  return out;
}

/** Serializes uint8 labels as an uncompressed IDX labels file. */
export function writeIdxLabels(labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_LABELS_MAGIC, false);
  view.setUint32(4, labels.length, false);
  out.set(labels, 8);
  return out;
}

/** One float32 per byte value, so that every loader maps pixel p to exactly fround(p / 255). */
const PIXEL_SCALE = Float32Array.from({ length: 256 }, (_, p) => p / 255);

/**
 * Builds a Dataset from the bytes of an images and a labels file: pixels / 255,
 * flattened row-major to featureShape [rows × cols].
 */
export function idxToDataset(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  files: { images: string; labels: string },
  options: IdxDatasetOptions = {},
): Dataset {
  const images = parseIdxImages(imageBytes, files.images);
  const labels = parseIdxLabels(labelBytes, files.labels);
  if (labels.length !== images.n) {
    throw new DataError(`${files.labels}: holds ${labels.length} labels but ${files.images} holds ${images.n} images`);
  }
  let maxLabel = 0;
  for (const l of labels) if (l > maxLabel) maxLabel = l;
  let numClasses = maxLabel + 1;
  if (options.classes !== undefined) {
    const c = options.classes;
    if (!Number.isSafeInteger(c) || c < 1) throw new DataError(`${files.labels}: classes must be a positive integer, got ${c}`);
    if (maxLabel >= c) {
      const at = labels.indexOf(maxLabel);
      throw new DataError(`${files.labels}: label ${maxLabel} of example ${at} is outside [0, ${c}) for classes = ${c}`);
    }
    numClasses = c;
  }
  const where = `${files.images}, ${files.labels}`;
  const keep = resolveLimit(options.limit, images.n, where);
  const size = images.rows * images.cols;
  const x = new Float32Array(keep * size);
  for (let i = 0; i < x.length; i++) x[i] = PIXEL_SCALE[images.pixels[i]!]!;
  const y = new Int32Array(keep);
  for (let i = 0; i < keep; i++) y[i] = labels[i]!;
  const ds: Dataset = {
    name: options.name ?? `idx:${basename(files.images)}`,
    n: keep,
    featureShape: [size],
    numClasses,
    x,
    y,
  };
  validateDataset(ds, where);
  return ds;
}

/** Reads an images and a labels IDX file (each gzipped or not) into a Dataset. */
export async function loadIdxDataset(imagesPath: string, labelsPath: string, options: IdxDatasetOptions = {}): Promise<Dataset> {
  // Both read at once, but the failures reported in a fixed order (images, then labels)
  // and together: whichever read failed first must not decide the message.
  const [images, labels] = await Promise.allSettled([readDataFile(imagesPath), readDataFile(labelsPath)]);
  const failed = [images, labels].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failed.length === 2 && failed.every((e) => e instanceof DataError)) throw new DataError(failed.map((e) => (e as Error).message).join("; "));
  if (images.status === "rejected") throw images.reason;
  if (labels.status === "rejected") throw labels.reason;
  return idxToDataset(images.value, labels.value, { images: imagesPath, labels: labelsPath }, options);
}
