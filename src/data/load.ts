// One entry point from a config's data section to a Dataset.

import { resolve } from "node:path";
import { DataError, type Dataset } from "./dataset.js";
import { loadIdxDataset } from "./idx.js";
import { loadMnist } from "./mnist.js";
import { loadNpyDataset, type NpyDatasetOptions, type NpyLayout } from "./npy-dataset.js";
import { makeSyntheticDataset } from "./synthetic.js";

export type DataSpec =
  | { kind: "mnist"; limit?: number }
  | { kind: "idx"; images: string; labels: string; limit?: number; classes?: number }
  | { kind: "npy"; inputs: string; labels: string; layout?: NpyLayout; scale?: number; limit?: number; classes?: number }
  | { kind: "synthetic"; n: number; features: number; classes: number; seed: number; teacherHidden?: number; labelNoise?: number };

/**
 * Loads the dataset a spec describes. Relative file paths resolve against `baseDir`
 * (the directory of the config file that names them); `limit` keeps the first examples.
 */
export async function loadDataset(spec: DataSpec, baseDir: string): Promise<Dataset> {
  switch (spec.kind) {
    case "mnist":
      return loadMnist(spec.limit === undefined ? {} : { limit: spec.limit });
    case "idx": {
      if (typeof spec.images !== "string" || spec.images === "") throw new DataError("data.images: must be a file path");
      if (typeof spec.labels !== "string" || spec.labels === "") throw new DataError("data.labels: must be a file path");
      const options: { limit?: number; classes?: number } = {};
      if (spec.limit !== undefined) options.limit = spec.limit;
      if (spec.classes !== undefined) options.classes = spec.classes;
      return loadIdxDataset(resolve(baseDir, spec.images), resolve(baseDir, spec.labels), options);
    }
    case "npy": {
      if (typeof spec.inputs !== "string" || spec.inputs === "") throw new DataError("data.inputs: must be a file path");
      if (typeof spec.labels !== "string" || spec.labels === "") throw new DataError("data.labels: must be a file path");
      const options: NpyDatasetOptions = {};
      if (spec.layout !== undefined) options.layout = spec.layout;
      if (spec.scale !== undefined) options.scale = spec.scale;
      if (spec.limit !== undefined) options.limit = spec.limit;
      if (spec.classes !== undefined) options.classes = spec.classes;
      return loadNpyDataset(resolve(baseDir, spec.inputs), resolve(baseDir, spec.labels), options);
    }
    case "synthetic": {
      const { n, features, classes, seed, teacherHidden, labelNoise } = spec;
      return makeSyntheticDataset({
        n,
        features,
        classes,
        seed,
        ...(teacherHidden === undefined ? {} : { teacherHidden }),
        ...(labelNoise === undefined ? {} : { labelNoise }),
      });
    }
    default:
      throw new DataError(`data.kind: must be "mnist", "idx", "npy" or "synthetic", got ${JSON.stringify((spec as { kind?: unknown }).kind)}`);
  }
}
