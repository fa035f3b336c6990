// `coordinator verify DIR`: an independent float64 recomputation of a finished run. It
// reads the saved model.json + weights (without TensorFlow.js), reloads the dataset from
// the recorded config (checking its hash), recomputes every pair's losses, norms and dot
// products in float64 from the recorded indices, and the measures from those by their
// textbook formulas (not through the estimator classes), then reports the largest
// relative differences. Dense (MLP) models only.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { datasetHash } from "../data/bundle.js";
import { featureSize } from "../data/dataset.js";
import { loadDataset } from "../data/load.js";
import { lossAndGradient, type LayerGradient64 } from "../model/reference64.js";
import { loadMlp64FromLayersModel } from "../model/reference64-load.js";
import { compileConfig } from "./config/load.js";
import { readResultsJson } from "./report/outputs.js";
import type { MeasureName } from "./estimators/index.js";

export interface VerifyReport {
  pairsChecked: number;
  /** Largest relative difference per quantity, float32 workers vs float64 reference. */
  maxRelError: Record<string, number>;
  /** The measure where each max was found, for the measures. */
  measures: Record<string, { reported: number | null; recomputed: number | null; relError: number }>;
  tolerance: number;
  ok: boolean;
  problems: string[];
}

interface SavedPair {
  pair: number;
  batches: [number[], number[]];
  loss: [number, number];
  norm: [number, number];
  dot: number;
  layers: Record<string, { norm: [number, number]; dot: number }>;
}

interface Float64Pair {
  loss: [number, number];
  a: number;
  b: number;
  c: number;
  layers: { a: number; b: number; c: number }[];
}

function sums(g1: LayerGradient64, g2: LayerGradient64): { s1: number; s2: number; d: number } {
  let s1 = 0;
  let s2 = 0;
  let d = 0;
  for (const [p, q] of [
    [g1.kernel, g2.kernel],
    [g1.bias, g2.bias],
  ] as const) {
    for (let i = 0; i < p.length; i++) {
      s1 += p[i]! * p[i]!;
      s2 += q[i]! * q[i]!;
      d += p[i]! * q[i]!;
    }
  }
  return { s1, s2, d };
}

function rel(reported: number, exact: number, scale = Math.abs(exact)): number {
  return Math.abs(reported - exact) / Math.max(scale, 1e-30);
}

/** The measures from float64 per-pair statistics, by their definitions (docs/measures.md). */
export function measuresByFormula(pairs: readonly { a: number; b: number; c: number }[], n: number, batch: number, pairing: string): Record<MeasureName, number | null> {
  const mean = (f: (p: { a: number; b: number; c: number }) => number) => pairs.reduce((s, p) => s + f(p), 0) / pairs.length;
  const ca = (p: { a: number; c: number }) => (p.a === 0 ? 0 : p.c / p.a);
  const m1 = mean((p) => (p.a + p.b) / 2);
  const m2 = mean((p) => (p.a * p.a + p.b * p.b) / 2);
  const mc = mean((p) => p.c);
  const independent = pairing === "independent";
  const G = independent ? mc : mc + (batch / n) * (m2 - mc);
  const trSigma = independent ? (n === batch ? null : ((batch * (n - 1)) / (n - batch)) * (m2 - mc)) : ((batch * (n - 1)) / n) * (m2 - mc);
  return {
    regret: mean((p) => p.b - ca(p)),
    regret_sym: mean((p) => (p.b - ca(p) + p.a - (p.b === 0 ? 0 : p.c / p.b)) / 2),
    cos_disagreement: mean((p) => 1 - (p.a === 0 || p.b === 0 ? 0 : p.c / p.a / p.b)),
    grad_norm_mean: m1,
    grad_sq_norm_mean: m2,
    jensen_ratio: m2 > 0 ? m1 / Math.sqrt(m2) : null,
    mean_grad_sq_norm: G,
    fisher_trace_per_example: trSigma === null ? null : G + trSigma,
    noise_scale: trSigma === null || G <= 0 ? null : trSigma / G,
    contrastive_flatness: G <= 0 ? null : m1 / Math.sqrt(G),
    stiffness_cos: mean((p) => (p.a === 0 || p.b === 0 ? 0 : p.c / p.a / p.b)),
    stiffness_sign: mean((p) => Math.sign(p.c)),
    coherence: trSigma === null || G + trSigma <= 0 ? null : G / (G + trSigma),
  };
}

