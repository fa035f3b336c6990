// The .npy reader and the npy dataset. Ground truth: files numpy 1.24 wrote with np.save
// (test/fixtures/npy/make.py, whose formulas the tests recompute), and hand-built bytes
// for what np.save does not write (refusals, odd but valid headers).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datasetHash } from "../../src/data/bundle.js";
import { DataError } from "../../src/data/dataset.js";
import { idxToDataset, writeIdx, writeIdxLabels } from "../../src/data/idx.js";
import { loadDataset } from "../../src/data/load.js";
import { loadNpyDataset, npyToDataset, type NpyDatasetOptions } from "../../src/data/npy-dataset.js";
import { parseNpy, readNpyFile, type NpyArray } from "../../src/data/npy.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/npy/", import.meta.url));
const fx = (name: string): string => join(FIXTURES, name);

/** A .npy file from a header text (padded to 64 unless `pad` is false) and data bytes. */
function npyBytes(header: string, data: ArrayLike<number> = [], version = 1, pad = true): Uint8Array {
  const lengthBytes = version === 1 ? 2 : 4;
  let text = header;
  if (pad) {
    const total = 8 + lengthBytes + text.length + 1;
    text += " ".repeat((64 - (total % 64)) % 64) + "\n";
  }
  const h = Buffer.from(text, "utf8");
  const out = new Uint8Array(8 + lengthBytes + h.length + data.length);
  out.set([0x93, ...Buffer.from("NUMPY", "latin1"), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  out.set(h, 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + h.length);
  return out;
}

const dict = (descr: string, shape: string, fortran = "False"): string => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

function f32le(values: number[]): number[] {
  return [...new Uint8Array(Float32Array.from(values).buffer)];
}

function refused(bytes: Uint8Array, ...parts: string[]): void {
  let err: unknown = null;
  try {
    parseNpy(bytes, "a.npy");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(/^a\.npy: /);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

function datasetRefused(inputs: NpyArray, labels: NpyArray, options: NpyDatasetOptions, ...parts: string[]): void {
  let err: unknown = null;
  try {
    npyToDataset(inputs, labels, { inputs: "x.npy", labels: "y.npy" }, options);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DataError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

const N = 3;
const C = 2;
const H = 2;
const W = 3;
/** make.py's x_nchw_u1: (arange(N·C·H·W) · 7) mod 256 in [N, C, H, W]. */
const pixel = (n: number, c: number, h: number, w: number): number => (((((n * C + c) * H + h) * W + w) * 7) % 256);

describe("parseNpy on numpy's own files", () => {
  it("uint8 [N, C, H, W], version 1.0", async () => {
    const a = await readNpyFile(fx("x_nchw_u1.npy"));
    expect(a.dtype).toBe("u1");
    expect(a.shape).toEqual([N, C, H, W]);
    expect([...a.data]).toEqual(Array.from({ length: N * C * H * W }, (_, i) => (i * 7) % 256));
  });
  it("big-endian float32 and int16, a version 2.0 float64, a version 3.0 int32, int64 labels", async () => {
    const be = await readNpyFile(fx("x_f4_be.npy"));
    expect(be).toMatchObject({ dtype: "f4", shape: [3, 4] });
    expect([...be.data]).toEqual(Array.from({ length: 12 }, (_, i) => (i - 5.5) / 8));
    const v2 = await readNpyFile(fx("x_f8_v2.npy"));
    expect(v2).toMatchObject({ dtype: "f8", shape: [3, 2] });
    expect([...v2.data]).toEqual([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3]);
    expect([...(await readNpyFile(fx("y_i4_v3.npy"))).data]).toEqual([0, 1, 1]);
    expect([...(await readNpyFile(fx("y_i2_be.npy"))).data]).toEqual([1, 0, 2]);
    const i8 = await readNpyFile(fx("y_i8.npy"));
    expect(i8.data).toEqual(BigInt64Array.of(1n, 3n, 0n));
  });
  it("refuses Fortran order, saying what to do", async () => {
    await expect(readNpyFile(fx("x_fortran_f4.npy"))).rejects.toThrow(/x_fortran_f4\.npy: the array is stored in Fortran .*np\.ascontiguousarray/);
  });
});

describe("parseNpy on hand-built bytes", () => {
  it("reads keys in any order, a header np.save did not pad, L-suffixed sizes, a scalar, an empty array, '=' order", () => {
    const a = parseNpy(npyBytes("{'shape': (2L,), 'fortran_order': False, 'descr': '<f4'}", f32le([1.5, -3]), 1, false), "a.npy");
    expect(a).toMatchObject({ dtype: "f4", shape: [2] });
    expect([...a.data]).toEqual([1.5, -3]);
    expect(parseNpy(npyBytes(dict("<f4", "()"), f32le([7])), "a.npy")).toMatchObject({ shape: [], data: Float32Array.of(7) });
    expect(parseNpy(npyBytes(dict("|u1", "(0, 5)")), "a.npy").data.length).toBe(0);
    expect([...parseNpy(npyBytes(dict("=u1", "(1,)"), [9]), "a.npy").data]).toEqual([9]);
    expect([...parseNpy(npyBytes(dict("<u1", "(1,)"), [9]), "a.npy").data]).toEqual([9]);
  });
  it("refuses what is not a .npy file, unknown versions and truncation", () => {
    refused(new Uint8Array([1, 2, 3]), "not a .npy file");
    refused(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0]), "zip archive", "np.save");
    refused(npyBytes(dict("|u1", "(1,)"), [1]).subarray(0, 9), "truncated");
    const v4 = npyBytes(dict("|u1", "(1,)"), [1]);
    v4[6] = 4;
    refused(v4, "version 4.0 is not known");
    refused(npyBytes(dict("|u1", "(1,)"), [1]).subarray(0, 40), "truncated", "header declares");
    refused(npyBytes(dict("<f4", "(3,)"), f32le([1, 2])), "truncated", "needs 12 bytes", "8 follow");
    refused(npyBytes(dict("<f4", "(1,)"), f32le([1, 2])), "has trailing bytes");
  });
  it("refuses dtypes it does not read, with their descr", () => {
    refused(npyBytes(dict("<c8", "(1,)"), new Array(8).fill(0)), "dtype '<c8' is not supported");
    refused(npyBytes(dict("<f2", "(1,)"), [0, 0]), "dtype '<f2'");
    refused(npyBytes(dict("|b1", "(1,)"), [1]), "dtype '|b1'");
    refused(npyBytes(dict("<u8", "(1,)"), new Array(8).fill(0)), "dtype '<u8'");
    refused(npyBytes(dict("|i4", "(1,)"), [0, 0, 0, 0]), "needs a byte order");
    refused(npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]), "structured or object arrays");
  });
  it("refuses headers that are not np.save's dict", () => {
    refused(npyBytes("{'descr': '<f4', 'shape': (1,), }", f32le([1])), "fortran_order");
    refused(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", f32le([1])), "unknown key 'extra'");
    refused(npyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", f32le([1])), "the key 'descr' twice");
    refused(npyBytes(dict("<f4", "(1.5,)"), f32le([1])), "not a dict np.save writes");
    refused(npyBytes(dict("<f4", "(-1,)"), f32le([1])), "shape must be a tuple of non-negative integers");
    refused(npyBytes(dict("<f4", "(1,)") + " x", f32le([1])), "text after the dict");
    refused(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", f32le([1])), "not a dict np.save writes");
    refused(npyBytes("['<f4']", f32le([1])), "not a dict");
    refused(npyBytes(dict("<f4", "(1,)").replace("'shape'", "'sh\\x61pe'"), f32le([1])), "an escape in a string");
    refused(npyBytes(dict("<f4", "(1,)").replace("'shape'", "'shapé'"), f32le([1])), "must be ASCII");
  });
  it("reads a version 3.0 header in UTF-8", () => {
    const bad = npyBytes(dict("<f4", "(1,)").replace("'shape'", "'shapé'"), f32le([1]), 3);
    refused(bad, "unknown key 'shapé'");
  });
});

describe("npyToDataset", () => {
  let nchw: NpyArray;
  let nhwc: NpyArray;
  let yU1: NpyArray;
  beforeAll(async () => {
    nchw = await readNpyFile(fx("x_nchw_u1.npy"));
    nhwc = await readNpyFile(fx("x_nhwc_u1.npy"));
    yU1 = await readNpyFile(fx("y_u1.npy"));
  });
  const files = { inputs: "x.npy", labels: "y.npy" };

  it("4-D inputs default to nchw and end NHWC: x[n, h, w, c] = pixel(n, c, h, w) × scale, as numpy's transpose", () => {
    const ds = npyToDataset(nchw, yU1, files, { scale: 1 / 255 });
    expect(ds.featureShape).toEqual([H, W, C]);
    expect(ds).toMatchObject({ n: N, numClasses: 3, name: "npy:x.npy" });
    expect([...ds.y]).toEqual([2, 0, 1]);
    const expected: number[] = [];
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) expected.push(Math.fround(pixel(n, c, h, w) / 255));
    expect([...ds.x]).toEqual(expected);
    const fromNhwc = npyToDataset(nhwc, yU1, files, { layout: "nhwc", scale: 1 / 255 });
    expect(fromNhwc.featureShape).toEqual([H, W, C]);
    expect(fromNhwc.x).toEqual(ds.x);
  });

  it("flat keeps C order, and uint8 × 1/255 gives the IDX reader's values and the same dataset hash", () => {
    const ds = npyToDataset(nchw, yU1, files, { layout: "flat", scale: 1 / 255 });
    expect(ds.featureShape).toEqual([C * H * W]);
    const idx = idxToDataset(writeIdx(nchw.data as Uint8Array, N, 1, C * H * W), writeIdxLabels(yU1.data as Uint8Array), { images: "i", labels: "l" });
    expect(ds.x).toEqual(idx.x);
    expect(datasetHash(ds)).toBe(datasetHash(idx));
    // The scale as a number is the fraction: fround(p · (1/255)) = fround(p / 255) for every byte.
    for (let p = 0; p < 256; p++) expect(Math.fround(p * (1 / 255))).toBe(Math.fround(p / 255));
  });

  it("3-D [N, H, W] is [H, W, 1]; 2-D is flat; float64 rounds to float32; scale defaults to 1", async () => {
    const hw = await readNpyFile(fx("x_hw_f4.npy"));
    const y = await readNpyFile(fx("y_i4_v3.npy"));
    const ds = npyToDataset(hw, y, files);
    expect(ds.featureShape).toEqual([2, 2, 1]);
    expect([...ds.x]).toEqual(Array.from({ length: 12 }, (_, i) => i / 4));
    expect(npyToDataset(hw, y, files, { layout: "nhwc" }).featureShape).toEqual([2, 2, 1]);
    expect(npyToDataset(hw, y, files, { layout: "flat" }).featureShape).toEqual([4]);
    const f8 = npyToDataset(await readNpyFile(fx("x_f8_v2.npy")), await readNpyFile(fx("y_i8.npy")), files, { scale: 2 });
    expect(f8.featureShape).toEqual([2]);
    expect([...f8.x]).toEqual([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3].map((v) => Math.fround(v * 2)));
    expect(f8.numClasses).toBe(4);
  });

  it("limit keeps the first examples; classes widens the label range", () => {
    const ds = npyToDataset(nchw, yU1, files, { limit: 2, classes: 10 });
    expect(ds).toMatchObject({ n: 2, numClasses: 10 });
    expect([...ds.y]).toEqual([2, 0]);
    expect(ds.x.length).toBe(2 * C * H * W);
    datasetRefused(nchw, yU1, { limit: 4 }, "limit 4 exceeds the 3 examples");
  });

  it("refuses mismatched counts, labels out of range, bad label arrays, naming the file", () => {
    const y = (dtype: NpyArray["dtype"], data: NpyArray["data"], shape = [data.length]): NpyArray => ({ dtype, shape, data });
    datasetRefused(nchw, y("u1", Uint8Array.of(0, 1)), {}, "y.npy: holds 2 labels but x.npy holds 3 examples");
    datasetRefused(nchw, yU1, { classes: 2 }, "y.npy: label 2 of example 0 is outside [0, 2) for classes = 2");
    datasetRefused(nchw, y("i8", BigInt64Array.of(0n, -1n, 1n)), {}, "y.npy: label -1 of example 1 is negative");
    datasetRefused(nchw, y("i8", BigInt64Array.of(0n, 2n ** 40n, 1n)), {}, "y.npy: label 1099511627776 of example 1");
    datasetRefused(nchw, y("f4", Float32Array.of(0, 1, 2)), {}, "y.npy: labels must be integers", "astype(np.int64)");
    datasetRefused(nchw, y("u1", Uint8Array.of(0, 1, 2, 0, 1, 2), [3, 2]), {}, "y.npy: labels must be one class index per example", "argmax");
  });

  it("refuses bad inputs: dtype, layout for the rank, non-finite values, empty examples", () => {
    const x = (dtype: NpyArray["dtype"], shape: number[], data: NpyArray["data"]): NpyArray => ({ dtype, shape, data });
    datasetRefused(x("i4", [3, 1], Int32Array.of(1, 2, 3)), yU1, {}, "x.npy: inputs must be uint8, float32 or float64");
    datasetRefused(x("f4", [3], Float32Array.of(1, 2, 3)), yU1, {}, "x.npy: inputs of shape (3) need at least 2 axes");
    datasetRefused(x("f4", [3, 2], new Float32Array(6)), yU1, { layout: "nchw" }, "layout nchw needs images of 4 axes", "layout: flat");
    datasetRefused(x("f4", [3, 1, 2], new Float32Array(6)), yU1, { layout: "nchw" }, "no channel axis");
    datasetRefused(x("f4", [3, 1, 1, 1, 2], new Float32Array(6)), yU1, {}, "have 5 axes");
    expect(npyToDataset(x("f4", [3, 1, 1, 1, 2], new Float32Array(6)), yU1, files, { layout: "flat" }).featureShape).toEqual([2]);
    datasetRefused(x("f4", [3, 0], new Float32Array(0)), yU1, {}, "hold no values");
    datasetRefused(x("f4", [3, 2], Float32Array.of(0, 0, 0, NaN, 0, 0)), yU1, {}, "x.npy: example 1 holds a value that is not finite");
    datasetRefused(x("f8", [3, 1], Float64Array.of(0, 1e39, 0)), yU1, {}, "x.npy: example 1 holds a value that is not finite as float32");
    datasetRefused(x("f4", [3, 1], Float32Array.of(0, 1e38, 0)), yU1, { scale: 10 }, "example 1", "after × 10");
    datasetRefused(nchw, yU1, { scale: 0 }, "scale must be a positive number");
    datasetRefused(nchw, yU1, { layout: "chw" as "flat" }, "layout must be nchw, nhwc or flat");
  });
});

describe("loadNpyDataset and loadDataset({kind: npy})", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gradswarm-npy-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  it("loads numpy's files, relative paths against the base folder", async () => {
    const ds = await loadDataset({ kind: "npy", inputs: "x_nchw_u1.npy", labels: "y_u1.npy", scale: 1 / 255, limit: 2 }, FIXTURES);
    expect(ds).toMatchObject({ n: 2, featureShape: [H, W, C], numClasses: 3 });
    const be = await loadNpyDataset(fx("x_f4_be.npy"), fx("y_i2_be.npy"));
    expect(be.featureShape).toEqual([4]);
    expect([...be.y]).toEqual([1, 0, 2]);
  });
  it("names both files when both fail, else the one that failed", async () => {
    const bad = join(dir, "bad.npy");
    await writeFile(bad, "hello");
    const both = await loadNpyDataset(join(dir, "none.npy"), bad).catch((e: unknown) => e);
    expect(both).toBeInstanceOf(DataError);
    expect((both as Error).message).toMatch(/none\.npy: file not found; .*bad\.npy: not a \.npy file/);
    await expect(loadNpyDataset(fx("x_nchw_u1.npy"), join(dir, "none.npy"))).rejects.toThrow(/none\.npy: file not found/);
  });
});
