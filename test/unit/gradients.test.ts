// The worker's gradients (GradientEngine) checked against the independent float64 MLP of
// src/model/reference64.ts, against finite differences, and for the bookkeeping around
// them: per-pair statistics, softmax output layers, shape/index errors and tensor leaks.
//
// Every model is built by mlpSnapshot, written to disk with writeLayersModel and read
// back by loadMlp64FromLayersModel, so the float64 reference sees exactly the float32 θ
// that TensorFlow.js computes with, through code that shares nothing with it.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { loadMnist } from "../../src/data/mnist.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot, type MlpActivation } from "../../src/model/mlp.js";
import { flattenGradient, logits64, lossAndGradient, perExampleGradients, type LayerGradient64, type Mlp64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine, GradientError } from "../../src/worker/gradients.js";
import { snapshotWithBiases } from "../helpers/mlp-with-biases.js";

const ACTIVATIONS: MlpActivation[] = ["relu", "tanh", "sigmoid", "elu", "linear"];

// ---------------------------------------------------------------------------------------
// helpers

let root: string;
let dirCounter = 0;
let synth: Dataset;
let mnist: Dataset;

/** The largest relative error seen per check, printed at the end (for the report). */
const observed = new Map<string, number>();
function record(key: string, value: number): void {
  observed.set(key, Math.max(observed.get(key) ?? 0, value));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gradswarm-gradients-"));
  synth = makeSyntheticDataset({ n: 64, features: 12, classes: 4, seed: 7 });
  mnist = await loadMnist({ limit: 200 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  const lines = [...observed.entries()].map(([k, v]) => `  ${k}: ${v.toExponential(2)}`);
  console.log(`gradients.test.ts, largest observed errors:\n${lines.join("\n")}`);
});

/** Writes the snapshot as a layers model and reads it back as the float64 reference. */
async function reference(s: Snapshot): Promise<Mlp64> {
  const dir = join(root, `model-${dirCounter++}`);
  await writeLayersModel(dir, s);
  return loadMlp64FromLayersModel(dir);
}

function featureSizeOf(ds: Dataset): number {
  return ds.featureShape.reduce((a, b) => a * b, 1);
}

function ref64(m: Mlp64, ds: Dataset, indices: readonly number[]): { loss: number; grads: LayerGradient64[]; flat: Float64Array } {
  const r = lossAndGradient(m, ds.x, ds.y, indices, featureSizeOf(ds));
  return { ...r, flat: flattenGradient(r.grads) };
}

/** tfjs gradients in model order (kernel, bias per layer), which is flattenGradient's order. */
function flatten(grads: readonly Float32Array[]): Float64Array {
  const out = new Float64Array(grads.reduce((s, g) => s + g.length, 0));
  let at = 0;
  for (const g of grads) {
    out.set(g, at);
    at += g.length;
  }
  return out;
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** ‖a − b‖ / ‖b‖. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(d) / norm(b);
}

function relScalar(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/** A minibatch of `size` distinct indices out of n, from a seeded Rng. */
function batch(n: number, size: number, seed: number): number[] {
  return new Rng(seed, 5).sampleWithoutReplacement(n, size);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * The sizes of the parameter groups a worker reports statistics for: one per trainable
 * weight tensor (each layer's kernel, then its bias), in flattenGradient's order.
 */
function tensorSplit(m: Mlp64): number[] {
  return m.layers.flatMap((l) => [l.kernel.length, l.bias.length]);
}

function sliceLayers(flat: Float64Array, sizes: number[]): Float64Array[] {
  const out: Float64Array[] = [];
  let at = 0;
  for (const s of sizes) {
    out.push(flat.subarray(at, at + s));
    at += s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// tfjs vs the float64 reference, on both pure-CPU backends

for (const backend of ["cpu", "wasm"] as const) {
  describe(`minibatch gradients on the ${backend} backend equal the float64 reference`, () => {
    beforeAll(async () => {
      await selectBackend(tf, backend);
      expect(tf.getBackend()).toBe(backend);
    });

    for (const activation of ACTIVATIONS) {
      it(`12-8-6-4 ${activation} on synthetic data`, async () => {
        const snap = snapshotWithBiases([12, 8, 6, 4], activation, 11);
        const m = await reference(snap);
        const engine = await GradientEngine.create(tf, snap, synth);
        try {
          expect(engine.weightNames).toEqual(snap.weights.map((w) => w.name));
          // Statistics are per trainable weight tensor: the groups are the weights themselves.
          expect(engine.tensors).toEqual(["dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias", "dense_3/kernel", "dense_3/bias"]);
          expect(engine.tensors).toEqual(engine.weightNames);
          expect(engine.tensorSizes).toEqual([12 * 8, 8, 8 * 6, 6, 6 * 4, 4]);
          expect(engine.parameterCount).toBe(snap.data.length);
          for (const indices of [range(synth.n), batch(synth.n, 16, 1), [5]]) {
            const got = await engine.minibatchGradient(indices);
            const want = ref64(m, synth, indices);
            const e = relErr(flatten(got.grads), want.flat);
            const el = relScalar(got.loss, want.loss);
            record(`${backend} 12-8-6-4 gradient`, e);
            record(`${backend} 12-8-6-4 loss`, el);
            expect(e).toBeLessThan(1e-5);
            expect(el).toBeLessThan(1e-6);
          }
        } finally {
          engine.dispose();
        }
      });

      it(`784-64-10 ${activation} on 200 MNIST digits`, async () => {
        const snap = snapshotWithBiases([784, 64, 10], activation, 12);
        const m = await reference(snap);
        const engine = await GradientEngine.create(tf, snap, mnist);
        try {
          for (const indices of [range(mnist.n), batch(mnist.n, 32, 2)]) {
            const got = await engine.minibatchGradient(indices);
            const want = ref64(m, mnist, indices);
            const e = relErr(flatten(got.grads), want.flat);
            const el = relScalar(got.loss, want.loss);
            record(`${backend} 784-64-10 gradient`, e);
            record(`${backend} 784-64-10 loss`, el);
            expect(e).toBeLessThan(1e-5);
            expect(el).toBeLessThan(1e-6);
          }
        } finally {
          engine.dispose();
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------
// finite differences

describe("finite differences", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  /** Flat coordinate k → (layer, kernel or bias, offset) in an Mlp64. */
  function paramRef(m: Mlp64, k: number): { arr: Float64Array; at: number } {
    for (const l of m.layers) {
      if (k < l.kernel.length) return { arr: l.kernel, at: k };
      k -= l.kernel.length;
      if (k < l.bias.length) return { arr: l.bias, at: k };
      k -= l.bias.length;
    }
    throw new Error("coordinate out of range");
  }

  // Central differences of the float64 loss, h = 1e-5: the truncation error is
  // h²/6·|∂³L| ≈ 1e-11 and the rounding error ≈ 1e-16/h ≈ 1e-11, so the difference
  // quotient agrees with the float64 gradient to ~1e-10 of ‖g‖ (observed 1.7e-10; held
  // to 1e-8); the float32 tfjs gradient is held to its own 1e-5-of-‖g‖ level (observed
  // 2.4e-8). A ReLU kink lying within h of a
  // pre-activation would break this; with these fixed seeds none does (the test is
  // deterministic).
  for (const activation of ACTIVATIONS) {
    it(`${activation}: tfjs and float64 gradients match central differences of the float64 loss on 20 coordinates`, async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], activation, 21);
      const m = await reference(snap);
      const indices = batch(synth.n, 24, 3);
      const fs = featureSizeOf(synth);
      const want = ref64(m, synth, indices);
      const engine = await GradientEngine.create(tf, snap, synth);
      const got = flatten((await engine.minibatchGradient(indices)).grads);
      engine.dispose();
      const gNorm = norm(want.flat);
      const h = 1e-5;
      const rng = new Rng(4, 1);
      const coords = rng.sampleWithoutReplacement(want.flat.length, 20);
      let worstRef = 0;
      let worstTf = 0;
      for (const k of coords) {
        const { arr, at } = paramRef(m, k);
        const saved = arr[at]!;
        arr[at] = saved + h;
        const lp = lossAndGradient(m, synth.x, synth.y, indices, fs).loss;
        arr[at] = saved - h;
        const lm = lossAndGradient(m, synth.x, synth.y, indices, fs).loss;
        arr[at] = saved;
        const fd = (lp - lm) / (2 * h);
        worstRef = Math.max(worstRef, Math.abs(fd - want.flat[k]!) / gNorm);
        worstTf = Math.max(worstTf, Math.abs(fd - got[k]!) / gNorm);
      }
      record("central differences (float64, h=1e-5) vs float64 gradient, |Δ|/‖g‖", worstRef);
      record("central differences (float64, h=1e-5) vs tfjs gradient, |Δ|/‖g‖", worstTf);
      expect(worstRef).toBeLessThan(1e-8);
      expect(worstTf).toBeLessThan(1e-5);
    });
  }

  // The tfjs gradient against central differences of tfjs's own float32 loss. The loss
  // (≈1.4) is only known to float32 rounding, a few 1e-7 absolute after the batch mean,
  // so a difference quotient with step h carries ≈ 3e-7/h of rounding noise and h²/6·∂³L
  // of truncation error. h = 1e-2 on a smooth (tanh) model balances them: ≈ 3e-5 + 2e-5,
  // against gradient entries up to ≈ 0.2. Each coordinate is perturbed in float32 and
  // the quotient divides by the step actually taken. Tolerance: 3e-3·‖g‖∞ per coordinate,
  // and a directional derivative along a random unit direction to 3e-3 of ‖g‖ — wide on
  // purpose, since the float32 noise budget above is an estimate (observed: 4e-5 per
  // coordinate, 2e-6 along the direction); a wrong gradient is off by O(1).
  it("tanh: the tfjs gradient matches central differences of tfjs's float32 loss (h = 1e-2)", async () => {
    const snap = snapshotWithBiases([12, 8, 6, 4], "tanh", 31);
    const indices = batch(synth.n, 32, 4);
    const base = await GradientEngine.create(tf, snap, synth);
    const g = flatten((await base.minibatchGradient(indices)).grads);
    base.dispose();
    const gInf = g.reduce((a, v) => Math.max(a, Math.abs(v)), 0);

    async function lossAt(data: Float32Array): Promise<number> {
      const e = await GradientEngine.create(tf, { ...snap, data }, synth);
      try {
        return (await e.minibatchGradient(indices)).loss;
      } finally {
        e.dispose();
      }
    }

    const h = 1e-2;
    const coords = new Rng(5, 1).sampleWithoutReplacement(g.length, 20);
    let worst = 0;
    for (const k of coords) {
      const plus = snap.data.slice();
      const minus = snap.data.slice();
      plus[k] = snap.data[k]! + h;
      minus[k] = snap.data[k]! - h;
      const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (plus[k]! - minus[k]!);
      worst = Math.max(worst, Math.abs(fd - g[k]!) / gInf);
    }
    record("central differences (float32 tfjs loss, h=1e-2) vs tfjs gradient, |Δ|/‖g‖∞", worst);
    expect(worst).toBeLessThan(3e-3);

    // Along a random unit direction d: (L(θ + h d) − L(θ − h d)) / 2h ≈ g·d.
    const rng = new Rng(6, 1);
    const d = Float64Array.from({ length: g.length }, () => rng.nextNormal());
    const dn = norm(d);
    for (let i = 0; i < d.length; i++) d[i]! /= dn;
    const plus = snap.data.map((v, i) => v + h * d[i]!);
    const minus = snap.data.map((v, i) => v - h * d[i]!);
    const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
    const gd = dot(g, d);
    const dirErr = Math.abs(fd - gd) / norm(g);
    record("directional central difference (float32 tfjs loss, h=1e-2) vs g·d, |Δ|/‖g‖", dirErr);
    expect(dirErr).toBeLessThan(3e-3);
  });
});

// ---------------------------------------------------------------------------------------
// minibatch = mean of per-example gradients; pair statistics

describe("per-example gradients and pair statistics", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  for (const activation of ["relu", "tanh"] as const) {
    it(`${activation}: the minibatch gradient is the mean of the B = 1 gradients`, async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], activation, 41);
      const m = await reference(snap);
      const engine = await GradientEngine.create(tf, snap, synth);
      try {
        const indices = batch(synth.n, 16, 6);
        const whole = await engine.minibatchGradient(indices);
        const wholeFlat = flatten(whole.grads);
        const mean = new Float64Array(wholeFlat.length);
        let meanLoss = 0;
        let meanNorm = 0;
        const refs = perExampleGradients(m, synth.x, synth.y, indices, featureSizeOf(synth));
        for (const [r, i] of indices.entries()) {
          const one = await engine.minibatchGradient([i]);
          const oneFlat = flatten(one.grads);
          // Each B = 1 gradient also matches the reference's per-example gradient.
          const e1 = relErr(oneFlat, flattenGradient(refs[r]!.grads));
          record("B=1 gradient vs perExampleGradients", e1);
          expect(e1).toBeLessThan(1e-5);
          meanNorm += norm(oneFlat) / indices.length;
          meanLoss += one.loss / indices.length;
          for (let k = 0; k < mean.length; k++) mean[k]! += oneFlat[k]! / indices.length;
        }
        // float32 rounding, measured on the scale of the terms being averaged (the mean
        // can be much shorter than its terms when they disagree).
        let d = 0;
        for (let k = 0; k < mean.length; k++) d += (wholeFlat[k]! - mean[k]!) ** 2;
        const e = Math.sqrt(d) / meanNorm;
        record("minibatch gradient vs mean of B=1 gradients, ‖Δ‖/mean‖g_i‖", e);
        expect(e).toBeLessThan(1e-6);
        record("minibatch loss vs mean of B=1 losses", relScalar(whole.loss, meanLoss));
        expect(relScalar(whole.loss, meanLoss)).toBeLessThan(1e-6);
      } finally {
        engine.dispose();
      }
    });
  }

  for (const activation of ["relu", "sigmoid"] as const) {
    it(`${activation}: pairStats equals float64 norms and dots of the reference gradients`, async () => {
      const snap = snapshotWithBiases([12, 8, 6, 4], activation, 51);
      const m = await reference(snap);
      const sizes = tensorSplit(m);
      const engine = await GradientEngine.create(tf, snap, synth);
      try {
        for (let p = 0; p < 3; p++) {
          const b1 = batch(synth.n, 8, 100 + p);
          const b2 = batch(synth.n, 8, 200 + p);
          const stats = await engine.pairStats({ id: p, batches: [b1, b2] });
          const r1 = ref64(m, synth, b1);
          const r2 = ref64(m, synth, b2);
          const n1 = norm(r1.flat);
          const n2 = norm(r2.flat);
          expect(stats.id).toBe(p);
          expect(relScalar(stats.loss[0], r1.loss)).toBeLessThan(1e-6);
          expect(relScalar(stats.loss[1], r2.loss)).toBeLessThan(1e-6);
          const errs = [
            relScalar(stats.norm[0], n1),
            relScalar(stats.norm[1], n2),
            Math.abs(stats.dot - dot(r1.flat, r2.flat)) / (n1 * n2),
          ];
          const l1 = sliceLayers(r1.flat, sizes);
          const l2 = sliceLayers(r2.flat, sizes);
          expect(stats.tensorNorm[0]).toHaveLength(sizes.length);
          expect(stats.tensorNorm[1]).toHaveLength(sizes.length);
          expect(stats.tensorDot).toHaveLength(sizes.length);
          for (let l = 0; l < sizes.length; l++) {
            const a = norm(l1[l]!);
            const b = norm(l2[l]!);
            errs.push(relScalar(stats.tensorNorm[0][l]!, a), relScalar(stats.tensorNorm[1][l]!, b));
            errs.push(Math.abs(stats.tensorDot[l]! - dot(l1[l]!, l2[l]!)) / (a * b));
          }
          const worst = Math.max(...errs);
          record("pairStats norms/dots vs float64 reference", worst);
          expect(worst).toBeLessThan(1e-5);

          // The per-layer numbers add up to the totals (both are float64 sums of the same terms).
          for (const s of [0, 1] as const) {
            const sumSq = stats.tensorNorm[s].reduce((acc, v) => acc + v * v, 0);
            expect(Math.abs(sumSq - stats.norm[s] ** 2) / stats.norm[s] ** 2).toBeLessThan(1e-12);
          }
          const sumDot = stats.tensorDot.reduce((acc, v) => acc + v, 0);
          expect(Math.abs(sumDot - stats.dot) / (stats.norm[0] * stats.norm[1])).toBeLessThan(1e-12);
          // No metrics asked for, none reported.
          expect(stats.metrics).toEqual([]);
        }
      } finally {
        engine.dispose();
      }
    });
  }

  it("pairStats of a pair with the same batch twice: dot = norm², tensorDot = tensorNorm²", async () => {
    const snap = snapshotWithBiases([12, 8, 6, 4], "elu", 52);
    const engine = await GradientEngine.create(tf, snap, synth);
    try {
      const b = batch(synth.n, 10, 9);
      const s = await engine.pairStats({ id: 0, batches: [b, b] });
      expect(s.norm[0]).toBe(s.norm[1]);
      expect(s.loss[0]).toBe(s.loss[1]);
      expect(Math.abs(s.dot - s.norm[0] ** 2) / s.norm[0] ** 2).toBeLessThan(1e-12);
      s.tensorDot.forEach((d, l) => expect(Math.abs(d - s.tensorNorm[0][l]! ** 2) / s.norm[0] ** 2).toBeLessThan(1e-12));
    } finally {
      engine.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------
// softmax output layers

describe("a model whose last Dense layer applies softmax", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  function withSoftmax(s: Snapshot): Snapshot {
    const topology = structuredClone(s.modelTopology) as { config: { layers: { config: Record<string, unknown> }[] } };
    const layers = topology.config.layers;
    expect(layers.at(-1)!.config.activation).toBe("linear");
    layers.at(-1)!.config.activation = "softmax";
    return { ...s, modelTopology: topology as unknown as Record<string, unknown> };
  }

  it("gives the same gradients as the linear-output (logits) model", async () => {
    const lin = snapshotWithBiases([12, 8, 6, 4], "relu", 61);
    const soft = withSoftmax(lin);
    const m = await reference(soft); // the reference reads a final softmax as logits
    const eLin = await GradientEngine.create(tf, lin, synth);
    const eSoft = await GradientEngine.create(tf, soft, synth);
    try {
      const indices = batch(synth.n, 20, 7);
      const a = await eLin.minibatchGradient(indices);
      const b = await eSoft.minibatchGradient(indices);
      expect(b.loss).toBe(a.loss);
      expect(b.grads).toEqual(a.grads);
      expect(relErr(flatten(b.grads), ref64(m, synth, indices).flat)).toBeLessThan(1e-5);
      // The input snapshot's topology is not modified by the engine.
      expect((soft.modelTopology as { config: { layers: { config: { activation: string } }[] } }).config.layers.at(-1)!.config.activation).toBe(
        "softmax",
      );
    } finally {
      eLin.dispose();
      eSoft.dispose();
    }
  });

  it("still predicts probabilities when the saved model is loaded by tfjs", async () => {
    const soft = withSoftmax(snapshotWithBiases([12, 8, 6, 4], "tanh", 62));
    const dir = join(root, `model-${dirCounter++}`);
    const { modelJson, weightsBin } = await writeLayersModel(dir, soft);
    const handler: tf.io.IOHandler = {
      load: async () =>
        tf.io.getModelArtifactsForJSON(JSON.parse(await readFile(modelJson, "utf8")) as tf.io.ModelJSON, async (manifest) => {
          const bytes = await readFile(weightsBin);
          const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
          return [tf.io.getWeightSpecs(manifest), buf];
        }),
    };
    const model = await tf.loadLayersModel(handler);
    const m = await reference(soft);
    try {
      const x = tf.tensor2d(synth.x.subarray(0, 10 * 12), [10, 12]);
      const probs = (model.predict(x) as tf.Tensor).arraySync() as number[][];
      x.dispose();
      const logits = logits64(m, synth.x, range(10), 12);
      for (const [r, row] of probs.entries()) {
        expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        const z = Array.from(logits.subarray(r * 4, r * 4 + 4));
        const max = Math.max(...z);
        const e = z.map((v) => Math.exp(v - max));
        const s = e.reduce((a, v) => a + v, 0);
        row.forEach((p, k) => {
          expect(p).toBeGreaterThanOrEqual(0);
          expect(Math.abs(p - e[k]! / s)).toBeLessThan(1e-5);
        });
      }
    } finally {
      model.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------
// errors and leaks

describe("mismatches and leaks", () => {
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
  });

  it("rejects a dataset with the wrong feature count, naming both shapes", async () => {
    const snap = mlpSnapshot({ layers: [12, 8, 4], activation: "relu", seed: 1, init: "glorot_uniform" });
    const wrong = makeSyntheticDataset({ n: 8, features: 13, classes: 4, seed: 1 });
    const before = tf.memory().numTensors;
    const err = await GradientEngine.create(tf, snap, wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GradientError);
    expect((err as Error).message).toMatch(/\[12\]/);
    expect((err as Error).message).toMatch(/\[13\]/);
    expect((err as Error).message).toContain("synthetic");
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects a dataset with the wrong class count, naming both counts", async () => {
    const snap = mlpSnapshot({ layers: [12, 8, 4], activation: "relu", seed: 1, init: "glorot_uniform" });
    const wrong = makeSyntheticDataset({ n: 8, features: 12, classes: 5, seed: 1 });
    const before = tf.memory().numTensors;
    const err = await GradientEngine.create(tf, snap, wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GradientError);
    expect((err as Error).message).toMatch(/4 outputs/);
    expect((err as Error).message).toMatch(/5 classes/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects an index outside the dataset, naming it", async () => {
    const snap = mlpSnapshot({ layers: [12, 8, 4], activation: "relu", seed: 1, init: "glorot_uniform" });
    const engine = await GradientEngine.create(tf, snap, synth);
    try {
      const before = tf.memory().numTensors;
      await expect(engine.minibatchGradient([0, 64])).rejects.toThrow(/index 64 .*size 64/);
      await expect(engine.minibatchGradient([-1])).rejects.toThrow(/index -1/);
      await expect(engine.minibatchGradient([1.5])).rejects.toThrow(/index 1\.5/);
      await expect(engine.pairStats({ id: 3, batches: [[1, 2], [3, 1000]] })).rejects.toThrow(GradientError);
      await expect(engine.pairStats({ id: 3, batches: [[1, 2], [3, 1000]] })).rejects.toThrow(/index 1000/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      engine.dispose();
    }
  });

  it("a batch may repeat an index: [i, i, j] weighs example i twice, like the reference", async () => {
    const snap = snapshotWithBiases([12, 8, 6, 4], "sigmoid", 72);
    const m = await reference(snap);
    const engine = await GradientEngine.create(tf, snap, synth);
    try {
      const got = await engine.minibatchGradient([3, 3, 9]);
      const want = ref64(m, synth, [3, 3, 9]);
      expect(relErr(flatten(got.grads), want.flat)).toBeLessThan(1e-5);
      const same = await engine.minibatchGradient([3, 3]);
      const one = await engine.minibatchGradient([3]);
      expect(relErr(flatten(same.grads), flatten(one.grads))).toBeLessThan(1e-7);
    } finally {
      engine.dispose();
    }
  });

  for (const backend of ["cpu", "wasm"] as const) {
    it(`${backend}: leaks no tensors over 50 pairStats calls, and dispose frees the engine`, async () => {
      await selectBackend(tf, backend);
      const start = tf.memory().numTensors;
      const snap = snapshotWithBiases([12, 8, 6, 4], "tanh", 71);
      const engine = await GradientEngine.create(tf, snap, synth);
      await engine.pairStats({ id: -1, batches: [[0, 1], [2, 3]] }); // warm-up
      const before = tf.memory().numTensors;
      for (let p = 0; p < 50; p++) {
        await engine.pairStats({ id: p, batches: [batch(synth.n, 8, 300 + p), batch(synth.n, 8, 400 + p)] });
      }
      expect(tf.memory().numTensors).toBe(before);
      engine.dispose();
      expect(tf.memory().numTensors).toBe(start);
    });
  }
});

describe("an empty minibatch", () => {
  it("is refused, not computed as a zero gradient", async () => {
    await selectBackend(tf, "cpu");
    const snap = mlpSnapshot({ layers: [12, 8, 6, 4], activation: "tanh", seed: 71, init: "glorot_uniform" });
    const engine = await GradientEngine.create(tf, snap, makeSyntheticDataset({ n: 64, features: 12, classes: 4, seed: 7 }));
    await expect(engine.minibatchGradient([])).rejects.toThrow(GradientError);
    engine.dispose();
  });
});
