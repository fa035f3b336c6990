// An ONNX file (ModelProto, as torch.onnx.export writes it) decoded with the ONNX schema
// for protobufjs (npm onnx-proto) into plain values: nodes with their attributes, the
// graph's inputs and outputs with their shapes, and the initializers as typed arrays.
// Nothing here knows TensorFlow.js.

import onnxProto from "onnx-proto";
import { OnnxError } from "./errors.js";

const { onnx } = onnxProto;

/** The opset (default domain) below which we do not read a model. */
export const MIN_OPSET = 13;

export type AttrValue = number | string | number[] | OnnxTensor;

export interface OnnxNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

/** A constant tensor: float32 values, or integers (int64/int32 as numbers). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  /** The ONNX data type's name ("FLOAT", "INT64", …). */
  dtype: string;
  /** FLOAT as float32; the integer types as numbers; null for types we do not read. */
  data: Float32Array | number[] | null;
}

/** One dimension: a number, or the name of a symbolic dimension (e.g. "N"), or null if unknown. */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  dtype: string;
  shape: OnnxDim[] | null;
}

export interface OnnxModel {
  opset: number;
  producer: string;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  /** Graph inputs that are not initializers. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

type Long = { toNumber(): number };

/** An int64 field as a number; beyond 2^53 is refused (no shape or axis is that large). */
function int(v: number | Long | null | undefined, where: string): number {
  const n = typeof v === "number" ? v : v == null ? 0 : v.toNumber();
  if (!Number.isSafeInteger(n)) throw new OnnxError(`${where}: the integer ${String(v)} is out of range`);
  return n;
}

function dtypeName(t: number): string {
  return (onnx.TensorProto.DataType as unknown as Record<number, string>)[t] ?? `type ${t}`;
}

function tensorOf(t: onnxProto.onnx.ITensorProto, where: string): OnnxTensor {
  const name = t.name ?? "";
  const at = `${where} '${name}'`;
  const dims = (t.dims ?? []).map((d) => int(d, at));
  const dtype = dtypeName(t.dataType ?? 0);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
    throw new OnnxError(`${at}: its data is stored in an external file; export the model in one file (torch.onnx.export without external data: models under 2 GB)`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  let data: Float32Array | number[] | null = null;
  if (dtype === "FLOAT") {
    if (raw) {
      if (raw.length !== count * 4) throw new OnnxError(`${at}: ${raw.length} bytes of raw data for ${count} float32 values`);
      const copy = new Uint8Array(raw.length);
      copy.set(raw); // raw is a view into the file's buffer, maybe unaligned
      data = new Float32Array(copy.buffer);
    } else {
      data = Float32Array.from(t.floatData ?? []);
    }
  } else if (dtype === "INT64" || dtype === "INT32") {
    if (raw) {
      const width = dtype === "INT64" ? 8 : 4;
      if (raw.length !== count * width) throw new OnnxError(`${at}: ${raw.length} bytes of raw data for ${count} ${dtype} values`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      data = Array.from({ length: count }, (_, i) => {
        if (width === 4) return view.getInt32(i * 4, true);
        const v = view.getBigInt64(i * 8, true);
        // Shapes use INT64_MAX/MIN as "to the end"; clamp those, they are never sizes.
        return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : v < BigInt(Number.MIN_SAFE_INTEGER) ? Number.MIN_SAFE_INTEGER : Number(v);
      });
    } else {
      data = dtype === "INT64" ? (t.int64Data ?? []).map((v) => int(v, at)) : [...(t.int32Data ?? [])];
    }
  }
  if (data && data.length !== count) throw new OnnxError(`${at}: ${data.length} values for the shape [${dims}]`);
  return { name, dims, dtype, data };
}

function attrOf(a: onnxProto.onnx.IAttributeProto, where: string): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  const at = `${where}, attribute ${a.name}`;
  switch (a.type) {
    case T.FLOAT:
      return a.f ?? 0;
    case T.INT:
      return int(a.i, at);
    case T.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.FLOATS:
      return [...(a.floats ?? [])];
    case T.INTS:
      return (a.ints ?? []).map((v) => int(v, at));
    case T.TENSOR:
      return tensorOf(a.t ?? {}, at);
    default:
      throw new OnnxError(`${at}: attributes of type ${String(a.type)} (graphs, sparse tensors, lists of strings) are not supported`);
  }
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): OnnxValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? "",
    dtype: dtypeName(tt?.elemType ?? 0),
    // A dimension is a number, a name (dim_param, e.g. the batch "N") or neither
    // (unknown; protobufjs then gives dim_value 0, which is no real size either).
    shape: dims ? dims.map((d): OnnxDim => (d.dimParam ? d.dimParam : int(d.dimValue, v.name ?? "") > 0 ? int(d.dimValue, v.name ?? "") : null)) : null,
  };
}

/** Decodes an ONNX file's bytes; `where` (the file's path) prefixes every error. */
export function decodeOnnx(bytes: Uint8Array, where: string): OnnxModel {
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new OnnxError(`${where}: not an ONNX model (${(err as Error).message})`, { cause: err });
  }
  const g = m.graph;
  if (!g || (g.node ?? []).length === 0) throw new OnnxError(`${where}: the ONNX model has no graph (or an empty one)`);
  const opsets = (m.opsetImport ?? []).filter((o) => !o.domain || o.domain === "ai.onnx");
  const opset = opsets.length > 0 ? int(opsets[0]!.version, `${where}: opset_import`) : 0;
  if (opset < MIN_OPSET) throw new OnnxError(`${where}: opset ${opset}; gradswarm reads opset ${MIN_OPSET} and later (torch.onnx.export(..., opset_version=13))`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    const tensor = tensorOf(t, `${where}: initializer`);
    initializers.set(tensor.name, tensor);
  }
  if ((g.sparseInitializer ?? []).length > 0) throw new OnnxError(`${where}: sparse initializers are not supported`);
  const nodes = (g.node ?? []).map((n, k): OnnxNode => {
    const name = n.name || `#${k}`;
    const at = `${where}: node '${name}' (${n.opType})`;
    return {
      name,
      op: n.opType ?? "",
      domain: n.domain ?? "",
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? "", attrOf(a, at)])),
    };
  });
  return {
    opset,
    producer: `${m.producerName ?? ""} ${m.producerVersion ?? ""}`.trim(),
    nodes,
    initializers,
    inputs: (g.input ?? []).filter((v) => !initializers.has(v.name ?? "")).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
  };
}
