// PyTorch state_dicts (safetensors) in and out of an imported ONNX architecture: a
// checkpoint is loaded by name into θ (every parameter and running statistic required,
// shapes checked against the ONNX initializers, converted to TF.js's layout), and θ is
// written back with PyTorch's names and layouts, loadable by safetensors.torch.load_file.

import { elementCount } from "../../protocol/tensor-bundle.js";
import { encodeSafetensors, tensorAsFloat32, type SafetensorsFile } from "../safetensors.js";
import { weightViews, type Snapshot } from "../snapshot.js";
import { OnnxError } from "./errors.js";
import { toTfjsLayout, toTorchLayout, type OnnxParameter } from "./layout.js";

/** Buffers a state_dict holds that no ONNX graph uses (BatchNorm's step counter). */
const IGNORED_BUFFER = /(^|\.)num_batches_tracked$/;

export interface LoadedCheckpoint {
  snapshot: Snapshot;
  /** state_dict entries that are not weights of the graph and were skipped (num_batches_tracked, unused initializers). */
  skipped: string[];
}

/**
 * θ with every weight taken from the checkpoint `file` (read from `where`). Refuses a
 * missing parameter, a shape that differs from the ONNX initializer's, and entries the
 * architecture does not have (other than `ignorable` and num_batches_tracked).
 */
export function loadCheckpoint(snapshot: Snapshot, parameters: readonly OnnxParameter[], file: SafetensorsFile, where: string, ignorable: readonly string[] = []): LoadedCheckpoint {
  const byTfjs = new Map(parameters.map((p) => [p.tfjs, p]));
  const problems: string[] = [];
  const data = new Float32Array(snapshot.data.length);
  let offset = 0;
  for (const w of snapshot.weights) {
    const n = elementCount(w.shape);
    const p = byTfjs.get(w.name);
    if (!p) throw new OnnxError(`${where}: θ's weight ${w.name} has no PyTorch name (a converter bug)`);
    const t = file.tensors.get(p.name);
    if (!t) {
      problems.push(`${p.name} [${p.shape}] is missing`);
    } else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`${p.name} has shape [${t.shape}], the ONNX model's is [${p.shape}]`);
    } else {
      try {
        data.set(toTfjsLayout(p, tensorAsFloat32(t, `${where}: ${p.name}`)), offset);
      } catch (err) {
        problems.push((err as Error).message.replace(`${where}: `, ""));
      }
    }
    offset += n;
  }
  const known = new Set(parameters.map((p) => p.name));
  const ignore = new Set(ignorable);
  const skipped: string[] = [];
  for (const name of file.tensors.keys()) {
    if (known.has(name)) continue;
    if (IGNORED_BUFFER.test(name) || ignore.has(name)) skipped.push(name);
    else problems.push(`${name} is not a parameter of the ONNX model`);
  }
  if (problems.length > 0) throw new OnnxError(`${where}: the checkpoint does not fit the ONNX model: ${problems.join("; ")}`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new OnnxError(`${where}: the checkpoint holds a non-finite value (${data[i]}) at index ${i} of θ`);
  }
  return { snapshot: { ...snapshot, data }, skipped };
}

/** θ's weights under their PyTorch names, in PyTorch's layouts, in θ's order. */
export function stateDict(snapshot: Snapshot, parameters: readonly OnnxParameter[]): { name: string; shape: number[]; data: Float32Array }[] {
  const byTfjs = new Map(parameters.map((p) => [p.tfjs, p]));
  const views = weightViews(snapshot);
  return snapshot.weights.map((w, i) => {
    const p = byTfjs.get(w.name);
    if (!p) throw new OnnxError(`θ's weight ${w.name} has no PyTorch name`);
    return { name: p.name, shape: [...p.shape], data: toTorchLayout(p, views[i]!) };
  });
}

/** θ as a safetensors file with PyTorch's names and layouts ({"format": "pt"}, as torch writes). */
export function encodeStateDict(snapshot: Snapshot, parameters: readonly OnnxParameter[]): Uint8Array {
  return encodeSafetensors(stateDict(snapshot, parameters), { format: "pt" });
}
