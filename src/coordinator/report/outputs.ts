// The files a run leaves in --out DIR: results.json, pairs.jsonl, and model.json +
// weights.bin holding the exact θ that was measured.

import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { writeLayersModel } from "../../model/layers-model-files.js";
import type { Snapshot } from "../../model/snapshot.js";
import type { PairRecord } from "../pair-records.js";

/** results.json: `report` holds measures, layers and whatever else was measured; then run. */
export async function writeResultsJson(dir: string, report: Record<string, unknown>, run: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "results.json");
  await writeFile(path, JSON.stringify({ ...report, run }, null, 2) + "\n");
  return path;
}

/** One line per pair, in pair order; indices are into the dataset as loaded. */
export async function writePairsJsonl(dir: string, records: readonly PairRecord[], layers: readonly string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "pairs.jsonl");
  const out = createWriteStream(path);
  for (const r of records) {
    const line = JSON.stringify({
      pair: r.id,
      batches: r.batches,
      loss: r.loss,
      norm: r.norm,
      dot: r.dot,
      layers: Object.fromEntries(layers.map((name, l) => [name, { norm: [r.layerNorm[0][l], r.layerNorm[1][l]], dot: r.layerDot[l] }])),
    });
    if (!out.write(line + "\n")) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return path;
}

export async function writeModel(dir: string, snapshot: Snapshot): Promise<string> {
  return (await writeLayersModel(dir, snapshot)).modelJson;
}

/**
 * Per-parameter vector statistics as raw little-endian float32 files (NaN where
 * undefined), laid out tensor after tensor in `tensors` order; returns the file names.
 */
export async function writeVectorArrays(dir: string, key: string, arrays: Record<string, Float32Array>): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const [name, values] of Object.entries(arrays)) {
    const file = `vector-${key}-${name}.f32`;
    await writeFile(join(dir, file), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    files[name] = file;
  }
  return files;
}
