// An independent float64 MLP: forward pass, mean softmax cross-entropy and its gradient,
// written from the formulas without TensorFlow.js. Every TensorFlow.js gradient is
// checked against it, and a finished run's numbers are recomputed with it.
//
// Conventions match Keras/TensorFlow.js Dense layers: kernel [inputs, units] row-major,
// out = act(in · kernel + bias). The last layer's output (after its activation, normally
// "linear") is the logits; softmax is applied inside the loss. A layer without a bias
// (Keras use_bias: false) has a bias of length 0, and so has a gradient bias of length 0.

export type Activation = "relu" | "tanh" | "sigmoid" | "linear" | "elu";

export const ACTIVATIONS: readonly Activation[] = ["relu", "tanh", "sigmoid", "linear", "elu"];

export interface DenseLayer64 {
  name: string;
  /** inputs × units, row-major. */
  kernel: Float64Array;
  /** units values, or none for a layer without bias. */
  bias: Float64Array;
  inputs: number;
  units: number;
  activation: Activation;
}

export interface Mlp64 {
  layers: DenseLayer64[];
}

export interface LayerGradient64 {
  kernel: Float64Array;
  bias: Float64Array;
}

export interface LossAndGradient64 {
  /** Mean cross-entropy over the examples (natural log). */
  loss: number;
  /** One entry per layer, shaped like the layer's parameters. */
  grads: LayerGradient64[];
}

function activate(a: Activation, z: number): number {
  switch (a) {
    case "relu":
      return z > 0 ? z : 0;
    case "tanh":
      return Math.tanh(z);
    case "sigmoid":
      return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    case "linear":
      return z;
    case "elu":
      return z > 0 ? z : Math.expm1(z);
  }
}

/** d act / d z, from the pre-activation z and the output y = act(z). relu'(0) = 0, as in TensorFlow.js. */
function derivative(a: Activation, z: number, y: number): number {
  switch (a) {
    case "relu":
      return z > 0 ? 1 : 0;
    case "tanh":
      return 1 - y * y;
    case "sigmoid":
      return y * (1 - y);
    case "linear":
      return 1;
    case "elu":
      return z > 0 ? 1 : y + 1;
  }
}

/** Throws unless the layers chain (each layer's inputs = the previous units) and sizes match. */
export function checkMlp64(model: Mlp64): void {
  if (model.layers.length === 0) throw new Error("Mlp64 has no layers");
  for (const [l, layer] of model.layers.entries()) {
    const where = `layer ${l} (${layer.name})`;
    if (!Number.isInteger(layer.inputs) || layer.inputs < 1 || !Number.isInteger(layer.units) || layer.units < 1) {
      throw new Error(`${where}: inputs and units must be positive integers, got ${layer.inputs} and ${layer.units}`);
    }
    if (layer.kernel.length !== layer.inputs * layer.units) {
      throw new Error(`${where}: kernel has ${layer.kernel.length} values, [${layer.inputs}, ${layer.units}] needs ${layer.inputs * layer.units}`);
    }
    if (layer.bias.length !== layer.units && layer.bias.length !== 0) {
      throw new Error(`${where}: bias has ${layer.bias.length} values, expected ${layer.units} (or 0 for no bias)`);
    }
    if (!ACTIVATIONS.includes(layer.activation)) throw new Error(`${where}: unsupported activation ${JSON.stringify(layer.activation)}`);
    const prev = model.layers[l - 1];
    if (prev && prev.units !== layer.inputs) throw new Error(`${where}: takes ${layer.inputs} inputs but the layer before has ${prev.units} units`);
  }
}

