// The grouped-gradient pass (src/worker/grouped.ts) checked against GradientEngine's
// minibatch gradients taken one at a time: the same θ, the same examples, the same
// labels, so the only differences are float32 rounding in batched vs plain matmuls.
// Also: which topologies are grouped, the memory-bounded group size, tensor leaks. Timings
// of grouped vs looped are bench/worker.ts's (bench/README.md), never a test's.

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { loadMnist } from "../../src/data/mnist.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { mlpSnapshot, mlpTopology, type MlpActivation } from "../../src/model/mlp.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine, type MinibatchGradient } from "../../src/worker/gradients.js";
import {
  denseLayers,
  denseStack,
  gatherGroup,
  groupBytes,
  groupedGradients,
  GroupingError,
  groupSize,
  supportsGrouping,
  whyNotGrouped,
  type DenseSpec,
} from "../../src/worker/grouped.js";
import { maxRelErr } from "../helpers/rel-err.js";
import { snapshotWithBiases } from "../helpers/mlp-with-biases.js";

const ACTIVATIONS: MlpActivation[] = ["relu", "tanh", "sigmoid", "elu", "linear"];
const BACKENDS = ["cpu", "wasm"] as const;

let synth: Dataset;
let mnist: Dataset;

const observed = new Map<string, number>();
function record(key: string, value: number): void {
  observed.set(key, Math.max(observed.get(key) ?? 0, value));
}

beforeAll(async () => {
  synth = makeSyntheticDataset({ n: 64, features: 12, classes: 4, seed: 7 });
  mnist = await loadMnist({ limit: 2048 });
});

afterAll(() => {
  const lines = [...observed.entries()].map(([k, v]) => `  ${k}: ${v.toExponential(2)}`);
  console.log(`grouped.test.ts, largest observed relative differences grouped vs loop:\n${lines.join("\n")}`);
});

/** θ's trainable weights as tf variables (what GradientEngine holds) paired with the topology. */
function specsOf(s: Snapshot): { layers: DenseSpec[]; weights: tf.Variable[] } {
  const views = weightViews(s);
  const weights = s.weights.map((w, i) => tf.variable(tf.tensor(views[i]!, w.shape, "float32")));
  return { layers: denseLayers(s.modelTopology, weights), weights };
}

function batch(n: number, size: number, seed: number): number[] {
  return new Rng(seed, 5).sampleWithoutReplacement(n, size);
}

function expectSame(key: string, got: MinibatchGradient, want: MinibatchGradient): void {
  expect(got.grads.map((g) => g.length)).toEqual(want.grads.map((g) => g.length));
  expect(want.grads.every((g) => g.some((v) => v !== 0))).toBe(true); // nothing compared as 0 = 0
  const e = Math.max(...got.grads.map((g, w) => maxRelErr(g, want.grads[w]!)));
  const el = Math.abs(got.loss - want.loss) / Math.abs(want.loss);
  record(`${key} gradient`, e);
  record(`${key} loss`, el);
  expect(e).toBeLessThan(1e-5);
  expect(el).toBeLessThan(1e-6);
}

// ---------------------------------------------------------------------------------------
// grouped = looped

