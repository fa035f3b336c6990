// The built-in models (mlp, cnn) take each example as one flat vector: the cnn's first
// layer reshapes it to input_shape [h, w, c]. Datasets of images have examples of shape
// [h, w, c] (npy data ends NHWC). Flattening those keeps their values in HWC order, which
// is the order the cnn's reshape reads, so such a dataset is flattened for them; a layers
// model declares its own input shape and gets the dataset as it is (the worker checks it).

import { DataError, featureSize, type Dataset } from "../data/dataset.js";
import type { ModelSource } from "./config/load.js";

/** The dataset as `model` takes it; refuses images whose shape is not the cnn's input_shape. */
export function fitDatasetToModel(model: ModelSource, dataset: Dataset): Dataset {
  if (model.kind === "layers" || model.kind === "onnx" || dataset.featureShape.length === 1) return dataset;
  if (model.kind === "cnn" && dataset.featureShape.join(",") !== model.inputShape.join(",")) {
    throw new DataError(
      `model.input_shape is [${model.inputShape.join(", ")}] but the examples of ${dataset.name} have shape [${dataset.featureShape.join(", ")}] (height, width, channels)`,
    );
  }
  return { ...dataset, featureShape: [featureSize(dataset)] };
}
