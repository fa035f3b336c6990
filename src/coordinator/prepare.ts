// Everything a run needs before it talks to anyone: the config checked against the data,
// θ and the dataset as content-addressed bundles, and the pair plan. Errors here stop a
// run before anything is started.

import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { datasetToBundleBytes } from "../data/bundle.js";
import { splitDataset } from "../data/split.js";
import { featureSize, type Dataset } from "../data/dataset.js";
import { loadDataset } from "../data/load.js";
import { readLayersModel } from "../model/layers-model-files.js";
import { cnnSnapshot } from "../model/cnn.js";
import { mlpSnapshot } from "../model/mlp.js";
import type { OnnxParameter } from "../model/onnx/layout.js";
import { encodeSnapshot, sha256Hex, type Snapshot } from "../model/snapshot.js";
import type { RunConfig } from "./config/load.js";
import { fitDatasetToModel } from "./fit-data.js";
import { loadOnnxModel } from "./onnx-model.js";
import { RunFailure } from "./run-failure.js";
import type { RunIdentity } from "./journal.js";
import { checkPlan, type PairPlan } from "./sampler.js";

export interface PreparedRun {
  dataset: Dataset;
  /** Released (set to null) once uploaded: for a large model they are most of our memory. */
  datasetBytes: Uint8Array | null;
  datasetSize: number;
  datasetHash: string;
  snapshot: Snapshot;
  snapshotBytes: Uint8Array | null;
  snapshotSize: number;
  snapshotHash: string;
  plan: PairPlan;
  identity: RunIdentity;
  /** For an ONNX model: θ's weights by PyTorch name and layout (reports and model.safetensors use them). */
  onnxParameters: OnnxParameter[] | null;
  /** The held-out set (cfg.test) as a bundle like the dataset's; null without one. */
  test: { dataset: Dataset; bytes: Uint8Array | null; size: number; hash: string } | null;
}

/** Checks what can be checked before anything starts: sizes of model vs data. */
function checkModelFitsData(cfg: RunConfig, dataset: Dataset): void {
  const m = cfg.model;
  if (m.kind === "layers" || m.kind === "onnx") return; // checked where they are read
  const problems: string[] = [];
  const inputs = m.kind === "mlp" ? m.layers[0]! : m.inputShape.reduce((a, b) => a * b, 1);
  const outputs = m.kind === "mlp" ? m.layers.at(-1)! : m.classes;
  const inputField = m.kind === "mlp" ? "model.layers[0]" : `model.input_shape (${m.inputShape.join("×")})`;
  const outputField = m.kind === "mlp" ? "the last of model.layers" : "model.classes";
  if (inputs !== featureSize(dataset)) problems.push(`${inputField} is ${inputs} but the examples of ${dataset.name} have ${featureSize(dataset)} features`);
  if (outputs !== dataset.numClasses) problems.push(`${outputField} is ${outputs} but ${dataset.name} has ${dataset.numClasses} classes`);
  if (problems.length > 0) throw new RunFailure(`${cfg.file}: ${problems.join("; ")}`);
}

/** The training data and the held-out set (cfg.test): a dataset of its own, or a seeded share of `data`. */
async function loadData(cfg: RunConfig): Promise<{ train: Dataset; test: Dataset | null }> {
  let train = await loadDataset(cfg.data, dirname(cfg.file));
  let test: Dataset | null = null;
  const t = cfg.test;
  try {
    if (t?.data) test = await loadDataset(t.data, dirname(cfg.file));
    else if (t?.fraction) ({ train, test } = splitDataset(train, t.fraction, t.seed));
  } catch (err) {
    throw new RunFailure(`${cfg.file}: test: ${(err as Error).message}`);
  }
  const fit = (ds: Dataset, what: string): Dataset => {
    try {
      const fitted = fitDatasetToModel(cfg.model, ds);
      checkModelFitsData(cfg, fitted);
      return fitted;
    } catch (err) {
      if (err instanceof RunFailure) throw new RunFailure(`${err.message}${what}`);
      throw new RunFailure(`${cfg.file}: ${(err as Error).message}${what}`);
    }
  };
  const fittedTest = test ? fit(test, " (the test set)") : null;
  if (fittedTest && train.numClasses !== test!.numClasses) throw new RunFailure(`${cfg.file}: test: the test set has ${test!.numClasses} classes, the training data ${train.numClasses}`);
  return { train: fit(train, ""), test: fittedTest };
}

export async function prepareRun(cfg: RunConfig): Promise<PreparedRun> {
  const { train: dataset, test } = await loadData(cfg);
  const plan: PairPlan = { seed: cfg.pairs.seed, count: cfg.pairs.count, datasetSize: dataset.n, batchSize: cfg.pairs.batchSize, pairing: cfg.pairs.pairing };
  try {
    checkPlan(plan);
  } catch (err) {
    throw new RunFailure(`${cfg.file}: ${(err as Error).message}`);
  }
  const m = cfg.model;
  const onnx = m.kind === "onnx" ? await loadOnnxModel(m, cfg.file, dataset) : null;
  const snapshot = onnx ? onnx.snapshot : m.kind === "mlp" ? mlpSnapshot(m) : m.kind === "cnn" ? cnnSnapshot(m) : await readLayersModel(m.path);
  const snapshotBytes = encodeSnapshot(snapshot);
  const datasetBytes = datasetToBundleBytes(dataset);
  const snapshotHash = sha256Hex(snapshotBytes);
  const datasetHash = sha256Hex(datasetBytes);
  const testBytes = test ? datasetToBundleBytes(test) : null;
  const testSet = test && testBytes ? { dataset: test, bytes: testBytes as Uint8Array | null, size: testBytes.length, hash: sha256Hex(testBytes) } : null;
  return {
    test: testSet,
    dataset,
    datasetBytes,
    datasetSize: datasetBytes.length,
    datasetHash,
    snapshot,
    snapshotBytes,
    snapshotSize: snapshotBytes.length,
    snapshotHash,
    plan,
    onnxParameters: onnx?.parameters ?? null,
    identity: { datasetHash, snapshotHash, seed: plan.seed, count: plan.count, batchSize: plan.batchSize, pairing: plan.pairing, returns: cfg.returns, plan: planHash(cfg, testSet?.hash ?? null) },
  };
}

/** What the run measures besides θ, the data and the pairs (resuming must not change it). */
function planHash(cfg: RunConfig, testHash: string | null): string {
  const { vectorStats, fisher, curvature, landscape, invariance } = cfg;
  // Without a test set the hash is what it was before there was one: older journals resume.
  const test = cfg.test ? { fraction: cfg.test.fraction, seed: cfg.test.seed, perTask: cfg.test.perTask, hash: testHash } : undefined;
  return createHash("sha256").update(JSON.stringify({ vectorStats, fisher, curvature, landscape, invariance, test })).digest("hex");
}