for (const backend of BACKENDS) {
  describe(`grouped gradients on the ${backend} backend equal the engine's one by one`, () => {
    beforeAll(async () => {
      await selectBackend(tf, backend);
      expect(tf.getBackend()).toBe(backend);
    });

    const cases = [
      { shape: [12, 8, 6, 4], data: () => synth, batchSize: 16 },
      { shape: [784, 256, 256, 10], data: () => mnist, batchSize: 16 },
    ];
    for (const { shape, data, batchSize } of cases) {
      for (const activation of ACTIVATIONS) {
        it(`${shape.join("-")} ${activation}, K = 1, 3, 8`, async () => {
          const ds = data();
          const snap = snapshotWithBiases(shape, activation, 21);
          const engine = await GradientEngine.create(tf, snap, ds);
          const { layers, weights } = specsOf(snap);
          try {
            for (const k of [1, 3, 8]) {
              const batches = Array.from({ length: k }, (_, m) => batch(ds.n, batchSize, 100 * k + m));
              const grouped = await groupedGradients(tf, layers, ds, batches);
              expect(grouped).toHaveLength(k);
              for (let m = 0; m < k; m++) expectSame(`${backend} ${shape.join("-")}`, grouped[m]!, await engine.minibatchGradient(batches[m]!));
            }
          } finally {
            engine.dispose();
            tf.dispose(weights);
          }
        });
      }
    }

    it("minibatches of different sizes, and given labels, as the engine takes them", async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], "tanh", 31);
      const engine = await GradientEngine.create(tf, snap, synth);
      const { layers, weights } = specsOf(snap);
      try {
        const batches = [batch(synth.n, 5, 1), batch(synth.n, 16, 2), [7], batch(synth.n, 64, 3)];
        const rng = new Rng(5, 6);
        const labels = [undefined, Int32Array.from({ length: 16 }, () => Math.floor(rng.nextFloat() * 4)), undefined, undefined];
        const grouped = await groupedGradients(tf, layers, synth, batches, labels);
        for (let m = 0; m < batches.length; m++) {
          expectSame(`${backend} uneven sizes`, grouped[m]!, await engine.minibatchGradient(batches[m]!, labels[m]));
        }
      } finally {
        engine.dispose();
        tf.dispose(weights);
      }
    });

    it("reads the variables at each call, so new weights are seen", async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], "sigmoid", 41);
      const engine = await GradientEngine.create(tf, snap, synth);
      const { layers, weights } = specsOf(snap);
      try {
        const moved = Float32Array.from(snap.data, (v, i) => v + 0.05 * Math.sin(i));
        engine.setTrainable(moved);
        let offset = 0;
        for (const w of weights) {
          w.assign(tf.tensor(moved.subarray(offset, offset + w.size), w.shape, "float32"));
          offset += w.size;
        }
        const batches = [batch(synth.n, 8, 1), batch(synth.n, 8, 2)];
        const grouped = await groupedGradients(tf, layers, synth, batches);
        for (let m = 0; m < 2; m++) expectSame(`${backend} moved θ`, grouped[m]!, await engine.minibatchGradient(batches[m]!));
      } finally {
        engine.dispose();
        tf.dispose(weights);
      }
    });

    it("leaks no tensors over 20 calls", async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], "elu", 51);
      const { layers, weights } = specsOf(snap);
      const batches = [batch(synth.n, 8, 1), batch(synth.n, 3, 2), batch(synth.n, 8, 3)];
      await groupedGradients(tf, layers, synth, batches); // warm-up
      const before = tf.memory().numTensors;
      for (let c = 0; c < 20; c++) await groupedGradients(tf, layers, synth, batches);
      expect(tf.memory().numTensors).toBe(before);
      // A refused call allocates nothing either.
      await expect(groupedGradients(tf, layers, mnist, batches)).rejects.toThrow(GroupingError);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(weights);
    });
  });
}

// ---------------------------------------------------------------------------------------
// refusals

