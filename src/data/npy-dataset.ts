// A Dataset from two .npy files, as a PyTorch user has them: inputs x [N, ...] and labels
// y [N] of class indices. Images end NHWC, since TensorFlow.js convolutions are
// channels-last: layout nchw (PyTorch's order, the default for 4-D arrays) is transposed
// [N, C, H, W] → [N, H, W, C]; nhwc is kept; flat makes [N, D] of each example's values in
// C order (what torch.flatten gives, so an MLP's first weight matrix keeps its meaning).
// A 3-D array [N, H, W] is one channel: [H, W, 1]. The checks are the IDX reader's: equal
// counts, labels in range, classes inferred or given, finite values.

import { basename } from "node:path";
import { DataError, featureSize, resolveLimit, validateDataset, type Dataset } from "./dataset.js";
import { readNpyFile, type NpyArray } from "./npy.js";

export const NPY_LAYOUTS = ["nchw", "nhwc", "flat"] as const;
export type NpyLayout = (typeof NPY_LAYOUTS)[number];

export interface NpyDatasetOptions {
  /** How to read the inputs' axes; default nchw for 4-D arrays, flat for 2-D, [H, W, 1] for 3-D. */
  layout?: NpyLayout;
  /** Each input value × scale, in float64, then rounded to float32 (1/255 for uint8 pixels); default 1. */
  scale?: number;
  /** Keep the first `limit` examples. */
  limit?: number;
  /** Number of classes; default: the largest label plus one. */
  classes?: number;
  /** Display name; default "npy:" + the inputs file's base name. */
  name?: string;
}

const INPUT_DTYPES = ["u1", "f4", "f8"];
const LABEL_DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "i8"];

/** featureShape per example, and whether the values need the NCHW → NHWC transpose. */
function exampleShape(shape: number[], layout: NpyLayout | undefined, file: string): { featureShape: number[]; transpose: boolean } {
  const rank = shape.length;
  const rest = shape.slice(1);
  const shown = `(${shape.join(", ")})`;
  if (rank < 2) throw new DataError(`${file}: inputs of shape ${shown} need at least 2 axes: [N, features] or [N, C, H, W]`);
  if (layout === "flat" || (layout === undefined && rank === 2)) return { featureShape: [rest.reduce((a, d) => a * d, 1)], transpose: false };
  if (rank === 2) throw new DataError(`${file}: layout ${layout} needs images of 4 axes ([N, C, H, W] or [N, H, W, C]), the inputs have shape ${shown}; use layout: flat`);
  if (rank === 3) {
    if (layout === "nchw") throw new DataError(`${file}: inputs of shape ${shown} have no channel axis for layout nchw; leave layout out (or use nhwc) to read them as [N, H, W] with one channel`);
    return { featureShape: [...rest, 1], transpose: false };
  }
  if (rank !== 4) throw new DataError(`${file}: inputs of shape ${shown} have ${rank} axes; images are [N, C, H, W] or [N, H, W, C] (or use layout: flat)`);
  const [c, h, w] = rest as [number, number, number];
  if (layout === "nhwc") return { featureShape: rest, transpose: false };
  return { featureShape: [h, w, c], transpose: true };
}

/** Labels as class indices; errors name the labels file. */
function labelsAsInt32(labels: NpyArray, file: string): Int32Array {
  if (!LABEL_DTYPES.includes(labels.dtype)) {
    const hint = labels.dtype.startsWith("f") ? "; save y.astype(np.int64)" : "";
    throw new DataError(`${file}: labels must be integers (uint8, int8, int16, uint16, int32, uint32, int64), got dtype ${labels.dtype}${hint}`);
  }
  if (labels.shape.length !== 1) {
    throw new DataError(`${file}: labels must be one class index per example, shape (N,), got (${labels.shape.join(", ")}) (one-hot labels: save y.argmax(1))`);
  }
  const out = new Int32Array(labels.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(labels.data[i]!);
    if (v < 0) throw new DataError(`${file}: label ${v} of example ${i} is negative`);
    if (v > 1_000_000) throw new DataError(`${file}: label ${labels.data[i]} of example ${i} is not a plausible class index (over 1000000)`);
    out[i] = v;
  }
  return out;
}

