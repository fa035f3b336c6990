// The TensorFlow.js functional ("Model") topology under construction, its weights and
// the parameter map. Layers are written as Keras JSON (snake_case configs) of standard
// TF.js layer classes only, so that tf.loadLayersModel builds them in every worker.

import type { WeightSpec } from "../snapshot.js";
import { toTfjsLayout, tfjsShapeOf, type Layout, type OnnxParameter } from "./layout.js";

type Json = Record<string, unknown>;

/** A tensor of the ONNX graph as it exists in the TF.js model. */
export interface Value {
  /** The TF.js layer whose (single) output holds it. */
  layer: string;
  /** ONNX shape without the batch dimension: [C, H, W] or [F]. */
  shape: number[];
  /** TF.js shape without the batch dimension: [H, W, C] for a [C, H, W] map. */
  tfShape: number[];
  /** Known to be ≥ 0 (after a ReLU): zero padding then equals max pooling's. */
  nonneg: boolean;
  /**
   * Set when the value is a C×H×W map flattened in TF.js's H·W·C order rather than
   * ONNX's C·H·W: a Dense right after takes it with its kernel rows permuted; any other
   * consumer asks for `inOnnxOrder()` (a Permute before the Flatten).
   */
  hwcFlat?: { chw: [number, number, number]; inOnnxOrder: () => Value };
}

interface LayerEntry {
  class_name: string;
  name: string;
  config: Json;
  inbound_nodes: unknown[];
  inputs: string[];
  weights: { spec: WeightSpec; data: Float32Array }[];
}

/** The names TF.js accepts for layers and weights (tfjs-layers common.js isValidTensorName). */
const VALID_NAME = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

export class ModelBuilder {
  private readonly layers: LayerEntry[] = [];
  private readonly byName = new Map<string, LayerEntry>();
  readonly parameters: OnnxParameter[] = [];

  /** A layer name from an ONNX name ("/layer1/layer1.0/Relu" → "layer1.layer1.0.Relu"), unique. */
  uniqueName(base: string): string {
    let name = base.replace(/^\/+/, "").replace(/\//g, ".").replace(/[^A-Za-z0-9._-]/g, "_");
    if (!VALID_NAME.test(name)) name = `n${name}`;
    if (!VALID_NAME.test(name)) name = "layer";
    let candidate = name;
    for (let k = 2; this.byName.has(candidate); k++) candidate = `${name}_${k}`;
    return candidate;
  }

  /** Whether `name` is free and valid as it stands (a PyTorch module path for a layer). */
  isFree(name: string): boolean {
    return VALID_NAME.test(name) && !this.byName.has(name);
  }

  /** Adds a layer on `inputs` and returns its name (taken from `base`, made unique). */
  layer(className: string, config: Json, inputs: readonly Value[], base: string): string {
    const name = this.isFree(base) ? base : this.uniqueName(base);
    const entry: LayerEntry = {
      class_name: className,
      name,
      config: { ...config, name, trainable: true },
      inbound_nodes: inputs.length === 0 ? [] : [inputs.map((v) => [v.layer, 0, 0, {}])],
      inputs: inputs.map((v) => v.layer),
      weights: [],
    };
    this.layers.push(entry);
    this.byName.set(name, entry);
    return name;
  }

  /**
   * Gives layer `layer` its weight `suffix` ("kernel", "gamma", …) from ONNX initializer
   * `onnxName` (PyTorch layout, converted here). Call in the layer's own weight order.
   */
  weight(layer: string, suffix: string, onnxName: string, shape: readonly number[], data: Float32Array, layout: Layout, trainable: boolean): void {
    const entry = this.byName.get(layer)!;
    const tfjs = `${layer}/${suffix}`;
    const tfjsShape = tfjsShapeOf(shape, layout);
    entry.weights.push({ spec: { name: tfjs, shape: tfjsShape }, data: toTfjsLayout({ shape: [...shape], layout }, data) });
    this.parameters.push({ name: onnxName, tfjs, shape: [...shape], tfjsShape, layout, trainable });
  }

  /**
   * The layers that reach `output`, in the order TF.js's Container puts them (by depth
   * from the output, deepest first; ties in the order a depth-first walk from the output
   * meets them: tfjs-layers engine/container.js). θ's weights follow that order, so that
   * a worker's trainable weights come out in θ's order.
   */
  private ordered(output: string): LayerEntry[] {
    const index = new Map<string, number>();
    const postorder: string[] = [];
    const finished = new Set<string>();
    const visit = (name: string): void => {
      if (finished.has(name)) return;
      if (!index.has(name)) index.set(name, index.size);
      for (const input of this.byName.get(name)!.inputs) visit(input);
      finished.add(name);
      postorder.push(name);
    };
    visit(output);
    const depth = new Map<string, number>();
    for (const name of [...postorder].reverse()) {
      const d = depth.get(name) ?? 0;
      depth.set(name, d);
      for (const input of this.byName.get(name)!.inputs) depth.set(input, Math.max(d + 1, depth.get(input) ?? 0));
    }
    return [...depth.keys()].sort((a, b) => depth.get(b)! - depth.get(a)! || index.get(a)! - index.get(b)!).map((n) => this.byName.get(n)!);
  }

  /** The topology, θ's weights in TF.js's order, and the parameter map in that order. */
  finish(input: string, output: string, modelName: string): { topology: Json; weights: WeightSpec[]; data: Float32Array; parameters: OnnxParameter[] } {
    const layers = this.ordered(output);
    const weights = layers.flatMap((l) => l.weights);
    const total = weights.reduce((n, w) => n + w.data.length, 0);
    const data = new Float32Array(total);
    let at = 0;
    for (const w of weights) {
      data.set(w.data, at);
      at += w.data.length;
    }
    const order = new Map(weights.map((w, i) => [w.spec.name, i]));
    const parameters = this.parameters.filter((p) => order.has(p.tfjs)).sort((a, b) => order.get(a.tfjs)! - order.get(b.tfjs)!);
    const topology = {
      class_name: "Model",
      config: {
        name: modelName,
        layers: layers.map((l) => ({ class_name: l.class_name, name: l.name, config: l.config, inbound_nodes: l.inbound_nodes })),
        input_layers: [[input, 0, 0]],
        output_layers: [[output, 0, 0]],
      },
      keras_version: "tfjs-layers 4.22.0",
      backend: "tensor_flow.js",
    };
    return { topology, weights: weights.map((w) => w.spec), data, parameters };
  }
}
