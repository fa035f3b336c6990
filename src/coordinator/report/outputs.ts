// The files a run leaves in --out DIR: results.json, pairs.jsonl, and model.json +
// weights.bin holding the exact θ that was measured.

import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { writeLayersModel } from "../../model/layers-model-files.js";
import type { Snapshot } from "../../model/snapshot.js";
import type { ParsedConfig } from "../config/schema.js";
import type { Estimate } from "../estimators/types.js";
import type { GradientConfusion } from "../estimators/gradient-confusion.js";
import type { StiffnessByClass } from "../estimators/stiffness-classes.js";
import type { CurvatureSummary, FisherInfo, Generalization } from "../measure-subject.js";
import type { LayerPairRecord } from "../layer-groups.js";
import type { Measures } from "../reduce.js";
import type { VectorStatsResult } from "../vector-stats.js";
import type { InvarianceRow } from "./invariance.js";

// ---- results.json, the one definition its writer (run.ts) and its readers (verify.ts,
// the tests) share. Field names are the file's: snake_case, stable for users' scripts.

/** The measures of one θ: whole network, per layer and per weight tensor, and per Fisher metric. */
export interface SubjectResults {
  /** The Euclidean measures, and beside them fisher_regret_<kind> and curvature_contrast when measured. */
  measures: Record<string, Estimate>;
  layers: Record<string, Measures>;
  tensors: Record<string, Measures>;
  metrics: Record<string, { measures: Measures; layers: Record<string, Measures>; tensors: Record<string, Measures> }>;
  fisher: Partial<Record<string, FisherInfo>>;
  vector_stats: VectorStatsResult | null;
  curvature: CurvatureSummary | null;
  /** The whole network's pairwise g1·g2 and cosines: gradient confusion and their quantiles. */
  gradient_confusion: GradientConfusion | null;
  /** Class × class stiffness, when the pairs are of single examples (pairs.batch_size 1). */
  stiffness_classes: StiffnessByClass | null;
  /** θ's train and test loss and accuracy and the gap, when the config has a test set. */
  generalization: Generalization | null;
}

export interface WorkerEntry {
  id: string;
  host: string;
  backend: string;
  device: string;
  version: string;
  tasks: number;
  pairs: number;
  /** Units (pairs, points, items) accepted per phase. */
  units: Record<string, number>;
  bad_results: number;
  quarantined: string | null;
}

/** Faults seen during the run (the dispatcher's counts). */
export interface FaultCounts {
  expiredLeases: number;
  taskErrors: number;
  rejectedResults: number;
  duplicateResults: number;
  staleResults: number;
  refusedMessages: number;
  quarantinedWorkers: number;
  stallReports: number;
}

/** How the run went: what was measured on what, by whom, with which faults, how fast. */
export interface RunRecord {
  gradswarm_version: string;
  protocol_version: number;
  run_id: string;
  config_file: string;
  /** The config as parsed, defaults filled in. */
  config: ParsedConfig;
  seed: number;
  pairs: { count: number; batch_size: number; pairing: string; per_task: number; tasks: number; resumed: number; computed: number };
  dataset: { name: string; hash: string; bytes: number; n: number; feature_shape: number[]; classes: number };
  snapshot: { hash: string; bytes: number; parameters: number; weight_layers: string[]; gradient_layers: string[]; gradient_tensors: string[] };
  /** "embedded", or the server's URL. */
  nats: { url: string; prefix: string };
  return: string;
  workers: WorkerEntry[];
  faults: FaultCounts;
  vectors?: { chunks: number; bytes: number; transfer_s: number; mb_per_s: number };
  timings: {
    started: string;
    finished: string;
    load_s: number;
    blob_put_s: number;
    dispatch_s: number;
    total_s: number;
    coordinator_cpu_s: number;
    pairs_per_s: number;
    steady_pairs_per_s: number | null;
  };
}

export interface LandscapeFile {
  subject: string;
  normalization: string;
  csv: string;
  svg: string | null;
}

export interface ResultsFile extends SubjectResults {
  landscape?: LandscapeFile[];
  vector_files?: { layout: string[]; sizes: number[]; files: Record<string, Record<string, string>> };
  twins?: (SubjectResults & { alpha: number | null; layer: number; snapshot: string })[];
  invariance?: { layer: number; alphas: number[]; tolerance: number; rows: InvarianceRow[] };
  run: RunRecord;
}

export async function writeResultsJson(dir: string, results: ResultsFile): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "results.json");
  await writeFile(path, JSON.stringify(results, null, 2) + "\n");
  return path;
}

/** Reads DIR/results.json, checking that it is one (an object with measures and run); the rest is trusted as written. */
export async function readResultsJson(dir: string): Promise<ResultsFile> {
  const path = join(dir, "results.json");
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: not a readable results file: ${(err as Error).message}`, { cause: err });
  }
  const v = value as Partial<ResultsFile> | null;
  if (typeof v !== "object" || v === null || typeof v.measures !== "object" || typeof v.run !== "object" || typeof v.run?.pairs !== "object") {
    throw new Error(`${path}: not a gradswarm results file (no measures and run)`);
  }
  return v as ResultsFile;
}

/** One line per pair, in pair order; indices are into the dataset as loaded. */
export async function writePairsJsonl(dir: string, records: readonly LayerPairRecord[], layers: readonly string[]): Promise<string> {
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