export async function verifyRun(dir: string, tolerance = 1e-4, log: (line: string) => void = () => undefined): Promise<VerifyReport> {
  const results = await readResultsJson(dir);
  const problems: string[] = [];
  const cfg = compileConfig(results.run.config, results.run.config_file);
  const dataset = await loadDataset(cfg.data, join(cfg.file, ".."));
  if (datasetHash(dataset) !== results.run.dataset.hash) {
    throw new Error(`the dataset named by the run's config has changed since the run (hash ${datasetHash(dataset)}, run used ${results.run.dataset.hash})`);
  }
  const model = await loadMlp64FromLayersModel(dir);
  const layerNames = model.layers.map((l) => l.name);
  const lines = (await readFile(join(dir, "pairs.jsonl"), "utf8")).split("\n").filter((l) => l.trim());
  const saved = lines.map((l) => JSON.parse(l) as SavedPair);
  const fsize = featureSize(dataset);
  const max: Record<string, number> = { loss: 0, norm: 0, dot: 0, layer_norm: 0, layer_dot: 0 };
  const exact: Float64Pair[] = [];
  for (const [k, p] of saved.entries()) {
    if (p.pair !== k) problems.push(`pairs.jsonl line ${k + 1} holds pair ${p.pair}`);
    const r1 = lossAndGradient(model, dataset.x, dataset.y, p.batches[0], fsize);
    const r2 = lossAndGradient(model, dataset.x, dataset.y, p.batches[1], fsize);
    const per = r1.grads.map((g, l) => sums(g, r2.grads[l]!));
    const s1 = per.reduce((s, x) => s + x.s1, 0);
    const s2 = per.reduce((s, x) => s + x.s2, 0);
    const d = per.reduce((s, x) => s + x.d, 0);
    const e: Float64Pair = { loss: [r1.loss, r2.loss], a: Math.sqrt(s1), b: Math.sqrt(s2), c: d, layers: per.map((x) => ({ a: Math.sqrt(x.s1), b: Math.sqrt(x.s2), c: x.d })) };
    exact.push(e);
    max.loss = Math.max(max.loss!, rel(p.loss[0], e.loss[0]), rel(p.loss[1], e.loss[1]));
    max.norm = Math.max(max.norm!, rel(p.norm[0], e.a), rel(p.norm[1], e.b));
    // A dot product near zero has no relative precision of its own: scale by ‖g1‖‖g2‖.
    max.dot = Math.max(max.dot!, rel(p.dot, e.c, e.a * e.b));
    layerNames.forEach((name, l) => {
      const got = p.layers?.[name];
      const x = e.layers[l]!;
      if (!got) return void problems.push(`pair ${p.pair}: no statistics for layer ${name}`);
      max.layer_norm = Math.max(max.layer_norm!, rel(got.norm[0], x.a), rel(got.norm[1], x.b));
      max.layer_dot = Math.max(max.layer_dot!, rel(got.dot, x.c, x.a * x.b));
    });
    if ((k + 1) % 64 === 0) log(`recomputed ${k + 1}/${saved.length} pairs`);
  }
  const recomputed = measuresByFormula(exact, dataset.n, results.run.pairs.batch_size, results.run.pairs.pairing);
  const measures: VerifyReport["measures"] = {};
  let measureMax = 0;
  for (const [name, value] of Object.entries(recomputed)) {
    const reported = results.measures[name]?.mean ?? null;
    let relError = 0;
    if (reported === null || value === null) {
      // Only a measure resolved on one side and not the other is a disagreement.
      if (reported !== null && value === null) problems.push(`${name}: reported ${reported} but undefined in float64`);
    } else {
      relError = rel(reported, value);
    }
    measures[name] = { reported, recomputed: value, relError };
    measureMax = Math.max(measureMax, relError);
  }
  max.measures = measureMax;
  for (const [k, v] of Object.entries(max)) if (!(v <= tolerance)) problems.push(`${k}: max relative difference ${v.toExponential(2)} exceeds ${tolerance}`);
  if (saved.length !== results.run.pairs.count) problems.push(`pairs.jsonl holds ${saved.length} pairs, the run planned ${results.run.pairs.count}`);
  return { pairsChecked: saved.length, maxRelError: max, measures, tolerance, ok: problems.length === 0, problems };
}
