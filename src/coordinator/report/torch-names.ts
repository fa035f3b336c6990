// An ONNX model's measures under the names its PyTorch user knows: per-tensor results
// under the state_dict keys ("layer1.0.conv1.weight", a BatchNorm's gamma and beta as
// "bn1.weight" and "bn1.bias") and per-layer results under module paths ("layer1.0.conv1"),
// where the workers and the reductions name TF.js weights ("layer1.0.conv1/kernel").
// Also the list of what was measured (trainable parameters) and what was not (buffers).

import type { OnnxParameter } from "../../model/onnx/layout.js";
import { layerOfWeight } from "../../model/snapshot.js";
import type { ResultsFile, SubjectResults } from "./outputs.js";

export interface TorchNames {
  tensor(tfjs: string): string;
  layer(tfjs: string): string;
}

export function torchNames(parameters: readonly OnnxParameter[]): TorchNames {
  const tensors = new Map(parameters.map((p) => [p.tfjs, p.name]));
  const layers = new Map<string, string>();
  for (const p of parameters) {
    const cut = p.name.lastIndexOf(".");
    if (!layers.has(layerOfWeight(p.tfjs))) layers.set(layerOfWeight(p.tfjs), cut > 0 ? p.name.slice(0, cut) : p.name);
  }
  return { tensor: (t) => tensors.get(t) ?? t, layer: (l) => layers.get(l) ?? l };
}

function renamed<T>(record: Record<string, T>, name: (k: string) => string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [name(k), v]));
}

function subject<S extends SubjectResults>(s: S, n: TorchNames): S {
  return {
    ...s,
    layers: renamed(s.layers, n.layer),
    tensors: renamed(s.tensors, n.tensor),
    metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [k, { ...m, layers: renamed(m.layers, n.layer), tensors: renamed(m.tensors, n.tensor) }])),
  };
}

export interface ModelParameters {
  format: "onnx";
  /** The trainable parameters, whose gradients were measured, in θ's order. */
  parameters: { name: string; shape: number[]; count: number }[];
  /** Weights that were not measured (BatchNorm running statistics). */
  buffers: { name: string; shape: number[]; count: number }[];
}

function entry(p: OnnxParameter): { name: string; shape: number[]; count: number } {
  return { name: p.name, shape: p.shape, count: p.shape.reduce((a, b) => a * b, 1) };
}

/** results.json with PyTorch's names and the list of measured parameters (`model`). */
export function withTorchNames(results: ResultsFile, parameters: readonly OnnxParameter[]): ResultsFile & { model: ModelParameters } {
  const n = torchNames(parameters);
  const model: ModelParameters = { format: "onnx", parameters: parameters.filter((p) => p.trainable).map(entry), buffers: parameters.filter((p) => !p.trainable).map(entry) };
  return {
    ...subject(results, n),
    model,
    vector_files: results.vector_files ? { ...results.vector_files, layout: results.vector_files.layout.map(n.tensor) } : undefined,
    twins: results.twins?.map((t) => subject(t, n)),
    run: {
      ...results.run,
      snapshot: {
        ...results.run.snapshot,
        weight_layers: results.run.snapshot.weight_layers.map(n.layer),
        gradient_layers: results.run.snapshot.gradient_layers.map(n.layer),
        gradient_tensors: results.run.snapshot.gradient_tensors.map(n.tensor),
      },
    },
  };
}
