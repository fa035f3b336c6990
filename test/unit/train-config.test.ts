// What the training engine refuses before it trains: optimizer and schedule settings torch
// would refuse or that cannot be evaluated, and state bytes that are not a training state.

import { describe, expect, it } from "vitest";
import { encodeSafetensors } from "../../src/model/safetensors.js";
import { checkOptimizer, OptimizerError, slotNames } from "../../src/train/optimizers.js";
import { checkSchedule, learningRate, ScheduleError } from "../../src/train/schedules.js";
import { decodeTrainState, encodeTrainState, TrainStateError, type TrainState } from "../../src/train/state.js";

const SGD = { kind: "sgd" as const, lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 };
const ADAM = { kind: "adam" as const, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };

describe("optimizer settings", () => {
  it("refuses what torch.optim refuses, naming the field", () => {
    expect(() => checkOptimizer({ ...SGD, lr: -1 })).toThrow("optimizer.lr must be a number ≥ 0, got -1");
    expect(() => checkOptimizer({ ...SGD, momentum: 0, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => checkOptimizer({ ...ADAM, beta2: 1 })).toThrow("optimizer.beta2 must be in [0, 1), got 1");
    expect(() => checkOptimizer({ ...ADAM, weightDecay: Number.NaN })).toThrow(OptimizerError);
    expect(() => checkOptimizer({ ...SGD, kind: "rmsprop" } as never)).toThrow(/kind must be sgd or adam/);
  });

  it("keeps torch's per-parameter state names", () => {
    expect(slotNames(SGD)).toEqual(["momentum_buffer"]);
    expect(slotNames({ ...SGD, momentum: 0 })).toEqual([]);
    expect(slotNames(ADAM)).toEqual(["exp_avg", "exp_avg_sq"]);
  });
});

describe("schedules", () => {
  it("refuses schedules that cannot be evaluated", () => {
    expect(() => checkSchedule({ kind: "warmup", warmupSteps: 0, startFactor: 0.1 })).toThrow(ScheduleError);
    expect(() => checkSchedule({ kind: "cosine", warmupSteps: 5, startFactor: 0.1, totalSteps: 5, minLr: 0 })).toThrow(/totalSteps must be an integer above warmupSteps \(5\)/);
    expect(() => checkSchedule({ kind: "warmup", warmupSteps: 3, startFactor: 0 })).toThrow(/startFactor must be in \(0, 1\]/);
    expect(() => learningRate({ kind: "constant" }, 0.1, -1)).toThrow(ScheduleError);
  });

  it("holds the cosine at minLr past totalSteps", () => {
    const s = { kind: "cosine" as const, warmupSteps: 2, startFactor: 0.5, totalSteps: 10, minLr: 0.01 };
    expect(learningRate(s, 0.1, 10)).toBeCloseTo(0.01, 15);
    expect(learningRate(s, 0.1, 500)).toBeCloseTo(0.01, 15);
  });
});

describe("training state bytes", () => {
  const state: TrainState = {
    step: 7,
    position: { epoch: 1, batch: 2 },
    settings: { optimizer: SGD, schedule: { kind: "constant" }, data: { n: 10, batchSize: 4, seed: 1, shuffle: true, dropLast: false } },
    weights: [
      { name: "dense_1/kernel", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: "dense_1/bias", shape: [3], data: Float32Array.from([0.5, -0.5, 0]) },
    ],
    slots: { momentum_buffer: [{ name: "dense_1/kernel", shape: [2, 3], data: Float32Array.from([6, 5, 4, 3, 2, 1]) }, { name: "dense_1/bias", shape: [3], data: new Float32Array(3) }] },
  };

  it("round-trips exactly, weights in the model's order (safetensors orders by name)", () => {
    const back = decodeTrainState(encodeTrainState(state), "s");
    expect(back).toEqual(state);
    expect(back.weights.map((w) => w.name)).toEqual(["dense_1/kernel", "dense_1/bias"]);
  });

  it("refuses safetensors that are not a training state, or hold tensors the header does not name", () => {
    expect(() => decodeTrainState(encodeSafetensors([{ name: "w", shape: [1], data: new Float32Array(1) }]), "model.safetensors")).toThrow('model.safetensors: no "gradswarm.train" header in the safetensors metadata: not a training state');
    const bytes = encodeTrainState(state);
    const file = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
    const header = JSON.parse(JSON.parse(file).__metadata__["gradswarm.train"]);
    const extra = encodeSafetensors(
      [...state.weights.map((w) => ({ ...w, name: `weight/${w.name}` })), { name: "weight/stray", shape: [1], data: new Float32Array(1) }, ...state.slots.momentum_buffer!.map((w) => ({ ...w, name: `optimizer/momentum_buffer/${w.name}` }))],
      { "gradswarm.train": JSON.stringify(header) },
    );
    expect(() => decodeTrainState(extra, "ckpt")).toThrow('ckpt: tensor "weight/stray" is not named by the header');
    expect(() => decodeTrainState(encodeSafetensors([], { "gradswarm.train": JSON.stringify({ ...header, version: 2 }) }), "ckpt")).toThrow(/version 2, this build reads version 1/);
    expect(() => decodeTrainState(encodeSafetensors([], { "gradswarm.train": JSON.stringify(header) }), "ckpt")).toThrow(TrainStateError);
  });
});
