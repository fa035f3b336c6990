import { describe, expect, it } from "vitest";
import { datasetFromBundleBytes, datasetHash, datasetToBundleBytes } from "../../src/data/bundle.js";
import type { Dataset } from "../../src/data/dataset.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { ProtocolError } from "../../src/protocol/errors.js";
import { encodeTensorBundle } from "../../src/protocol/tensor-bundle.js";

const ds = makeSyntheticDataset({ n: 50, features: 7, classes: 3, seed: 11 });

function bundleWith(over: { kind?: string; meta?: Record<string, unknown>; y?: Int32Array; xShape?: number[] }): Uint8Array {
  return encodeTensorBundle({
    kind: over.kind ?? "dataset",
    meta: over.meta ?? { numClasses: 3 },
    tensors: [
      { name: "x", shape: over.xShape ?? [50, 7], dtype: "float32", data: ds.x },
      { name: "y", shape: [50], dtype: "int32", data: over.y ?? ds.y },
    ],
  });
}

describe("dataset bundle", () => {
  it("round-trips", () => {
    const back = datasetFromBundleBytes(datasetToBundleBytes(ds), "copy");
    expect(back.name).toBe("copy");
    expect({ ...back, name: ds.name, x: Array.from(back.x), y: Array.from(back.y) }).toEqual({ ...ds, x: Array.from(ds.x), y: Array.from(ds.y) });
  });

  it("keeps a multi-dimensional feature shape", () => {
    const img: Dataset = { ...ds, featureShape: [7, 1] };
    expect(datasetFromBundleBytes(datasetToBundleBytes(img), "img").featureShape).toEqual([7, 1]);
  });

  it("hashes stably and independently of the name", () => {
    const h = datasetHash(ds);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(datasetHash(ds)).toBe(h);
    expect(datasetHash({ ...ds, name: "other" })).toBe(h);
    expect(datasetHash(makeSyntheticDataset({ n: 50, features: 7, classes: 3, seed: 11 }))).toBe(h);
    expect(datasetHash(datasetFromBundleBytes(datasetToBundleBytes(ds), "x"))).toBe(h);
    const y = ds.y.slice();
    y[0] = (y[0]! + 1) % 3;
    expect(datasetHash({ ...ds, y })).not.toBe(h);
    expect(datasetHash({ ...ds, numClasses: 4 })).not.toBe(h);
  });

  it("rejects corrupted bytes", () => {
    const bytes = datasetToBundleBytes(ds);
    expect(() => datasetFromBundleBytes(bytes.subarray(0, bytes.length - 4), "t")).toThrow(ProtocolError);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(() => datasetFromBundleBytes(badMagic, "t")).toThrow(/magic/);
    const badHeader = bytes.slice();
    badHeader[14] = 0xff;
    expect(() => datasetFromBundleBytes(badHeader, "t")).toThrow(ProtocolError);
  });

  it("validates kind, meta, shapes and labels, naming the field", () => {
    expect(() => datasetFromBundleBytes(bundleWith({ kind: "snapshot" }), "t")).toThrow(/bundle\.kind/);
    expect(() => datasetFromBundleBytes(bundleWith({ meta: {} }), "t")).toThrow(/bundle\.meta\.numClasses/);
    expect(() => datasetFromBundleBytes(bundleWith({ meta: { numClasses: 3, extra: 1 } }), "t")).toThrow(/bundle\.meta\.extra/);
    expect(() => datasetFromBundleBytes(bundleWith({ xShape: [350] }), "t")).toThrow(/bundle\.tensors\[0\]\.shape/);
    expect(() => datasetFromBundleBytes(bundleWith({ xShape: [49, 7] }), "t")).toThrow(ProtocolError);
    const y = ds.y.slice();
    y[5] = 3;
    expect(() => datasetFromBundleBytes(bundleWith({ y }), "t")).toThrow(/label 3 of example 5/);
    const swapped = encodeTensorBundle({
      kind: "dataset",
      meta: { numClasses: 3 },
      tensors: [
        { name: "y", shape: [50], dtype: "int32", data: ds.y },
        { name: "x", shape: [50, 7], dtype: "float32", data: ds.x },
      ],
    });
    expect(() => datasetFromBundleBytes(swapped, "t")).toThrow(/bundle\.tensors\[0\]\.name/);
  });
});