function checkBatch(model: Mlp64, x: Float32Array | Float64Array, indices: readonly number[], featureSize: number, y?: Int32Array): void {
  checkMlp64(model);
  const first = model.layers[0]!;
  if (featureSize !== first.inputs) throw new Error(`featureSize ${featureSize} does not match the first layer's ${first.inputs} inputs`);
  if (x.length % featureSize !== 0) throw new Error(`x holds ${x.length} values, not a multiple of featureSize ${featureSize}`);
  const n = x.length / featureSize;
  if (indices.length === 0) throw new Error("indices is empty");
  const classes = model.layers[model.layers.length - 1]!.units;
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`index ${i} is outside the ${n} examples`);
    if (y) {
      if (i >= y.length) throw new Error(`index ${i} has no label (y holds ${y.length})`);
      const label = y[i]!;
      if (label < 0 || label >= classes) throw new Error(`label ${label} of example ${i} is outside [0, ${classes})`);
    }
  }
}

interface Forward {
  /** Per layer: pre-activations and outputs, batch × units. inputs[0] is the batch of x. */
  inputs: Float64Array[];
  pre: Float64Array[];
  out: Float64Array[];
}

function forward(model: Mlp64, x: Float32Array | Float64Array, indices: readonly number[], featureSize: number): Forward {
  const b = indices.length;
  let input = new Float64Array(b * featureSize);
  for (let r = 0; r < b; r++) {
    const src = indices[r]! * featureSize;
    for (let k = 0; k < featureSize; k++) input[r * featureSize + k] = x[src + k]!;
  }
  const fw: Forward = { inputs: [], pre: [], out: [] };
  for (const layer of model.layers) {
    const { inputs: nin, units, kernel, bias } = layer;
    const pre = new Float64Array(b * units);
    for (let r = 0; r < b; r++) {
      const row = r * units;
      if (bias.length) pre.set(bias, row);
      for (let i = 0; i < nin; i++) {
        const a = input[r * nin + i]!;
        if (a === 0) continue;
        const w = i * units;
        for (let j = 0; j < units; j++) pre[row + j]! += a * kernel[w + j]!;
      }
    }
    const out = new Float64Array(b * units);
    for (let k = 0; k < out.length; k++) out[k] = activate(layer.activation, pre[k]!);
    fw.inputs.push(input);
    fw.pre.push(pre);
    fw.out.push(out);
    input = out;
  }
  return fw;
}

/** The logits (last layer's outputs) of the examples `indices`, batch × classes. */
export function logits64(model: Mlp64, x: Float32Array | Float64Array, indices: readonly number[], featureSize: number): Float64Array {
  checkBatch(model, x, indices, featureSize);
  const fw = forward(model, x, indices, featureSize);
  return fw.out[fw.out.length - 1]!;
}

/**
 * Per-example softmax cross-entropy and d loss / d logits (softmax − one-hot), computed
 * with log-sum-exp so that large logits neither overflow nor lose the small terms.
 */
function crossEntropy(logits: Float64Array, classes: number, labels: readonly number[]): { losses: Float64Array; dlogits: Float64Array } {
  const b = labels.length;
  const losses = new Float64Array(b);
  const dlogits = new Float64Array(b * classes);
  for (let r = 0; r < b; r++) {
    const row = r * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[row + k]! - max);
    const lse = max + Math.log(sum);
    const label = labels[r]!;
    losses[r] = lse - logits[row + label]!;
    for (let k = 0; k < classes; k++) dlogits[row + k] = Math.exp(logits[row + k]! - lse) - (k === label ? 1 : 0);
  }
  return { losses, dlogits };
}

/** Mean loss and accuracy (argmax of the logits, first maximum on ties) over `indices`. */
export function evaluate64(
  model: Mlp64,
  x: Float32Array | Float64Array,
  y: Int32Array,
  indices: readonly number[],
  featureSize: number,
): { loss: number; accuracy: number } {
  checkBatch(model, x, indices, featureSize, y);
  const logits = forward(model, x, indices, featureSize).out[model.layers.length - 1]!;
  const classes = model.layers[model.layers.length - 1]!.units;
  const labels = indices.map((i) => y[i]!);
  const { losses } = crossEntropy(logits, classes, labels);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    loss += losses[r]!;
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[r * classes + k]! > logits[r * classes + best]!) best = k;
    if (best === labels[r]) correct++;
  }
  return { loss: loss / labels.length, accuracy: correct / labels.length };
}

