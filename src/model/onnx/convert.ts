// An ONNX graph (decode.ts) as a TensorFlow.js layers model: a functional ("Model")
// topology of standard layer classes, θ as a Snapshot, and the map from each PyTorch
// parameter to its TF.js weight (layout.ts). Every node is converted or refused here,
// before a task is sent; a refusal names the node, its operator and what to do.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Snapshot } from "../snapshot.js";
import { ModelBuilder, type Value } from "./builder.js";
import { decodeOnnx, type OnnxModel, type OnnxNode } from "./decode.js";
import { nodeLabel, OnnxError, WHAT_TO_DO } from "./errors.js";
import { OnnxGraph } from "./graph.js";
import type { OnnxParameter } from "./layout.js";
import { activationOps } from "./ops/activation.js";
import type { OpConverter } from "./ops/context.js";
import { convOps } from "./ops/conv.js";
import { denseOps } from "./ops/dense.js";
import { mergeOps } from "./ops/merge.js";
import { normOps } from "./ops/norm.js";
import { poolOps } from "./ops/pool.js";
import { shapeOps } from "./ops/shape.js";

const CONVERTERS: Record<string, OpConverter> = { ...activationOps, ...denseOps, ...convOps, ...normOps, ...poolOps, ...shapeOps, ...mergeOps };

/** What the refusals list as importable (GELU's Div/Erf/Mul/Add pattern included as "Gelu"). */
export const SUPPORTED_OPERATORS =
  "Gemm, MatMul (+ Add), Conv (group 1 or depthwise), BatchNormalization (inference), Relu, LeakyRelu, Sigmoid, Tanh, Clip(0, 6), Gelu (Erf form), MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape to [N, features], Add, Concat, Pad (zeros), Identity, Dropout, and a final Softmax or LogSoftmax";

const FINAL_SOFTMAX = new Set(["Softmax", "LogSoftmax"]);

export interface OnnxConversion {
  snapshot: Snapshot;
  /** Every weight of θ as a PyTorch parameter (or buffer), in θ's order. */
  parameters: OnnxParameter[];
  /** The model's input in ONNX's layout, without the batch ([C, H, W] or [F]). */
  inputShape: number[];
  /** The same in TF.js's ([H, W, C] or [F]): the dataset's examples must have it. */
  tfjsInputShape: number[];
  classes: number;
  /** The final Softmax or LogSoftmax that was dropped (the loss takes logits), or null. */
  droppedOutput: string | null;
  /** Initializers no converted node uses (ignored). */
  unusedInitializers: string[];
  opset: number;
  producer: string;
}

