// Reads a TensorFlow.js layers-model directory (model.json + weight files) into an Mlp64,
// from the JSON and the bytes alone, without TensorFlow.js, so that the float64 reference
// shares no code with what it checks.
//
// Supported: a Sequential of Dense layers, optionally preceded by an InputLayer and by
// Flatten layers (a row-major flatten is how our features are stored anyway). A softmax
// activation on the last Dense layer is read as linear: the model's logits are what the
// reference needs, since the loss applies softmax itself (this is the usual Keras
// "softmax + categorical cross-entropy" model seen as "logits + softmax cross-entropy").
// Anything else (convolutions, dropout, softmax on a hidden layer, frozen layers,
// quantized weights) is an Error that names the layer or weight.

import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize, sep } from "node:path";
import { ACTIVATIONS, checkMlp64, type Activation, type DenseLayer64, type Mlp64 } from "./reference64.js";

interface WeightEntry {
  name: string;
  shape: number[];
  values: Float64Array;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`);
}

/** The Sequential's layer list, from the tfjs form or a Keras-converter form. */
function sequentialLayers(topology: unknown, file: string): unknown[] {
  if (!isObject(topology)) fail(file, "modelTopology must be an object");
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  if (model.class_name !== "Sequential") {
    fail(file, `modelTopology is a ${JSON.stringify(model.class_name)} model; only Sequential models of Dense layers are supported`);
  }
  const config = model.config;
  // Keras ≤ 2.1 stored the layer list directly as the config.
  const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers)) fail(file, "modelTopology.config.layers must be an array");
  return layers;
}

function inputShapeOf(config: Json): unknown[] | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape;
  return Array.isArray(shape) ? shape : undefined;
}

function featureCount(shape: unknown[], where: string): number {
  const dims = shape.slice(1);
  if (dims.length === 0 || !dims.every((d) => Number.isInteger(d) && (d as number) > 0)) {
    throw new Error(`${where}: input shape ${JSON.stringify(shape)} must be [null, positive dimensions…]`);
  }
  return dims.reduce((a: number, d) => a * (d as number), 1);
}

async function readWeights(dir: string, manifest: unknown, file: string): Promise<Map<string, WeightEntry>> {
  if (!Array.isArray(manifest)) fail(file, "weightsManifest must be an array of {paths, weights}");
  const out = new Map<string, WeightEntry>();
  for (const [g, group] of manifest.entries()) {
    const where = `weightsManifest[${g}]`;
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) fail(file, `${where} must be {paths: [...], weights: [...]}`);
    const shards: Buffer[] = [];
    for (const p of group.paths) {
      if (typeof p !== "string" || p === "" || isAbsolute(p) || normalize(p).split(sep).includes("..")) {
        fail(file, `${where}.paths: ${JSON.stringify(p)} must be a relative path inside the model directory`);
      }
      const path = join(dir, p);
      try {
        shards.push(await readFile(path));
      } catch (err) {
        throw new Error(`${path}: cannot read weight file named in ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    const data = Buffer.concat(shards);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    for (const [w, spec] of group.weights.entries()) {
      const at = `${where}.weights[${w}]`;
      if (!isObject(spec) || typeof spec.name !== "string" || !Array.isArray(spec.shape)) fail(file, `${at} must be {name, shape, dtype}`);
      const name = spec.name;
      if (spec.dtype !== "float32") fail(file, `${at} (${name}): dtype ${JSON.stringify(spec.dtype)} is not supported, only float32`);
      if (spec.quantization !== undefined) fail(file, `${at} (${name}): quantized weights are not supported`);
      if (!spec.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) fail(file, `${at} (${name}): bad shape ${JSON.stringify(spec.shape)}`);
      const shape = spec.shape as number[];
      const count = shape.reduce((a, d) => a * d, 1);
      if (offset + 4 * count > data.length) {
        fail(file, `${at} (${name}) needs bytes ${offset}..${offset + 4 * count} but the weight files of group ${g} hold ${data.length}`);
      }
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(offset + 4 * i, true);
      offset += 4 * count;
      if (out.has(name)) fail(file, `${at}: weight ${name} appears twice`);
      out.set(name, { name, shape, values });
    }
    if (offset !== data.length) fail(file, `weight files of group ${g} hold ${data.length} bytes, its weights take ${offset}`);
  }
  return out;
}

