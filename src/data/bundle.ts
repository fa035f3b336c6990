// A dataset as a tensor bundle: the bytes the object store holds and the content hash
// workers check before they accept a task. The display name is left out of the bytes,
// so the same data loaded two ways (the mnist package, or the IDX files made from it)
// hashes the same.

import { createHash } from "node:crypto";
import { describeValue, ProtocolError, shortKey } from "../protocol/index.js";
import { decodeTensorBundle, encodeTensorBundle } from "../protocol/tensor-bundle.js";
import { DataError, validateDataset, type Dataset } from "./dataset.js";

export const DATASET_BUNDLE_KIND = "dataset";
const META_KEYS = ["numClasses"];

/** Canonical bytes: kind "dataset", meta {numClasses}, x [n, ...featureShape] float32, y [n] int32. */
export function datasetToBundleBytes(ds: Dataset): Uint8Array {
  validateDataset(ds, `dataset ${ds.name}`);
  return encodeTensorBundle({
    kind: DATASET_BUNDLE_KIND,
    meta: { numClasses: ds.numClasses },
    tensors: [
      { name: "x", shape: [ds.n, ...ds.featureShape], dtype: "float32", data: ds.x },
      { name: "y", shape: [ds.n], dtype: "int32", data: ds.y },
    ],
  });
}

/**
 * Decodes and validates a dataset bundle. x and y may be views into `bytes` (no copy),
 * so `bytes` must not be modified afterwards.
 */
export function datasetFromBundleBytes(bytes: Uint8Array, name: string): Dataset {
  const bundle = decodeTensorBundle(bytes);
  if (bundle.kind !== DATASET_BUNDLE_KIND) {
    throw new ProtocolError("bundle.kind", `expected ${JSON.stringify(DATASET_BUNDLE_KIND)}, got ${describeValue(bundle.kind)}`);
  }
  for (const k of Object.keys(bundle.meta)) if (!META_KEYS.includes(k)) throw new ProtocolError(`bundle.meta.${shortKey(k)}`, "unknown key");
  const numClasses = bundle.meta.numClasses;
  if (typeof numClasses !== "number" || !Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new ProtocolError("bundle.meta.numClasses", `must be a positive integer, got ${describeValue(numClasses)}`);
  }
  if (bundle.tensors.length !== 2) throw new ProtocolError("bundle.tensors", `must hold exactly x and y, got ${bundle.tensors.length} tensors`);
  const [xt, yt] = bundle.tensors as [(typeof bundle.tensors)[number], (typeof bundle.tensors)[number]];
  if (xt.name !== "x") throw new ProtocolError("bundle.tensors[0].name", `expected "x", got ${describeValue(xt.name)}`);
  if (yt.name !== "y") throw new ProtocolError("bundle.tensors[1].name", `expected "y", got ${describeValue(yt.name)}`);
  if (xt.dtype !== "float32") throw new ProtocolError("bundle.tensors[0].dtype", `x must be float32, got ${xt.dtype}`);
  if (yt.dtype !== "int32") throw new ProtocolError("bundle.tensors[1].dtype", `y must be int32, got ${yt.dtype}`);
  if (xt.shape.length < 2) throw new ProtocolError("bundle.tensors[0].shape", `x must be [n, ...featureShape], got [${xt.shape}]`);
  const [n, ...featureShape] = xt.shape as [number, ...number[]];
  if (n < 1 || featureShape.some((d) => d < 1)) throw new ProtocolError("bundle.tensors[0].shape", `x must have positive dimensions, got [${xt.shape}]`);
  if (yt.shape.length !== 1 || yt.shape[0] !== n) {
    throw new ProtocolError("bundle.tensors[1].shape", `y must be [${n}] to match x, got [${yt.shape}]`);
  }
  const ds: Dataset = { name, n, featureShape, numClasses, x: xt.data as Float32Array, y: yt.data as Int32Array };
  try {
    validateDataset(ds, "bundle");
  } catch (err) {
    if (err instanceof DataError) throw new ProtocolError("bundle.data", err.message.replace(/^bundle: /, ""), { cause: err });
    throw err;
  }
  return ds;
}

/** Hex sha256 of datasetToBundleBytes(ds): the dataset's identity across machines. */
export function datasetHash(ds: Dataset): string {
  return createHash("sha256").update(datasetToBundleBytes(ds)).digest("hex");
}
