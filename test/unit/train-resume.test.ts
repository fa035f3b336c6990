// Resume exactness of the training engine: K steps straight against k steps, the state
// encoded to bytes, decoded into a fresh trainer, then K − k more: the weights and the
// optimizer's slots must be bit-identical (same backend), for SGD (Nesterov, weight
// decay) and Adam/AdamW under warmup and cosine schedules, shuffled data with a short
// last batch, resuming mid-epoch and on an epoch boundary; on the cpu and wasm backends,
// an MLP and the small CNN. Also: run() with checkpoints and the train-loss target, a
// checkpoint loaded by tf.loadLayersModel, and states that must be refused.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import type { Dataset } from "../../src/data/dataset.js";
import { cnnSnapshot } from "../../src/model/cnn.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import type { OptimizerConfig } from "../../src/train/optimizers.js";
import type { ScheduleConfig } from "../../src/train/schedules.js";
import { decodeTrainState, encodeTrainState, TrainStateError, type TrainState } from "../../src/train/state.js";
import { stateSnapshot, Trainer, TrainError, type Checkpoint, type TrainConfig } from "../../src/train/trainer.js";
import { setupWasm } from "../../src/worker/wasm/index.js";
import { splitDataset } from "../../src/data/split.js";
import { GradientEngine } from "../../src/worker/gradients.js";

const SGD: OptimizerConfig = { kind: "sgd", lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 };
const ADAM: OptimizerConfig = { kind: "adam", lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-3, decoupled: false };
const ADAMW: OptimizerConfig = { ...ADAM, weightDecay: 0.05, decoupled: true };
const COSINE: ScheduleConfig = { kind: "cosine", warmupSteps: 4, startFactor: 0.1, totalSteps: 30, minLr: 1e-4 };
const WARMUP: ScheduleConfig = { kind: "warmup", warmupSteps: 5, startFactor: 0.2 };

let mlpData: Dataset;
let imageData: Dataset;
let root: string;

