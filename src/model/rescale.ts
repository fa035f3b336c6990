// Dinh et al. (2017), "Sharp minima can generalize for deep nets": for a positively
// homogeneous activation φ (φ(αz) = αφ(z) for α > 0: relu, linear), multiplying one
// layer's kernel and bias by α and the next layer's kernel by 1/α leaves the network's
// function unchanged, while any Euclidean flatness measure (Hessian eigenvalues, the
// ε-ball sharpness, a plain random-direction plot) can be made as sharp or as flat as one
// likes by the choice of α. A rescaled twin of θ is the test case for whether a measure
// is reparametrization-invariant: it must give the twin the same value as θ.

import { layerOfWeight, type Snapshot } from "./snapshot.js";

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Activations with φ(αz) = αφ(z) for every α > 0. */
const HOMOGENEOUS = new Set(["relu", "linear"]);

/** Layers that may sit between two Dense layers without breaking the rescaling. */
const TRANSPARENT = new Set(["Flatten", "Dropout", "InputLayer", "Reshape"]);

interface TopologyLayer {
  className: string;
  name: string;
  config: Json;
}

/** The Sequential's layers (tfjs form, or a Keras-converter form with model_config). */
function sequentialLayers(topology: Json): TopologyLayer[] {
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  if (model.class_name !== "Sequential") {
    throw new Error(`rescaleTwin: modelTopology is a ${JSON.stringify(model.class_name)} model; only Sequential models are supported`);
  }
  const config = model.config;
  const raw = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(raw)) throw new Error("rescaleTwin: modelTopology.config.layers must be an array");
  return raw.map((l, i) => {
    if (!isObject(l) || !isObject(l.config)) throw new Error(`rescaleTwin: topology layer ${i} must be {class_name, config}`);
    return { className: String(l.class_name), name: String(l.config.name), config: l.config };
  });
}

/** A layer's activation as Keras writes it; a missing or null activation is linear. */
function activationOf(config: Json): string {
  const a = config.activation;
  if (a === undefined || a === null) return "linear";
  if (typeof a === "string") return a;
  // Keras 3 may serialize an activation as {class_name, config: {name}} or as a
  // registered-name object; a plain string inside is all we accept.
  if (isObject(a)) {
    if (typeof a.config === "string") return a.config;
    if (isObject(a.config) && typeof a.config.name === "string") return a.config.name;
    if (typeof a.class_name === "string") return a.class_name;
  }
  return JSON.stringify(a);
}

/** Offset and length of each weight of layer `name`, by kind ("kernel", "bias", other). */
function layerWeights(s: Snapshot, name: string): { kind: string; weight: string; offset: number; length: number }[] {
  const out: { kind: string; weight: string; offset: number; length: number }[] = [];
  let offset = 0;
  for (const w of s.weights) {
    const length = w.shape.reduce((a, d) => a * d, 1);
    if (layerOfWeight(w.name) === name) {
      const tail = w.name.slice(w.name.lastIndexOf("/") + 1).replace(/:\d+$/, "");
      out.push({ kind: tail, weight: w.name, offset, length });
    }
    offset += length;
  }
  if (offset !== s.data.length) {
    throw new Error(`rescaleTwin: the weights' shapes hold ${offset} values but the snapshot's data has ${s.data.length}`);
  }
  return out;
}

/**
 * θ's twin: layer `layer`'s kernel and bias × alpha, the next layer's kernel × 1/alpha.
 * Same function for a positively homogeneous activation (relu, linear) between them.
 *
 * `layer` counts the Dense layers of the Sequential topology from 0; their weights are
 * found by layer name (the prefix before the last "/" of a weight name). The next Dense
 * layer's bias is left alone. The result shares s's topology and weight specs and has
 * its own data, rounded to float32 like any snapshot.
 */
export function rescaleTwin(s: Snapshot, layer: number, alpha: number): Snapshot {
  if (!Number.isFinite(alpha) || alpha <= 0) {
    throw new Error(`rescaleTwin: alpha must be a finite positive number, got ${alpha}`);
  }
  const all = sequentialLayers(s.modelTopology);
  const dense = all.map((l, i) => ({ ...l, index: i })).filter((l) => l.className === "Dense");
  if (!Number.isInteger(layer) || layer < 0 || layer >= dense.length) {
    throw new Error(`rescaleTwin: layer ${layer} is not a Dense layer index; the model has ${dense.length} Dense layers (0..${dense.length - 1})`);
  }
  const here = dense[layer]!;
  const act = activationOf(here.config);
  if (!HOMOGENEOUS.has(act)) {
    throw new Error(
      `rescaleTwin: layer ${layer} (${here.name}) has activation ${JSON.stringify(act)}, which is not positively homogeneous; ` +
        `only relu or linear allow a function-preserving rescaling`,
    );
  }
  const next = dense[layer + 1];
  if (!next) {
    throw new Error(
      `rescaleTwin: layer ${layer} (${here.name}, activation ${act}) is the last Dense layer; there is no next layer to carry 1/alpha ` +
        `(rescaling it would change the logits)`,
    );
  }
  for (const between of all.slice(here.index + 1, next.index)) {
    const ok = TRANSPARENT.has(between.className) || (between.className === "Activation" && HOMOGENEOUS.has(activationOf(between.config)));
    if (!ok) {
      throw new Error(
        `rescaleTwin: layer ${between.name} (${between.className}, activation ${JSON.stringify(activationOf(between.config))}) sits between ` +
          `${here.name} and ${next.name}; the rescaling would not preserve the function`,
      );
    }
  }

  const mine = layerWeights(s, here.name);
  const theirs = layerWeights(s, next.name);
  const kernel = mine.find((w) => w.kind === "kernel");
  const nextKernel = theirs.find((w) => w.kind === "kernel");
  if (!kernel) throw new Error(`rescaleTwin: layer ${layer} (${here.name}) has no ${here.name}/kernel among the snapshot's weights`);
  if (!nextKernel) throw new Error(`rescaleTwin: layer ${layer + 1} (${next.name}) has no ${next.name}/kernel among the snapshot's weights`);
  const other = mine.find((w) => w.kind !== "kernel" && w.kind !== "bias");
  if (other) throw new Error(`rescaleTwin: layer ${layer} (${here.name}) has weight ${other.weight}, which rescaling does not know how to treat`);
  const bias = mine.find((w) => w.kind === "bias");

  const data = Float32Array.from(s.data);
  const scale = (w: { offset: number; length: number; weight: string }, f: number) => {
    for (let k = w.offset; k < w.offset + w.length; k++) {
      const v = Math.fround(data[k]! * f);
      if (!Number.isFinite(v)) throw new Error(`rescaleTwin: ${w.weight}[${k - w.offset}] × ${f} is not a finite float32`);
      data[k] = v;
    }
  };
  scale(kernel, alpha);
  if (bias) scale(bias, alpha);
  scale(nextKernel, 1 / alpha);
  return { modelTopology: s.modelTopology, weights: s.weights.map((w) => ({ name: w.name, shape: [...w.shape] })), data };
}
