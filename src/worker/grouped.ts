// Many minibatch gradients at one θ in one pass (docs/design.md §1): every weight is replicated K
// times, minibatch k goes through copy k with batched matmuls, and the loss is
// Σ_k mean_b CE_k. The copies share nothing, so the gradient with respect to copy k is
// exactly minibatch k's gradient. On a GPU a minibatch of 64 is launch-bound and this is
// where the speed is; on CPU backends the plain loop is as good (docs/design.md "Measured
// facts", bench/README.md).
//
// Only stacks of Dense layers are grouped (the MLPs of src/model/mlp.ts and models like
// them); anything else goes through GradientEngine.minibatchGradient one minibatch at a
// time. The copies are made with tf.concat of expanded copies: tf.tile is 20–60× slower.

import type * as TF from "@tensorflow/tfjs";
import { featureSize, type Dataset } from "../data/dataset.js";
import { logitsTopology } from "../model/logits-topology.js";
import type { MinibatchGradient } from "./gradients.js";

export type { MinibatchGradient } from "./gradients.js";

export const GROUP_ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", "elu"] as const;
export type GroupActivation = (typeof GROUP_ACTIVATIONS)[number];

/** Layers that compute nothing on a flat input at inference (training: false). */
const PASS_THROUGH = new Set(["InputLayer", "Dropout", "Flatten"]);

export class GroupingError extends Error {
  override name = "GroupingError";
}

/** One Dense layer of the model as the grouped pass sees it. */
export interface DenseLayerPlan {
  units: number;
  useBias: boolean;
  /** Applied in order after kernel and bias: the layer's own, then any Activation layers after it. */
  activations: GroupActivation[];
}

