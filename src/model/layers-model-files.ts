// Reading and writing the TensorFlow.js layers-model format (model.json plus binary
// weight shards) without TensorFlow.js: the coordinator writes the exact θ it measured,
// and reads a user's model, with plain JSON and file I/O.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { elementCount } from "../protocol/tensor-bundle.js";
import type { Snapshot } from "./snapshot.js";

export class ModelFileError extends Error {
  override name = "ModelFileError";
}

const WEIGHTS_FILE = "weights.bin";

export async function writeLayersModel(dir: string, s: Snapshot): Promise<{ modelJson: string; weightsBin: string }> {
  await mkdir(dir, { recursive: true });
  const modelJson = join(dir, "model.json");
  const weightsBin = join(dir, WEIGHTS_FILE);
  const manifest = {
    modelTopology: s.modelTopology,
    format: "layers-model",
    generatedBy: "gradswarm",
    convertedBy: null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: s.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: "float32" })) }],
  };
  await writeFile(modelJson, JSON.stringify(manifest, null, 1));
  await writeFile(weightsBin, new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength));
  return { modelJson, weightsBin };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads model.json (the path to the file) and its weight shards into a Snapshot. */
export async function readLayersModel(modelJsonPath: string): Promise<Snapshot> {
  const path = resolve(modelJsonPath);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ModelFileError(`${path}: cannot read a layers-model JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(json)) throw new ModelFileError(`${path}: not a JSON object`);
  const topology = json.modelTopology;
  if (!isObject(topology)) throw new ModelFileError(`${path}: modelTopology is missing (is this a graph model? only layers models are supported)`);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelFileError(`${path}: weightsManifest is missing`);
  const weights: Snapshot["weights"] = [];
  const parts: Float32Array[] = [];
  for (const [g, group] of manifest.entries()) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelFileError(`${path}: weightsManifest[${g}] needs paths and weights`);
    }
    const buffers = await Promise.all(
      group.paths.map(async (p: unknown) => {
        if (typeof p !== "string") throw new ModelFileError(`${path}: weightsManifest[${g}].paths holds a non-string`);
        const file = resolve(dirname(path), p);
        try {
          return await readFile(file);
        } catch (err) {
          throw new ModelFileError(`${path}: weight file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
        }
      }),
    );
    const bytes = Buffer.concat(buffers);
    let offset = 0;
    for (const [k, w] of group.weights.entries()) {
      const where = `${path}: weightsManifest[${g}].weights[${k}]`;
      if (!isObject(w) || typeof w.name !== "string" || !Array.isArray(w.shape)) throw new ModelFileError(`${where} needs name and shape`);
      if ((w.dtype ?? "float32") !== "float32") throw new ModelFileError(`${where} (${w.name}) has dtype ${String(w.dtype)}; only float32 weights are supported`);
      if (w.quantization !== undefined) throw new ModelFileError(`${where} (${w.name}) is quantized; only float32 weights are supported`);
      const shape = w.shape as unknown[];
      if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw new ModelFileError(`${where} (${w.name}) has a bad shape`);
      const n = elementCount(shape as number[]);
      if (offset + n * 4 > bytes.length) throw new ModelFileError(`${where} (${w.name}) runs past the end of its weight files (${bytes.length} bytes)`);
      const copy = new Float32Array(n);
      new Uint8Array(copy.buffer).set(bytes.subarray(offset, offset + n * 4));
      weights.push({ name: w.name, shape: shape as number[] });
      parts.push(copy);
      offset += n * 4;
    }
    if (offset !== bytes.length) throw new ModelFileError(`${path}: weightsManifest[${g}] uses ${offset} of ${bytes.length} bytes in its weight files`);
  }
  const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { modelTopology: topology, weights, data };
}
