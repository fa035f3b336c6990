// A held-out test set cut from one dataset: a seeded choice of round(fraction · n)
// examples (Floyd's sampling from Rng(seed), so the split depends on the seed and n
// alone), the rest the training set; both keep the examples in their original order.

import { Rng } from "../util/rng.js";
import { DataError, featureSize, type Dataset } from "./dataset.js";

function pick(ds: Dataset, indices: ArrayLike<number>, name: string): Dataset {
  const size = featureSize(ds);
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    x.set(ds.x.subarray(i * size, (i + 1) * size), r * size);
    y[r] = ds.y[i]!;
  }
  return { ...ds, name, n: indices.length, x, y };
}

/** Splits `ds` into a training set and a test set of round(testFraction · n) examples. */
export function splitDataset(ds: Dataset, testFraction: number, seed: number): { train: Dataset; test: Dataset } {
  if (!(testFraction > 0 && testFraction < 1)) throw new DataError(`test_fraction must be in (0, 1), got ${testFraction}`);
  const count = Math.round(testFraction * ds.n);
  if (count < 1 || count > ds.n - 1) throw new DataError(`test_fraction ${testFraction} of ${ds.n} examples leaves ${count} for the test set and ${ds.n - count} for training: each needs at least one`);
  const test = new Rng(seed, 0).sampleWithoutReplacement(ds.n, count);
  const held = new Set(test);
  const train: number[] = [];
  for (let i = 0; i < ds.n; i++) if (!held.has(i)) train.push(i);
  return { train: pick(ds, train, `${ds.name} (train split)`), test: pick(ds, test, `${ds.name} (test split)`) };
}
