// The built-in models take flat examples; npy images come as [h, w, c] (HWC order).
import { describe, expect, it } from "vitest";
import type { ModelSource } from "../../src/coordinator/config/load.js";
import { fitDatasetToModel } from "../../src/coordinator/fit-data.js";
import { DataError, type Dataset } from "../../src/data/dataset.js";

const images: Dataset = { name: "img", n: 2, featureShape: [2, 3, 1], numClasses: 2, x: Float32Array.from({ length: 12 }, (_, i) => i), y: Int32Array.of(0, 1) };
const cnn = (inputShape: [number, number, number]): ModelSource => ({ kind: "cnn", inputShape, filters: [4], kernel: 3, classes: 2, activation: "relu", seed: 0, init: "glorot_uniform" });
const mlp: ModelSource = { kind: "mlp", layers: [6, 2], activation: "relu", seed: 0, init: "glorot_uniform" };

describe("fitDatasetToModel", () => {
  it("flattens [h, w, c] examples for the cnn of that input_shape and for an mlp, values untouched (HWC order is the cnn's reshape)", () => {
    for (const model of [cnn([2, 3, 1]), mlp]) {
      const fit = fitDatasetToModel(model, images);
      expect(fit.featureShape).toEqual([6]);
      expect(fit.x).toBe(images.x);
      expect(fit.y).toBe(images.y);
    }
  });
  it("leaves flat datasets and layers models alone", () => {
    expect(fitDatasetToModel({ kind: "layers", path: "m.json" }, images)).toBe(images);
    const flat = { ...images, featureShape: [6] };
    expect(fitDatasetToModel(cnn([2, 3, 1]), flat)).toBe(flat);
  });
  it("refuses images whose shape is not the cnn's input_shape, even of the same size", () => {
    expect(() => fitDatasetToModel(cnn([3, 2, 1]), images)).toThrow(DataError);
    expect(() => fitDatasetToModel(cnn([3, 2, 1]), images)).toThrow("model.input_shape is [3, 2, 1] but the examples of img have shape [2, 3, 1]");
  });
});