function takeWeight(weights: Map<string, WeightEntry>, layer: string, kind: "kernel" | "bias"): WeightEntry | undefined {
  for (const name of [`${layer}/${kind}`, `${layer}/${kind}:0`]) {
    const w = weights.get(name);
    if (w) {
      weights.delete(name);
      return w;
    }
  }
  return undefined;
}

/** Loads `dir`/model.json and its weights as a float64 MLP (see the file comment for what is supported). */
export async function loadMlp64FromLayersModel(dir: string): Promise<Mlp64> {
  const file = join(dir, "model.json");
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: cannot read a model.json: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(json)) fail(file, "must be a JSON object");
  const rawLayers = sequentialLayers(json.modelTopology, file);
  const weights = await readWeights(dir, json.weightsManifest, file);

  const denseConfigs: { config: Json; where: string }[] = [];
  let declaredInputs: number | undefined;
  for (const [i, raw] of rawLayers.entries()) {
    if (!isObject(raw) || !isObject(raw.config)) fail(file, `layer ${i} must be {class_name, config}`);
    const config = raw.config;
    const where = `${file}: layer ${i} (${String(raw.class_name)} ${JSON.stringify(config.name)})`;
    if (config.trainable === false) throw new Error(`${where}: non-trainable layers are not supported`);
    const shape = inputShapeOf(config);
    if (shape && declaredInputs === undefined && denseConfigs.length === 0) declaredInputs = featureCount(shape, where);
    switch (raw.class_name) {
      case "InputLayer":
        if (i !== 0) throw new Error(`${where}: an InputLayer must come first`);
        break;
      case "Flatten":
        if (denseConfigs.length > 0) throw new Error(`${where}: Flatten after a Dense layer is not supported`);
        break;
      case "Dense":
        denseConfigs.push({ config, where });
        break;
      default:
        throw new Error(`${where}: layer class ${JSON.stringify(raw.class_name)} is not supported (only Dense, with an optional InputLayer or Flatten first)`);
    }
  }
  if (denseConfigs.length === 0) fail(file, "the model has no Dense layers");

  const layers: DenseLayer64[] = [];
  for (const [l, { config, where }] of denseConfigs.entries()) {
    const name = config.name;
    if (typeof name !== "string") throw new Error(`${where}: config.name must be a string`);
    const units = config.units;
    if (!Number.isInteger(units) || (units as number) < 1) throw new Error(`${where}: config.units must be a positive integer`);
    const isLast = l === denseConfigs.length - 1;
    const rawAct = config.activation ?? "linear";
    let activation: Activation;
    if (rawAct === "softmax" && isLast) activation = "linear";
    else if (typeof rawAct === "string" && (ACTIVATIONS as readonly string[]).includes(rawAct)) activation = rawAct as Activation;
    else throw new Error(`${where}: activation ${JSON.stringify(rawAct)} is not supported (${ACTIVATIONS.join(", ")}${isLast ? ", softmax" : ""})`);
    const kernel = takeWeight(weights, name, "kernel");
    if (!kernel) throw new Error(`${where}: weight ${name}/kernel is not in the weights manifest`);
    if (kernel.shape.length !== 2 || kernel.shape[1] !== units) {
      throw new Error(`${where}: ${kernel.name} has shape [${kernel.shape}], expected [inputs, ${units as number}]`);
    }
    const inputs = kernel.shape[0]!;
    const expectedInputs = l === 0 ? declaredInputs : layers[l - 1]!.units;
    if (expectedInputs !== undefined && inputs !== expectedInputs) {
      throw new Error(`${where}: ${kernel.name} has ${inputs} inputs, expected ${expectedInputs}`);
    }
    const useBias = config.use_bias !== false;
    const bias = takeWeight(weights, name, "bias");
    if (useBias && !bias) throw new Error(`${where}: weight ${name}/bias is not in the weights manifest`);
    if (!useBias && bias) throw new Error(`${where}: has use_bias false but the manifest holds ${bias.name}`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== units)) {
      throw new Error(`${where}: ${bias.name} has shape [${bias.shape}], expected [${units as number}]`);
    }
    layers.push({ name, kernel: kernel.values, bias: bias ? bias.values : new Float64Array(0), inputs, units: units as number, activation });
  }
  if (weights.size > 0) fail(file, `weights not used by any Dense layer: ${[...weights.keys()].join(", ")}`);
  const model: Mlp64 = { layers };
  checkMlp64(model);
  return model;
}
