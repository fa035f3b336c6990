// The PyTorch training fixture (scripts/make-train-fixtures.py → test/fixtures/train/
// train.json) as a snapshot, a dataset and the runs to reproduce.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Dataset } from "../../src/data/dataset.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import type { OptimizerConfig } from "../../src/train/optimizers.js";
import type { ScheduleConfig } from "../../src/train/schedules.js";

export interface TorchRun {
  name: string;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  lr: number[];
  loss: number[];
  weights: Record<string, number[]>[];
}

export interface TrainFixture {
  torch: string;
  model: { layers: number[]; activation: "tanh" };
  weights: Record<string, number[]>;
  x: number[];
  y: number[];
  batch_size: number;
  steps: number;
  runs: TorchRun[];
  schedules: { schedule: ScheduleConfig; lr: number; values: number[] }[];
}

export function loadTrainFixture(): TrainFixture {
  return JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", "train", "train.json"), "utf8")) as TrainFixture;
}

/** The fixture's MLP with its initial weights, in the layout of src/model/mlp.ts. */
export function fixtureSnapshot(f: TrainFixture): Snapshot {
  const s = mlpSnapshot({ layers: f.model.layers, activation: f.model.activation, seed: 0, init: "glorot_uniform" });
  let at = 0;
  for (const w of s.weights) {
    const values = f.weights[w.name];
    if (!values) throw new Error(`the fixture has no weight ${w.name}`);
    s.data.set(values, at);
    at += values.length;
  }
  return s;
}

export function fixtureDataset(f: TrainFixture): Dataset {
  const features = f.model.layers[0]!;
  return { name: "train-fixture", n: f.y.length, featureShape: [features], numClasses: f.model.layers.at(-1)!, x: Float32Array.from(f.x), y: Int32Array.from(f.y) };
}