/**
 * Mean softmax cross-entropy over the minibatch `indices` (labels y[i] as class indices)
 * and its gradient with respect to every kernel and bias, by backpropagation in float64.
 */
export function lossAndGradient(
  model: Mlp64,
  x: Float32Array | Float64Array,
  y: Int32Array,
  indices: readonly number[],
  featureSize: number,
): LossAndGradient64 {
  checkBatch(model, x, indices, featureSize, y);
  const b = indices.length;
  const fw = forward(model, x, indices, featureSize);
  const last = model.layers.length - 1;
  const classes = model.layers[last]!.units;
  const { losses, dlogits } = crossEntropy(fw.out[last]!, classes, indices.map((i) => y[i]!));
  let loss = 0;
  for (const l of losses) loss += l;
  loss /= b;

  // delta: d loss / d (this layer's output), batch × units; the mean's 1/b enters here.
  let delta = dlogits;
  for (let k = 0; k < delta.length; k++) delta[k]! /= b;
  const grads: LayerGradient64[] = new Array(model.layers.length);
  for (let l = last; l >= 0; l--) {
    const layer = model.layers[l]!;
    const { inputs: nin, units, kernel } = layer;
    const pre = fw.pre[l]!;
    const out = fw.out[l]!;
    const input = fw.inputs[l]!;
    const dpre = new Float64Array(b * units);
    for (let k = 0; k < dpre.length; k++) dpre[k] = delta[k]! * derivative(layer.activation, pre[k]!, out[k]!);
    const gk = new Float64Array(nin * units);
    const gb = new Float64Array(layer.bias.length);
    for (let r = 0; r < b; r++) {
      const row = r * units;
      for (let i = 0; i < nin; i++) {
        const a = input[r * nin + i]!;
        if (a === 0) continue;
        const w = i * units;
        for (let j = 0; j < units; j++) gk[w + j]! += a * dpre[row + j]!;
      }
      if (gb.length) for (let j = 0; j < units; j++) gb[j]! += dpre[row + j]!;
    }
    grads[l] = { kernel: gk, bias: gb };
    if (l > 0) {
      const prev = new Float64Array(b * nin);
      for (let r = 0; r < b; r++) {
        const row = r * units;
        for (let i = 0; i < nin; i++) {
          const w = i * units;
          let s = 0;
          for (let j = 0; j < units; j++) s += kernel[w + j]! * dpre[row + j]!;
          prev[r * nin + i] = s;
        }
      }
      delta = prev;
    }
  }
  return { loss, grads };
}

/** lossAndGradient of each example of `indices` alone, in order. */
export function perExampleGradients(
  model: Mlp64,
  x: Float32Array | Float64Array,
  y: Int32Array,
  indices: readonly number[],
  featureSize: number,
): LossAndGradient64[] {
  return indices.map((i) => lossAndGradient(model, x, y, [i], featureSize));
}

/** All parameters' gradients as one vector: layer by layer, kernel (row-major) then bias. */
export function flattenGradient(grads: readonly LayerGradient64[]): Float64Array {
  let size = 0;
  for (const g of grads) size += g.kernel.length + g.bias.length;
  const out = new Float64Array(size);
  let at = 0;
  for (const g of grads) {
    out.set(g.kernel, at);
    at += g.kernel.length;
    out.set(g.bias, at);
    at += g.bias.length;
  }
  return out;
}

/** Number of trainable parameters (the length of flattenGradient's vector). */
export function parameterCount(model: Mlp64): number {
  return model.layers.reduce((s, l) => s + l.kernel.length + l.bias.length, 0);
}
