// The in-memory dataset both sides work from: features as one flat float32 array and
// labels as class indices. Every loader returns one, checked by validateDataset, so that
// consumers can index it without re-checking.

export interface Dataset {
  /** For display only ("mnist", "idx:train-images-idx3-ubyte", "synthetic"); not hashed. */
  name: string;
  n: number;
  /** Shape of one example, e.g. [784] for flattened 28×28 images. */
  featureShape: number[];
  numClasses: number;
  /** n × prod(featureShape) values, row-major. */
  x: Float32Array;
  /** Class index per example, in [0, numClasses). */
  y: Int32Array;
}

/** Data that cannot be used; the message names the file or field and what is wrong. */
export class DataError extends Error {
  override name = "DataError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Values per example (the product of featureShape). */
export function featureSize(ds: Pick<Dataset, "featureShape">): number {
  let s = 1;
  for (const d of ds.featureShape) s *= d;
  return s;
}

/**
 * Checks the invariants every Dataset keeps; `where` names the source in the error
 * (a file, "synthetic", a bundle field).
 */
export function validateDataset(ds: Dataset, where: string): void {
  if (!Number.isSafeInteger(ds.n) || ds.n < 1) throw new DataError(`${where}: n must be a positive integer, got ${ds.n}`);
  if (!Array.isArray(ds.featureShape) || ds.featureShape.length === 0) {
    throw new DataError(`${where}: featureShape must be a non-empty array of dimensions`);
  }
  for (const [i, d] of ds.featureShape.entries()) {
    if (!Number.isSafeInteger(d) || d < 1) throw new DataError(`${where}: featureShape[${i}] must be a positive integer, got ${d}`);
  }
  if (!Number.isSafeInteger(ds.numClasses) || ds.numClasses < 1) {
    throw new DataError(`${where}: numClasses must be a positive integer, got ${ds.numClasses}`);
  }
  if (!(ds.x instanceof Float32Array)) throw new DataError(`${where}: x must be a Float32Array`);
  if (!(ds.y instanceof Int32Array)) throw new DataError(`${where}: y must be an Int32Array`);
  const size = featureSize(ds);
  if (ds.x.length !== ds.n * size) {
    throw new DataError(`${where}: x holds ${ds.x.length} values, ${ds.n} examples of shape [${ds.featureShape}] need ${ds.n * size}`);
  }
  if (ds.y.length !== ds.n) throw new DataError(`${where}: y holds ${ds.y.length} labels for ${ds.n} examples`);
  for (let i = 0; i < ds.x.length; i++) {
    if (!Number.isFinite(ds.x[i]!)) {
      throw new DataError(`${where}: feature value ${ds.x[i]} at example ${Math.floor(i / size)} is not finite`);
    }
  }
  for (let i = 0; i < ds.n; i++) {
    const label = ds.y[i]!;
    if (label < 0 || label >= ds.numClasses) {
      throw new DataError(`${where}: label ${label} of example ${i} is outside [0, ${ds.numClasses})`);
    }
  }
}

/** Checks a `limit` option and returns how many examples to keep. */
export function resolveLimit(limit: number | undefined, available: number, where: string): number {
  if (limit === undefined) return available;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new DataError(`${where}: limit must be a positive integer, got ${limit}`);
  if (limit > available) throw new DataError(`${where}: limit ${limit} exceeds the ${available} examples available`);
  return limit;
}

/** The first `count` examples of `ds` (copies, so the rest can be freed). */
export function takeFirst(ds: Dataset, count: number): Dataset {
  if (count === ds.n) return ds;
  const size = featureSize(ds);
  return { ...ds, n: count, x: ds.x.slice(0, count * size), y: ds.y.slice(0, count) };
}