/** Builds a Dataset from decoded inputs and labels; `files` name them in errors. */
export function npyToDataset(inputs: NpyArray, labels: NpyArray, files: { inputs: string; labels: string }, options: NpyDatasetOptions = {}): Dataset {
  if (!INPUT_DTYPES.includes(inputs.dtype)) {
    throw new DataError(`${files.inputs}: inputs must be uint8, float32 or float64, got dtype ${inputs.dtype}; save x.astype(np.float32)`);
  }
  if (options.layout !== undefined && !NPY_LAYOUTS.includes(options.layout)) {
    throw new DataError(`${files.inputs}: layout must be nchw, nhwc or flat, got ${JSON.stringify(options.layout)}`);
  }
  const scale = options.scale ?? 1;
  if (!Number.isFinite(scale) || scale <= 0) throw new DataError(`${files.inputs}: scale must be a positive number, got ${scale}`);
  const { featureShape, transpose } = exampleShape(inputs.shape, options.layout, files.inputs);
  const n = inputs.shape[0]!;
  if (n < 1) throw new DataError(`${files.inputs}: holds no examples`);
  if (featureShape.some((d) => d < 1)) throw new DataError(`${files.inputs}: examples of shape (${inputs.shape.slice(1).join(", ")}) hold no values`);
  const y = labelsAsInt32(labels, files.labels);
  if (y.length !== n) throw new DataError(`${files.labels}: holds ${y.length} labels but ${files.inputs} holds ${n} examples`);
  let maxLabel = 0;
  for (const l of y) if (l > maxLabel) maxLabel = l;
  let numClasses = maxLabel + 1;
  if (options.classes !== undefined) {
    const c = options.classes;
    if (!Number.isSafeInteger(c) || c < 1) throw new DataError(`${files.labels}: classes must be a positive integer, got ${c}`);
    if (maxLabel >= c) throw new DataError(`${files.labels}: label ${maxLabel} of example ${y.indexOf(maxLabel)} is outside [0, ${c}) for classes = ${c}`);
    numClasses = c;
  }
  const where = `${files.inputs}, ${files.labels}`;
  const keep = resolveLimit(options.limit, n, where);
  const size = featureSize({ featureShape });
  const src = inputs.data as Uint8Array | Float32Array | Float64Array;
  const x = new Float32Array(keep * size);
  if (transpose) {
    const [h, w, c] = featureShape as [number, number, number];
    const hw = h * w;
    for (let e = 0; e < keep; e++) {
      const base = e * size;
      for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) x[base + p * c + ch] = src[base + ch * hw + p]! * scale;
    }
  } else {
    for (let i = 0; i < x.length; i++) x[i] = src[i]! * scale;
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) {
      const e = Math.floor(i / size);
      throw new DataError(`${files.inputs}: example ${e} holds a value that is not finite as float32 (${x[i]}${scale === 1 ? "" : `, after × ${scale}`})`);
    }
  }
  const ds: Dataset = { name: options.name ?? `npy:${basename(files.inputs)}`, n: keep, featureShape, numClasses, x, y: keep === n ? y : y.slice(0, keep) };
  validateDataset(ds, where);
  return ds;
}

/** Reads an inputs and a labels .npy file into a Dataset. */
export async function loadNpyDataset(inputsPath: string, labelsPath: string, options: NpyDatasetOptions = {}): Promise<Dataset> {
  // Both read at once, the failures reported together in a fixed order, as loadIdxDataset does.
  const [inputs, labels] = await Promise.allSettled([readNpyFile(inputsPath), readNpyFile(labelsPath)]);
  const failed = [inputs, labels].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failed.length === 2 && failed.every((e) => e instanceof DataError)) throw new DataError(failed.map((e) => (e as Error).message).join("; "));
  if (inputs.status === "rejected") throw inputs.reason;
  if (labels.status === "rejected") throw labels.reason;
  return npyToDataset(inputs.value, labels.value, { inputs: inputsPath, labels: labelsPath }, options);
}