/** A Dense layer with its weights: the engine's trainable variables, read at each call. */
export interface DenseSpec {
  /** [in, out]. */
  kernel: TF.Tensor;
  /** [out], or null for a layer without bias. */
  bias: TF.Tensor | null;
  activations: readonly GroupActivation[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function activationOf(value: unknown, where: string): GroupActivation {
  // tfjs-layers treats a missing activation as linear.
  const name = value === undefined || value === null ? "linear" : value;
  if (typeof name !== "string" || !(GROUP_ACTIVATIONS as readonly string[]).includes(name)) {
    throw new GroupingError(`${where}: activation ${JSON.stringify(value)} is not one of ${GROUP_ACTIVATIONS.join(", ")}`);
  }
  return name as GroupActivation;
}

/**
 * The Dense layers of a topology (a snapshot's modelTopology, softmax output allowed: the
 * loss is taken on logits, as GradientEngine does), or a GroupingError saying why the
 * model cannot be grouped.
 */
export function denseStack(topology: Record<string, unknown>): DenseLayerPlan[] {
  const logits = logitsTopology(topology);
  const root = isObject(logits.model_config) ? (logits.model_config as Json) : logits;
  if (root.class_name !== "Sequential") throw new GroupingError(`a ${String(root.class_name)} model; only Sequential stacks are grouped`);
  const config = root.config;
  const layers = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : null;
  if (!layers) throw new GroupingError("the topology has no layer list");
  const plan: DenseLayerPlan[] = [];
  // Whether the tensor flowing at this point is [batch, features]; a Dense layer on a
  // higher-rank input acts on the last axis only, which is not an MLP.
  let flat = true;
  layers.forEach((layer: unknown, i) => {
    if (!isObject(layer) || typeof layer.class_name !== "string") throw new GroupingError(`layer ${i} is not a {class_name, config} object`);
    const c = isObject(layer.config) ? layer.config : {};
    const where = `layer ${i} (${layer.class_name}${typeof c.name === "string" ? ` "${c.name}"` : ""})`;
    const inputShape = c.batch_input_shape ?? c.batch_shape;
    if (Array.isArray(inputShape)) flat = inputShape.length === 2;
    if (c.trainable === false) throw new GroupingError(`${where}: frozen layers are not grouped`);
    if (layer.class_name === "Dense") {
      if (!flat) throw new GroupingError(`${where}: a Dense layer on an input of rank > 2 (no Flatten before it)`);
      const units = c.units;
      if (typeof units !== "number" || !Number.isSafeInteger(units) || units < 1) throw new GroupingError(`${where}: units must be a positive integer`);
      plan.push({ units, useBias: c.use_bias !== false, activations: [activationOf(c.activation, where)] });
    } else if (layer.class_name === "Activation") {
      const last = plan.at(-1);
      if (!last) throw new GroupingError(`${where}: an Activation layer before the first Dense layer`);
      last.activations.push(activationOf(c.activation, where));
    } else if (layer.class_name === "Reshape") {
      const target = c.target_shape;
      if (!Array.isArray(target) || target.length !== 1) throw new GroupingError(`${where}: only a Reshape to one dimension is grouped`);
      flat = true;
    } else if (PASS_THROUGH.has(layer.class_name)) {
      if (layer.class_name === "Flatten") flat = true;
    } else {
      throw new GroupingError(`${where}: not supported by grouping`);
    }
  });
  if (plan.length === 0) throw new GroupingError("the model has no Dense layer");
  return plan;
}

/** Why the model cannot be grouped, or null if it can (for the worker's log). */
export function whyNotGrouped(topology: Record<string, unknown>): string | null {
  try {
    denseStack(topology);
    return null;
  } catch (err) {
    if (err instanceof GroupingError) return err.message;
    throw err;
  }
}

/** Whether the model is a stack of Dense layers (optionally Flatten/Reshape/Dropout/InputLayer/Activation) that grouping supports. */
export function supportsGrouping(topology: Record<string, unknown>): boolean {
  return whyNotGrouped(topology) === null;
}

/**
 * Pairs the model's trainable weights (in model order: kernel, then bias, per Dense
 * layer; GradientEngine's variables) with the topology's Dense layers.
 */
export function denseLayers(topology: Record<string, unknown>, weights: readonly TF.Tensor[]): DenseSpec[] {
  const plan = denseStack(topology);
  const wanted = plan.reduce((n, l) => n + (l.useBias ? 2 : 1), 0);
  if (weights.length !== wanted) throw new GroupingError(`${weights.length} trainable weights for ${plan.length} Dense layers that have ${wanted}`);
  let w = 0;
  return plan.map((l) => {
    const kernel = weights[w++]!;
    const bias = l.useBias ? weights[w++]! : null;
    return { kernel, bias, activations: [...l.activations] };
  });
}

// ---------------------------------------------------------------------------------------
// memory

/** What groupSize needs to know of the model and minibatch. */
export interface GroupShape {
  /** Trainable parameters. */
  parameters: number;
  /** Examples per minibatch (the largest, if they differ). */
  batch: number;
  /** Layer widths from input to output: [784, 256, 256, 10]. */
  widths: number[];
}

/**
 * Device bytes (float32) of one grouped pass over K minibatches, an estimate: per copy,
 * the replicated weights and their gradients (2·P); the inputs (B·w₀); for each layer
 * its pre-activation and output kept for the backward pass and their gradients
 * (4·B·wₗ); at the output also the one-hot labels and the log-softmax (2·B·w_L).
 */
export function groupBytes(o: GroupShape, k: number): number {
  const [input = 0, ...rest] = o.widths;
  const output = rest.at(-1) ?? 0;
  const activations = input + 4 * rest.reduce((a, b) => a + b, 0) + 2 * output;
  return 4 * k * (2 * o.parameters + o.batch * activations);
}

/** K from a memory budget: the largest K ≤ maxK whose replicated weights + activations (float32) fit in budgetBytes; at least 1. */
export function groupSize(o: GroupShape & { budgetBytes: number; maxK: number }): number {
  for (const [name, v] of [["parameters", o.parameters], ["batch", o.batch], ["maxK", o.maxK]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`groupSize: ${name} must be a positive integer, got ${v}`);
  }
  if (!(o.budgetBytes >= 0)) throw new RangeError(`groupSize: budgetBytes must be ≥ 0, got ${o.budgetBytes}`);
  if (o.widths.length < 2 || o.widths.some((w) => !Number.isSafeInteger(w) || w < 1)) {
    throw new RangeError(`groupSize: widths must be at least two positive integers, got [${o.widths}]`);
  }
  const fit = Math.floor(o.budgetBytes / groupBytes(o, 1));
  return Math.max(1, Math.min(o.maxK, fit));
}

// ---------------------------------------------------------------------------------------
// the grouped pass

/** K minibatches gathered for one pass, padded to the largest with all-zero rows. */
export interface GroupInputs {
  /** [K, rows, features] row-major; rows past a minibatch's size are zero. */
  x: Float32Array;
  /** [K, rows, classes] one-hot; rows past a minibatch's size are zero (they add nothing). */
  y: Float32Array;
  /** Examples in each minibatch. */
  sizes: number[];
  rows: number;
  features: number;
  classes: number;
}

/**
 * Gathers the minibatches' features and one-hot labels (the dataset's, or the given
 * ones for a minibatch whose entry is defined), in JS like GradientEngine.batchTensors:
 * the dataset never has to be on the device.
 */
export function gatherGroup(dataset: Dataset, batches: readonly (readonly number[])[], labels?: readonly (Int32Array | undefined)[]): GroupInputs {
  if (batches.length === 0) throw new GroupingError("a group needs at least one minibatch");
  if (labels && labels.length !== batches.length) throw new GroupingError(`${labels.length} label arrays for ${batches.length} minibatches`);
  const features = featureSize(dataset);
  const classes = dataset.numClasses;
  const rows = Math.max(...batches.map((b) => b.length));
  const x = new Float32Array(batches.length * rows * features);
  const y = new Float32Array(batches.length * rows * classes);
  batches.forEach((indices, k) => {
    if (indices.length === 0) throw new GroupingError(`minibatch ${k} is empty`);
    const given = labels?.[k];
    if (given && given.length !== indices.length) throw new GroupingError(`minibatch ${k}: ${given.length} labels for ${indices.length} examples`);
    indices.forEach((i, r) => {
      if (!Number.isInteger(i) || i < 0 || i >= dataset.n) throw new GroupingError(`minibatch ${k}: example index ${i} is outside the dataset (size ${dataset.n})`);
      const label = given ? given[r]! : dataset.y[i]!;
      if (!(label >= 0 && label < classes)) throw new GroupingError(`minibatch ${k}: label ${label} is outside [0, ${classes})`);
      const row = k * rows + r;
      x.set(dataset.x.subarray(i * features, (i + 1) * features), row * features);
      y[row * classes + label] = 1;
    });
  });
  return { x, y, sizes: batches.map((b) => b.length), rows, features, classes };
}

function checkShapes(layers: readonly DenseSpec[], features: number, classes: number): void {
  if (layers.length === 0) throw new GroupingError("no Dense layers");
  let width = features;
  layers.forEach((l, i) => {
    const [rowsIn, out] = l.kernel.shape;
    if (l.kernel.rank !== 2 || rowsIn !== width) throw new GroupingError(`Dense layer ${i}: kernel of shape [${l.kernel.shape}] on inputs of width ${width}`);
    if (l.bias && (l.bias.rank !== 1 || l.bias.shape[0] !== out)) throw new GroupingError(`Dense layer ${i}: bias of shape [${l.bias.shape}] for ${out} units`);
    width = out!;
  });
  if (width !== classes) throw new GroupingError(`the model has ${width} outputs for ${classes} classes`);
}

/** A Dense layer's activation (the ones grouping supports); src/train/dense-forward.ts uses it too. */
export function activate(tf: typeof TF, h: TF.Tensor, a: GroupActivation): TF.Tensor {
  switch (a) {
    case "relu":
      return tf.relu(h);
    case "tanh":
      return tf.tanh(h);
    case "sigmoid":
      return tf.sigmoid(h);
    case "elu":
      return tf.elu(h);
    case "linear":
      return h;
  }
}

/** [1, ...shape] copied K times along a new first axis: concat of expanded copies, never tile. */
function replicate(tf: typeof TF, t: TF.Tensor, shape: number[], k: number): TF.Tensor {
  const one = tf.reshape(t, [1, ...shape]);
  return k === 1 ? one : tf.concat(new Array<TF.Tensor>(k).fill(one), 0);
}

/**
 * The gradients of the gathered minibatches in one pass. Each gradient array is a view
 * into one buffer per weight that all K minibatches share (disjoint ranges).
 */
export async function gradientsOfGroup(tf: typeof TF, layers: readonly DenseSpec[], group: GroupInputs): Promise<MinibatchGradient[]> {
  checkShapes(layers, group.features, group.classes);
  const k = group.sizes.length;
  const toDispose: TF.Tensor[] = [];
  try {
    const x = tf.tensor3d(group.x, [k, group.rows, group.features], "float32");
    const y = tf.tensor3d(group.y, [k, group.rows, group.classes], "float32");
    const counts = tf.tensor3d(Float32Array.from(group.sizes), [k, 1, 1], "float32");
    toDispose.push(x, y, counts);
    // The copies are made from θ's current values at each call and are themselves the
    // tensors differentiated: copy k's gradient is minibatch k's.
    const copies = tf.tidy(() =>
      layers.flatMap((l) => {
        const out = l.kernel.shape[1]!;
        const kernel = replicate(tf, l.kernel, [l.kernel.shape[0]!, out], k);
        return l.bias ? [kernel, replicate(tf, l.bias, [1, out], k)] : [kernel];
      }),
    );
    toDispose.push(...copies);
    // Each minibatch's loss, kept out of tf.grads' scope to be read afterwards.
    const kept: { losses?: TF.Tensor } = {};
    const grads = tf.grads((...ws: TF.Tensor[]) => {
      let h: TF.Tensor = x;
      let w = 0;
      for (const l of layers) {
        h = tf.matMul(h, ws[w++]!);
        if (l.bias) h = tf.add(h, ws[w++]!);
        for (const a of l.activations) h = activate(tf, h, a);
      }
      // Per example -Σ_c y·log softmax, divided by its minibatch's size before summing
      // (as the cpu backend's mean does); padding rows have y = 0 and add exactly 0.
      const perExample = tf.div(tf.sum(tf.mul(y, tf.logSoftmax(h)), -1, true), counts);
      const losses = tf.keep(tf.neg(tf.sum(perExample, [1, 2])));
      kept.losses = losses;
      toDispose.push(losses);
      return tf.sum(losses);
    })(copies);
    toDispose.push(...grads);
    // One read per weight (in order: concurrent reads were seen to hang Dawn's GL path).
    const arrays: Float32Array[] = [];
    for (const g of grads) arrays.push((await g.data()) as Float32Array);
    const lossValues = (await kept.losses!.data()) as Float32Array;
    return group.sizes.map((_, m) => ({
      loss: lossValues[m]!,
      grads: arrays.map((a) => {
        const n = a.length / k;
        return a.subarray(m * n, (m + 1) * n);
      }),
    }));
  } finally {
    tf.dispose(toDispose);
  }
}

/**
 * The gradients of K minibatches (each a list of example indices) in one pass, each as
 * GradientEngine.minibatchGradient gives it: {loss, grads} with grads in the order and
 * shapes of the model's trainable weights. Minibatches may differ in size (the shorter
 * are padded with rows that add nothing). `labels[k]`, when defined, replaces the
 * dataset's labels of minibatch k (sampled labels for the true Fisher).
 *
 * From GradientEngine: `groupedGradients(tf, denseLayers(topology, this.variables),
 * this.dataset, batches)`, the DenseSpec list made once (the variables are read at
 * each call, so setWeights/setTrainable are seen).
 */
export async function groupedGradients(
  tf: typeof TF,
  layers: readonly DenseSpec[],
  dataset: Dataset,
  batches: readonly (readonly number[])[],
  labels?: readonly (Int32Array | undefined)[],
): Promise<MinibatchGradient[]> {
  return gradientsOfGroup(tf, layers, gatherGroup(dataset, batches, labels));
}
