// model: {kind: onnx, path, weights?}: the ONNX file converted to θ (src/model/onnx), a
// checkpoint loaded into it by PyTorch name, and the model checked against the data.
// Every refusal happens here, before anything is started.

import type { Dataset } from "../data/dataset.js";
import { readOnnxModel } from "../model/onnx/convert.js";
import type { OnnxParameter } from "../model/onnx/layout.js";
import { loadCheckpoint } from "../model/onnx/weights.js";
import { readSafetensorsFile } from "../model/safetensors.js";
import type { Snapshot } from "../model/snapshot.js";
import { RunFailure } from "./run-failure.js";

export interface OnnxModelLoaded {
  snapshot: Snapshot;
  /** θ's weights by PyTorch name and layout, in θ's order. */
  parameters: OnnxParameter[];
}

export async function loadOnnxModel(model: { path: string; weights: string | null }, configFile: string, dataset: Dataset): Promise<OnnxModelLoaded> {
  let conv;
  try {
    conv = await readOnnxModel(model.path);
  } catch (err) {
    throw new RunFailure(`${configFile}: model.path: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  if (conv.tfjsInputShape.join(",") !== dataset.featureShape.join(",")) {
    const onnx = `[N, ${conv.inputShape.join(", ")}]`;
    problems.push(`the ONNX model takes inputs ${onnx} (as [${conv.tfjsInputShape.join(", ")}] per example after NCHW → NHWC) but the examples of ${dataset.name} have shape [${dataset.featureShape.join(", ")}]`);
  }
  if (conv.classes !== dataset.numClasses) problems.push(`the ONNX model has ${conv.classes} outputs but ${dataset.name} has ${dataset.numClasses} classes`);
  if (problems.length > 0) throw new RunFailure(`${configFile}: ${problems.join("; ")}`);
  let snapshot = conv.snapshot;
  if (model.weights !== null) {
    try {
      snapshot = loadCheckpoint(snapshot, conv.parameters, await readSafetensorsFile(model.weights), model.weights, conv.unusedInitializers).snapshot;
    } catch (err) {
      throw new RunFailure(`${configFile}: model.weights: ${(err as Error).message}`, { cause: err });
    }
  }
  return { snapshot, parameters: conv.parameters };
}