beforeAll(async () => {
  mlpData = makeSyntheticDataset({ n: 200, features: 20, classes: 4, seed: 3 });
  imageData = makeSyntheticDataset({ n: 60, features: 8 * 8, classes: 3, seed: 4 });
  root = await mkdtemp(join(tmpdir(), "gradswarm-train-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const mlp = () => mlpSnapshot({ layers: [20, 16, 4], activation: "relu", seed: 1, init: "he_normal" });
const cnn = () => cnnSnapshot({ inputShape: [8, 8, 1], filters: [4], kernel: 3, classes: 3, activation: "relu", seed: 2, init: "he_normal" });

function config(optimizer: OptimizerConfig, schedule: ScheduleConfig, batchSize: number, steps: number): TrainConfig {
  return { batchSize, optimizer, schedule, data: { seed: 9, shuffle: true, dropLast: false }, stop: { steps }, checkpointEvery: 1000, evalSet: { kind: "subset", examples: 50, seed: 1 } };
}

async function train(snapshot: Snapshot, data: Dataset, c: TrainConfig, steps: number, from?: Uint8Array): Promise<{ trainer: Trainer; state: TrainState }> {
  const trainer = await Trainer.create(tf, snapshot, data, c);
  if (from) trainer.load(decodeTrainState(from, "the test's state"));
  for (let i = 0; i < steps; i++) trainer.trainStep();
  return { trainer, state: await trainer.state() };
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function expectSameBits(a: TrainState, b: TrainState): void {
  expect(b.step).toBe(a.step);
  expect(b.position).toEqual(a.position);
  for (const [i, w] of a.weights.entries()) expect(bits(b.weights[i]!.data), w.name).toEqual(bits(w.data));
  expect(Object.keys(b.slots)).toEqual(Object.keys(a.slots));
  for (const [slot, arrays] of Object.entries(a.slots)) for (const [i, w] of arrays.entries()) expect(bits(b.slots[slot]![i]!.data), `${slot}/${w.name}`).toEqual(bits(w.data));
}

/** Dense → BatchNormalization → ReLU → Dense: moving statistics that training updates (non-trainable weights). */
function withBatchNorm(): Snapshot {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [20], units: 12, name: "dense_1", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.batchNormalization({ name: "bn_1", momentum: 0.9 }));
  m.add(tf.layers.activation({ activation: "relu", name: "relu_1" }));
  m.add(tf.layers.dense({ units: 4, name: "dense_2", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  const weights = m.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
  const values = m.weights.map((w) => w.read().dataSync() as Float32Array);
  const data = new Float32Array(values.reduce((n, v) => n + v.length, 0));
  values.reduce((at, v) => (data.set(v, at), at + v.length), 0);
  const topology = m.toJSON(null, false) as Record<string, unknown>;
  m.dispose();
  return { modelTopology: topology, weights, data };
}

const CASES: [string, () => Snapshot, () => Dataset, OptimizerConfig, ScheduleConfig, number, number, number][] = [
  // name, model, data, optimizer, schedule, batch, K, k
  ["MLP, SGD Nesterov + wd, cosine, resumed mid-epoch", mlp, () => mlpData, SGD, COSINE, 16, 30, 9],
  ["MLP, Adam + L2, warmup, resumed at an epoch boundary", mlp, () => mlpData, ADAM, WARMUP, 16, 30, 13],
  ["MLP, AdamW, cosine, resumed inside the warmup", mlp, () => mlpData, ADAMW, COSINE, 16, 30, 2],
  ["CNN, SGD Nesterov + wd, warmup, resumed mid-epoch", cnn, () => imageData, SGD, WARMUP, 8, 12, 5],
  ["MLP with BatchNormalization, Adam, cosine, resumed mid-epoch", withBatchNorm, () => mlpData, ADAM, COSINE, 16, 20, 7],
];

for (const backend of ["cpu", "wasm"] as const) {
  describe(`resume exactness, ${backend} backend`, () => {
    beforeAll(async () => {
      if (backend === "wasm") await setupWasm(tf, { threads: 1 });
      else await tf.setBackend("cpu");
    });

    it.each(CASES)("%s", async (_name, model, data, optimizer, schedule, batch, K, k) => {
      const c = config(optimizer, schedule, batch, K);
      const straight = await train(model(), data(), c, K);
      const first = await train(model(), data(), c, k);
      const bytes = encodeTrainState(first.state);
      first.trainer.dispose();
      const before = tf.memory().numTensors;
      const resumed = await train(model(), data(), c, K - k, bytes);
      expectSameBits(straight.state, resumed.state);
      // Non-trainable weights (BatchNormalization's moving statistics) moved with training and resumed too.
      const moving = straight.state.weights.find((w) => w.name.endsWith("moving_mean"));
      if (moving) expect([...moving.data].some((v) => v !== 0)).toBe(true);
      expect(resumed.trainer.finished).toBe(true);
      // Training moved the weights, so equality is not that of two untouched models.
      expect(bits(straight.state.weights[0]!.data)).not.toEqual(bits(new Float32Array(model().data.subarray(0, straight.state.weights[0]!.data.length))));
      straight.trainer.dispose();
      resumed.trainer.dispose();
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
    });

    it("leaves a frozen layer (trainable: false) as it was and trains the rest", async () => {
      const s = mlp();
      const topology = structuredClone(s.modelTopology) as { config: { layers: { config: { trainable: boolean } }[] } };
      topology.config.layers[0]!.config.trainable = false;
      const { trainer, state } = await train({ ...s, modelTopology: topology }, mlpData, config(SGD, COSINE, 8, 5), 5);
      expect(bits(state.weights[0]!.data)).toEqual(bits(s.data.subarray(0, 20 * 16)));
      expect(bits(state.weights[2]!.data)).not.toEqual(bits(s.data.subarray(20 * 16 + 16, 20 * 16 + 16 + 16 * 4)));
      expect(Object.values(state.slots)[0]!.map((w) => w.name)).toEqual(["dense_2/kernel", "dense_2/bias"]);
      trainer.dispose();
    });
  });
}

describe("run(), checkpoints and states (cpu)", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("checkpoints every N steps and at the end, and stops at the train-loss target", async () => {
    const c: TrainConfig = { ...config(SGD, { kind: "constant" }, 20, 200), checkpointEvery: 10, evalSet: { kind: "all" } };
    const full = await Trainer.create(tf, mlp(), mlpData, { ...c, stop: { epochs: 3 } });
    const seen: Checkpoint[] = [];
    const done = await full.run((cp) => void seen.push(cp));
    expect(done.reason).toBe("epochs");
    expect(seen.map((s) => s.state.step)).toEqual([10, 20, 30]);
    expect(seen.at(-1)!.state.position).toEqual({ epoch: 3, batch: 0 });
    expect(seen.at(-1)!.train.on).toBe("the full training set (200 examples)");
    const losses = seen.map((s) => s.train.loss);
    expect(losses[2]!).toBeLessThan(losses[0]!);
    full.dispose();

    // A target between the first and the last checkpoint's loss ends the run at the first checkpoint under it.
    const target = (losses[0]! + losses[2]!) / 2;
    const stopping = await Trainer.create(tf, mlp(), mlpData, { ...c, stopAtTrainLoss: { loss: target } });
    const stopped = await stopping.run();
    expect(stopped.reason).toBe("train_loss");
    expect(stopped.last.train.loss).toBeLessThanOrEqual(target);
    expect(stopped.last.state.step).toBe(losses[1]! <= target ? 20 : 30);
    stopping.dispose();
  });

  it("reports loss and accuracy on a held-out test set at each checkpoint", async () => {
    const { train, test } = splitDataset(mlpData, 0.25, 11);
    const snapshot = mlp();
    const trainer = await Trainer.create(tf, snapshot, train, { ...config(ADAM, { kind: "constant" }, 16, 12), checkpointEvery: 6, testSet: test });
    const seen: Checkpoint[] = [];
    await trainer.run((c) => void seen.push(c));
    expect(seen.map((c) => c.state.step)).toEqual([6, 12]);
    for (const c of seen) {
      expect(c.test!.on).toBe(`the test set ${test.name} (50 examples)`);
      // The same number from the measuring code, at the checkpoint's weights.
      const engine = await GradientEngine.create(tf, stateSnapshot(snapshot.modelTopology, c.state), test);
      const want = await engine.lossAt(Array.from({ length: test.n }, (_, i) => i));
      engine.dispose();
      expect(Math.abs(c.test!.loss - want.loss)).toBeLessThanOrEqual(1e-6 * want.loss);
      expect(c.test!.accuracy).toBe(want.accuracy);
    }
    trainer.dispose();
    const wrong = makeSyntheticDataset({ n: 10, features: 20, classes: 5, seed: 1 });
    await expect(Trainer.create(tf, snapshot, train, { ...config(ADAM, { kind: "constant" }, 16, 12), testSet: wrong })).rejects.toThrow(/in 5 classes, the training set/);
  });

  it("writes a checkpoint that tf.loadLayersModel loads, predicting as the trainer's weights do", async () => {
    const snapshot = mlp();
    const trainer = await Trainer.create(tf, snapshot, mlpData, config(ADAM, COSINE, 16, 5));
    await trainer.run();
    const dir = join(root, "checkpoint");
    const { modelJson } = await writeLayersModel(dir, stateSnapshot(snapshot.modelTopology, await trainer.state()));
    const model = await tf.loadLayersModel({
      load: async () => {
        const json = JSON.parse(await readFile(modelJson, "utf8")) as tf.io.ModelJSON;
        return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
          const b = await readFile(join(dir, manifest[0]!.paths[0]!));
          return [tf.io.getWeightSpecs(manifest), b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer];
        });
      },
    });
    const x = tf.tensor2d(mlpData.x.subarray(0, 20 * 5), [5, 20]);
    const got = await (model.predict(x) as tf.Tensor).data();
    const weights = await trainer.weightsSnapshot();
    const fresh = await Trainer.create(tf, weights, mlpData, config(ADAM, COSINE, 16, 5));
    const state = await fresh.state();
    for (const [i, w] of (await trainer.state()).weights.entries()) expect(bits(state.weights[i]!.data)).toEqual(bits(w.data));
    const direct = tf.tidy(() => {
      let h = tf.relu(tf.add(tf.matMul(x, tf.tensor2d(state.weights[0]!.data, [20, 16])), tf.tensor1d(state.weights[1]!.data)));
      return tf.add(tf.matMul(h, tf.tensor2d(state.weights[2]!.data, [16, 4])), tf.tensor1d(state.weights[3]!.data));
    });
    expect([...got]).toEqual([...(await direct.data())]);
    tf.dispose([x, direct]);
    model.dispose();
    trainer.dispose();
    fresh.dispose();
  });

  it("refuses a state written under other settings, for another model, or damaged", async () => {
    const a = await train(mlp(), mlpData, config(SGD, COSINE, 16, 30), 3);
    const bytes = encodeTrainState(a.state);
    const other = await Trainer.create(tf, mlp(), mlpData, config({ ...SGD, lr: 0.1 }, COSINE, 16, 30));
    expect(() => other.load(decodeTrainState(bytes, "ckpt-3"), "ckpt-3")).toThrow("ckpt-3 was written with settings.optimizer.lr = 0.05, this run has 0.1");
    const adam = await Trainer.create(tf, mlp(), mlpData, config(ADAM, COSINE, 16, 30));
    expect(() => adam.load(decodeTrainState(bytes, "ckpt-3"))).toThrow(TrainError);
    const reshuffled = await Trainer.create(tf, mlp(), mlpData, { ...config(SGD, COSINE, 16, 30), data: { seed: 10, shuffle: true, dropLast: false } });
    expect(() => reshuffled.load(decodeTrainState(bytes, "ckpt-3"))).toThrow("settings.data.seed = 9, this run has 10");
    const bigger = await Trainer.create(tf, mlpSnapshot({ layers: [20, 17, 4], activation: "relu", seed: 1, init: "he_normal" }), mlpData, config(SGD, COSINE, 16, 30));
    expect(() => bigger.load(decodeTrainState(bytes, "ckpt-3"))).toThrow(/weights .* do not match the model's/);
    expect(() => decodeTrainState(bytes.subarray(0, bytes.length - 4), "ckpt-3")).toThrow(TrainStateError);
    expect(() => decodeTrainState(bytes.subarray(0, 4), "ckpt-3")).toThrow(/ckpt-3: truncated/);
    for (const t of [a.trainer, other, adam, reshuffled, bigger]) t.dispose();
  });

  it("refuses layers that draw random numbers in training", async () => {
    const s = mlp();
    const topology = structuredClone(s.modelTopology) as { config: { layers: unknown[] } };
    topology.config.layers.splice(1, 0, { class_name: "Dropout", config: { rate: 0.5, name: "dropout_1", trainable: true } });
    await expect(Trainer.create(tf, { ...s, modelTopology: topology }, mlpData, config(SGD, COSINE, 16, 30))).rejects.toThrow(/Dropout/);
  });
});
