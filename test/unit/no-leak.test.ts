// No tensor leaks over a long life: 10,000 tasks' worth of work on one engine (pairs
// with observed and sampled labels and a metric, losses at moved weights, grouped
// passes) leaves TensorFlow.js's tensor count where it was after the first.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";

const TASKS = 10_000;

describe("a long-lived engine", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  it(`keeps its tensor count constant over ${TASKS} tasks`, { timeout: 300_000 }, async () => {
    const dataset = makeSyntheticDataset({ n: 64, features: 6, classes: 3, seed: 1 });
    const snapshot = mlpSnapshot({ layers: [6, 5, 3], activation: "relu", seed: 2, init: "glorot_uniform" });
    const engine = await GradientEngine.create(tf, snapshot, dataset);
    const metric = new Float32Array(engine.parameterCount).fill(0.5);
    const moved = await engine.weightVector();
    const task = async (i: number) => {
      const pair = { id: i, batches: [[i % 64, (i + 7) % 64], [(i + 3) % 64]] as [number[], number[]] };
      switch (i % 4) {
        case 0:
          return engine.pairStats(pair);
        case 1:
          return engine.pairStats(pair, { labels: "sampled", labelSeed: 9, metrics: [metric] });
        case 2:
          moved[0] = i * 1e-6;
          engine.setWeights(moved);
          await engine.lossAt([1, 2, 3]);
          return engine.setWeights(null);
        default:
          return engine.pairGradientsGrouped([pair, { ...pair, id: i + 1 }], { labels: "observed", labelSeed: 0, metrics: [] }, 4);
      }
    };
    for (let i = 0; i < 8; i++) await task(i); // warm-up: every kind once
    const after = tf.memory().numTensors;
    for (let i = 8; i < TASKS; i++) await task(i);
    expect(tf.memory().numTensors).toBe(after);
    engine.dispose();
  });
});