describe("bad input is refused", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  it("names the minibatch, index and label at fault", async () => {
    const snap = snapshotWithBiases([12, 8, 4], "relu", 61);
    const { layers, weights } = specsOf(snap);
    try {
      await expect(groupedGradients(tf, layers, synth, [])).rejects.toThrow(/at least one minibatch/);
      await expect(groupedGradients(tf, layers, synth, [[1], []])).rejects.toThrow(/minibatch 1 is empty/);
      await expect(groupedGradients(tf, layers, synth, [[1], [64]])).rejects.toThrow(/minibatch 1: example index 64/);
      await expect(groupedGradients(tf, layers, synth, [[1.5]])).rejects.toThrow(/example index 1.5/);
      await expect(groupedGradients(tf, layers, synth, [[1, 2]], [Int32Array.of(0)])).rejects.toThrow(/1 labels for 2 examples/);
      await expect(groupedGradients(tf, layers, synth, [[1]], [Int32Array.of(4)])).rejects.toThrow(/label 4 is outside/);
      await expect(groupedGradients(tf, layers, synth, [[1]], [])).rejects.toThrow(/0 label arrays for 1 minibatches/);
      await expect(groupedGradients(tf, layers, mnist, [[1]])).rejects.toThrow(/kernel of shape \[12,8\] on inputs of width 784/);
      expect(() => denseLayers(snap.modelTopology, weights.slice(1))).toThrow(/3 trainable weights for 2 Dense layers that have 4/);
    } finally {
      tf.dispose(weights);
    }
  });

  it("gathers padded inputs and one-hot labels", () => {
    const g = gatherGroup(synth, [[3, 4], [5]]);
    expect(g.sizes).toEqual([2, 1]);
    expect(g.rows).toBe(2);
    expect(Array.from(g.x.subarray(0, 12))).toEqual(Array.from(synth.x.subarray(36, 48)));
    expect(Array.from(g.x.subarray(24, 36))).toEqual(Array.from(synth.x.subarray(60, 72)));
    expect(g.x.subarray(36).every((v) => v === 0)).toBe(true);
    expect(g.y[synth.y[3]!]).toBe(1);
    expect(g.y.subarray(12).every((v) => v === 0)).toBe(true);
    expect(g.y.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------
// topologies

describe("supportsGrouping", () => {
  const dense = (name: string, units: number, activation: string, extra: Record<string, unknown> = {}) => ({
    class_name: "Dense",
    config: { name, units, activation, use_bias: true, ...extra },
  });
  const sequential = (layers: unknown[]) => ({ class_name: "Sequential", config: { name: "m", layers } });

  it("accepts every mlpSnapshot topology", () => {
    for (const activation of ACTIVATIONS) {
      for (const layers of [[12, 4], [12, 8, 6, 4], [784, 256, 256, 10]]) {
        const t = mlpSnapshot({ layers, activation, seed: 1, init: "he_normal" }).modelTopology;
        expect(whyNotGrouped(t)).toBeNull();
        expect(supportsGrouping(t)).toBe(true);
        const plan = denseStack(t);
        expect(plan.map((l) => l.units)).toEqual(layers.slice(1));
        expect(plan.map((l) => l.activations)).toEqual(layers.slice(1).map((_, i) => [i === layers.length - 2 ? "linear" : activation]));
      }
    }
  });

  it("accepts Flatten, Reshape, Dropout, InputLayer, Activation, a softmax output and a layer without bias", () => {
    const t = sequential([
      { class_name: "InputLayer", config: { name: "in", batch_input_shape: [null, 28, 28] } },
      { class_name: "Flatten", config: { name: "f" } },
      dense("d1", 32, "relu", { use_bias: false }),
      { class_name: "Dropout", config: { name: "drop", rate: 0.5 } },
      { class_name: "Activation", config: { name: "a", activation: "tanh" } },
      { class_name: "Reshape", config: { name: "r", target_shape: [32] } },
      dense("d2", 10, "softmax"),
    ]);
    expect(whyNotGrouped(t)).toBeNull();
    expect(denseStack(t)).toEqual([
      { units: 32, useBias: false, activations: ["relu", "tanh"] },
      { units: 10, useBias: true, activations: ["linear"] },
    ]);
    // Keras's model.json wraps the topology in model_config.
    expect(supportsGrouping({ model_config: t, training_config: {} })).toBe(true);
  });

  it("refuses convolutions and what is not a flat Dense stack", () => {
    const conv = sequential([
      { class_name: "Conv2D", config: { name: "conv_1", filters: 2, kernel_size: [3, 3], batch_input_shape: [null, 28, 28, 1] } },
      { class_name: "Flatten", config: { name: "f" } },
      dense("d", 10, "linear"),
    ]);
    expect(supportsGrouping(conv)).toBe(false);
    expect(whyNotGrouped(conv)).toMatch(/layer 0 \(Conv2D "conv_1"\): not supported/);
    const image = sequential([dense("d", 10, "linear", { batch_input_shape: [null, 28, 28] })]);
    expect(whyNotGrouped(image)).toMatch(/rank > 2/);
    expect(whyNotGrouped(sequential([dense("d1", 8, "softmax", { batch_input_shape: [null, 4] }), dense("d2", 3, "linear")]))).toMatch(/softmax/);
    expect(whyNotGrouped(sequential([dense("d1", 8, "selu", { batch_input_shape: [null, 4] }), dense("d2", 3, "linear")]))).toMatch(/selu/);
    expect(whyNotGrouped(sequential([dense("d1", 8, "relu", { trainable: false }), dense("d2", 3, "linear")]))).toMatch(/frozen/);
    expect(whyNotGrouped(sequential([dense("d1", 8, "relu"), { class_name: "BatchNormalization", config: {} }, dense("d2", 3, "linear")]))).toMatch(/BatchNormalization/);
    expect(whyNotGrouped(sequential([{ class_name: "Flatten", config: {} }]))).toMatch(/no Dense layer/);
    expect(whyNotGrouped({ class_name: "Model", config: { layers: [] } })).toMatch(/Model model/);
    expect(supportsGrouping(mlpTopology({ layers: [4, 3], activation: "relu", seed: 1, init: "he_normal" }))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// group size

describe("groupSize", () => {
  const shape = { parameters: 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10, batch: 64, widths: [784, 256, 256, 10] };

  it("is the largest K ≤ maxK that fits, at least 1, and monotone in the budget", () => {
    let last = 0;
    for (let budget = 0; budget <= 400e6; budget += 1e6) {
      const k = groupSize({ ...shape, budgetBytes: budget, maxK: 64 });
      expect(k).toBeGreaterThanOrEqual(1);
      expect(k).toBeLessThanOrEqual(64);
      expect(k).toBeGreaterThanOrEqual(last);
      if (k > 1) expect(groupBytes(shape, k)).toBeLessThanOrEqual(budget);
      if (k < 64) expect(groupBytes(shape, k + 1)).toBeGreaterThan(budget);
      last = k;
    }
    expect(last).toBe(64);
    expect(groupSize({ ...shape, budgetBytes: 1, maxK: 64 })).toBe(1);
    expect(groupSize({ ...shape, budgetBytes: 1e12, maxK: 32 })).toBe(32);
    // Bigger minibatches or models fit fewer copies.
    expect(groupSize({ ...shape, batch: 512, budgetBytes: 100e6, maxK: 64 })).toBeLessThan(groupSize({ ...shape, budgetBytes: 100e6, maxK: 64 }));
  });

  it("rejects nonsense", () => {
    expect(() => groupSize({ ...shape, maxK: 0, budgetBytes: 1 })).toThrow(/maxK/);
    expect(() => groupSize({ ...shape, batch: 1.5, maxK: 4, budgetBytes: 1 })).toThrow(/batch/);
    expect(() => groupSize({ ...shape, widths: [784], maxK: 4, budgetBytes: 1 })).toThrow(/widths/);
    expect(() => groupSize({ ...shape, maxK: 4, budgetBytes: Number.NaN })).toThrow(/budgetBytes/);
  });
});
