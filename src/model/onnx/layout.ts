// How a PyTorch parameter (an ONNX initializer, in PyTorch's layout) becomes a
// TensorFlow.js weight and back. Both directions are needed: a checkpoint
// (safetensors, PyTorch layout) is loaded into θ, and θ is written out for PyTorch.
//
// PyTorch computes in NCHW, TensorFlow.js in NHWC:
//   conv kernel        OIHW [O, I, kH, kW]       → HWIO [kH, kW, I, O]
//   depthwise kernel   [C·M, 1, kH, kW]          → [kH, kW, C, M]  (output channel c·M + m in both)
//   Linear weight      [out, in] (Gemm transB=1) → Dense kernel [in, out]
//   after a Flatten of a C×H×W map PyTorch's feature index is c·H·W + h·W + w and
//   TensorFlow.js's (h·W + w)·C + c: the Dense kernel's rows are permuted to match.
//   biases, batch-norm scale, shift and running statistics: the same [C] vector.

export type Layout =
  | { kind: "same" }
  | { kind: "conv" }
  | { kind: "depthwise"; multiplier: number }
  /** transpose: the ONNX tensor is [out, in]; rows: the C·H·W map flattened before this Dense. */
  | { kind: "dense"; transpose: boolean; rows: [number, number, number] | null };

export interface OnnxParameter {
  /** The ONNX initializer's name: PyTorch's state_dict key, e.g. "layer1.0.conv1.weight". */
  name: string;
  /** The TensorFlow.js weight it becomes, e.g. "layer1.0.conv1/kernel". */
  tfjs: string;
  /** Shape in PyTorch's (ONNX's) layout. */
  shape: number[];
  /** Shape in TensorFlow.js's layout. */
  tfjsShape: number[];
  layout: Layout;
  /** false for batch normalization's running statistics (buffers, not parameters). */
  trainable: boolean;
}

/** The TensorFlow.js shape of a tensor of ONNX shape `shape` under `layout`. */
export function tfjsShapeOf(shape: readonly number[], layout: Layout): number[] {
  switch (layout.kind) {
    case "same":
      return [...shape];
    case "conv": {
      const [o, i, h, w] = shape as [number, number, number, number];
      return [h, w, i, o];
    }
    case "depthwise": {
      const [cm, , h, w] = shape as [number, number, number, number];
      return [h, w, cm / layout.multiplier, layout.multiplier];
    }
    case "dense":
      return layout.transpose ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
  }
}

/** For each index of the TensorFlow.js array, the index of the same value in PyTorch's. */
export function torchIndexOf(shape: readonly number[], layout: Layout): Int32Array | null {
  if (layout.kind === "same") return null;
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n);
  if (layout.kind === "conv") {
    const [o, i, h, w] = shape as [number, number, number, number];
    let t = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < i; c++) for (let k = 0; k < o; k++) out[t++] = ((k * i + c) * h + y) * w + x;
    return out;
  }
  if (layout.kind === "depthwise") {
    const [cm, , h, w] = shape as [number, number, number, number];
    const m = layout.multiplier;
    const c = cm / m;
    let t = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) for (let k = 0; k < m; k++) out[t++] = ((ch * m + k) * h + y) * w + x;
    return out;
  }
  const [inputs, units] = layout.transpose ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
  // Row r of the TensorFlow.js kernel is feature r in H·W·C order; its PyTorch row.
  const rowOf = new Int32Array(inputs);
  if (layout.rows) {
    const [c, h, w] = layout.rows;
    if (c * h * w !== inputs) throw new RangeError(`a Dense of ${inputs} inputs after a flattened ${c}×${h}×${w} map`);
    let r = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) rowOf[r++] = (ch * h + y) * w + x;
  } else {
    for (let r = 0; r < inputs; r++) rowOf[r] = r;
  }
  let t = 0;
  for (let r = 0; r < inputs; r++) for (let u = 0; u < units; u++) out[t++] = layout.transpose ? u * inputs + rowOf[r]! : rowOf[r]! * units + u;
  return out;
}

/** A PyTorch-layout array (shape p.shape) in TensorFlow.js's layout. */
export function toTfjsLayout(p: Pick<OnnxParameter, "shape" | "layout">, torch: Float32Array): Float32Array {
  const index = torchIndexOf(p.shape, p.layout);
  if (!index) return Float32Array.from(torch);
  const out = new Float32Array(index.length);
  for (let t = 0; t < index.length; t++) out[t] = torch[index[t]!]!;
  return out;
}

/** A TensorFlow.js-layout array back in PyTorch's layout (shape p.shape). */
export function toTorchLayout(p: Pick<OnnxParameter, "shape" | "layout">, tfjs: Float32Array): Float32Array {
  const index = torchIndexOf(p.shape, p.layout);
  if (!index) return Float32Array.from(tfjs);
  const out = new Float32Array(index.length);
  for (let t = 0; t < index.length; t++) out[index[t]!] = tfjs[t]!;
  return out;
}
