// Hand-built ONNX models for the importer's tests, encoded with the same schema package
// (onnx-proto) that decodes them.

import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;

export type Attr = { i: number } | { f: number } | { ints: number[] } | { s: string };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, Attr>;
}

export interface ModelSpec {
  inputs: { name: string; shape: (number | string)[]; dtype?: number }[];
  outputs: { name: string; shape: (number | string)[] }[];
  nodes: NodeSpec[];
  /** Float32 initializers (values in row-major order); `ints` marks an INT64 one. */
  initializers: { name: string; dims: number[]; values: number[]; ints?: boolean }[];
  opset?: number;
}

function attribute(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  if ("i" in a) return { name, type: A.INT, i: a.i };
  if ("f" in a) return { name, type: A.FLOAT, f: a.f };
  if ("ints" in a) return { name, type: A.INTS, ints: a.ints };
  return { name, type: A.STRING, s: new TextEncoder().encode(a.s) };
}

function valueInfo(v: { name: string; shape: (number | string)[]; dtype?: number }): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: v.dtype ?? 1, shape: { dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export function onnxBytes(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "gradswarm-test",
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    graph: {
      name: "test",
      node: spec.nodes.map((n, k) => ({ opType: n.op, name: n.name ?? `/${n.op}_${k}`, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs ?? {}).map(([name, a]) => attribute(name, a)) })),
      initializer: spec.initializers.map((t) =>
        t.ints ? { name: t.name, dims: t.dims, dataType: 7, int64Data: t.values } : { name: t.name, dims: t.dims, dataType: 1, floatData: t.values },
      ),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** n values 0.01·(1 + k mod 7), distinct enough to catch a permutation. */
export function ramp(n: number, offset = 0): number[] {
  return Array.from({ length: n }, (_, k) => 0.01 * (1 + ((k + offset) % 97)) * (k % 2 ? -1 : 1));
}