/** The nodes whose outputs the graph output depends on. */
function neededNodes(model: OnnxModel): Set<OnnxNode> {
  const producer = new Map<string, OnnxNode>();
  for (const n of model.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const needed = new Set<OnnxNode>();
  const stack = model.outputs.map((o) => o.name);
  while (stack.length > 0) {
    const n = producer.get(stack.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    stack.push(...n.inputs.filter(Boolean));
  }
  return needed;
}

function checkInput(model: OnnxModel, where: string): { name: string; shape: number[] } {
  if (model.inputs.length !== 1) throw new OnnxError(`${where}: the model has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(", ")}); gradswarm measures models with one input`);
  if (model.outputs.length !== 1) throw new OnnxError(`${where}: the model has ${model.outputs.length} outputs (${model.outputs.map((o) => o.name).join(", ")}); gradswarm measures models with one output (the logits)`);
  const input = model.inputs[0]!;
  if (input.dtype !== "FLOAT") throw new OnnxError(`${where}: input '${input.name}' is ${input.dtype}; gradswarm feeds float32 inputs`);
  if (!input.shape || (input.shape.length !== 2 && input.shape.length !== 4)) {
    throw new OnnxError(`${where}: input '${input.name}' has shape [${input.shape?.map(String) ?? "unknown"}]; gradswarm takes [N, features] or [N, C, H, W]`);
  }
  const rest = input.shape.slice(1);
  if (!rest.every((d) => typeof d === "number" && d > 0)) {
    throw new OnnxError(`${where}: input '${input.name}' has shape [${input.shape.map(String)}]: dynamic shapes other than the batch dimension are not supported (export with dynamic_axes only on dimension 0)`);
  }
  return { name: input.name, shape: rest as number[] };
}

/** Converts a decoded ONNX model; `where` (the file) prefixes every error. */
export function convertOnnx(model: OnnxModel, where: string): OnnxConversion {
  const input = checkInput(model, where);
  const g = new OnnxGraph(model, where);
  const b = new ModelBuilder();
  const ctx = { g, b };
  const tfjsInputShape = input.shape.length === 3 ? [input.shape[1]!, input.shape[2]!, input.shape[0]!] : [...input.shape];
  const inputLayer = b.layer("InputLayer", { batch_input_shape: [null, ...tfjsInputShape], dtype: "float32", sparse: false }, [], b.uniqueName(input.name));
  g.values.set(input.name, { layer: inputLayer, shape: input.shape, tfShape: tfjsInputShape, nonneg: false });
  const outputName = model.outputs[0]!.name;
  const needed = neededNodes(model);
  let droppedOutput: string | null = null;
  // Constants first: a pattern (GELU) reads constants that torch writes after its first node.
  for (const node of model.nodes) if (node.op === "Constant" && needed.has(node)) CONVERTERS.Constant!(node, ctx);
  for (const node of model.nodes) {
    if (node.op === "Constant") continue;
    if (!needed.has(node) || g.absorbed.has(node)) continue;
    if (node.domain !== "" && node.domain !== "ai.onnx") {
      throw new OnnxError(`${where}: ${nodeLabel(node)} is in the operator domain '${node.domain}', which gradswarm does not import; ${WHAT_TO_DO}`);
    }
    if (FINAL_SOFTMAX.has(node.op)) {
      const x = g.value(node, 0);
      const axis = node.attrs.get("axis") ?? -1;
      if (node.outputs[0] !== outputName) g.fail(node, `a ${node.op} inside the network is not supported; gradswarm takes a final ${node.op} as the logits' and drops it`);
      if (x.shape.length !== 1 || (axis !== -1 && axis !== 1)) g.fail(node, `a ${node.op} over axis ${String(axis)} of [N, ${x.shape}]; only over the classes of [N, classes]`);
      g.values.set(node.outputs[0]!, x);
      droppedOutput = node.op;
      continue;
    }
    const convert = CONVERTERS[node.op];
    if (!convert) throw new OnnxError(`${where}: ${nodeLabel(node)} is not supported: gradswarm imports ${SUPPORTED_OPERATORS}; ${WHAT_TO_DO}`);
    convert(node, ctx);
  }
  let out: Value | undefined = g.values.get(outputName);
  if (!out) throw new OnnxError(`${where}: the output '${outputName}' is not computed from the input`);
  if (out.hwcFlat) out = out.hwcFlat.inOnnxOrder();
  if (out.shape.length !== 1) throw new OnnxError(`${where}: the output '${outputName}' has shape [N, ${out.shape}]; gradswarm needs logits [N, classes]`);
  if (out.layer === inputLayer) throw new OnnxError(`${where}: the model computes nothing (its output is its input)`);
  const built = b.finish(inputLayer, out.layer, "onnx");
  const used = new Set(built.parameters.map((p) => p.name));
  return {
    snapshot: { modelTopology: built.topology, weights: built.weights, data: built.data },
    parameters: built.parameters,
    inputShape: input.shape,
    tfjsInputShape,
    classes: out.shape[0]!,
    droppedOutput,
    unusedInitializers: [...model.initializers.values()].filter((t) => t.dtype === "FLOAT" && !used.has(t.name)).map((t) => t.name),
    opset: model.opset,
    producer: model.producer,
  };
}

/** Reads and converts an ONNX file. */
export async function readOnnxModel(path: string): Promise<OnnxConversion> {
  const file = resolve(path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new OnnxError(`${file}: cannot read the ONNX model: ${(err as Error).message}`, { cause: err });
  }
  return convertOnnx(decodeOnnx(bytes, file), file);
}
