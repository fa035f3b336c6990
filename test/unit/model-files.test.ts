// Model construction and model files: mlpSnapshot's seeded initialisation, the snapshot
// bundle round trip, the layers-model files we write and read without TensorFlow.js, and
// that TensorFlow.js itself loads what we write and computes the reference's outputs.

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { loadMnist } from "../../src/data/mnist.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { ModelFileError, readLayersModel, writeLayersModel } from "../../src/model/layers-model-files.js";
import { MLP_ACTIVATIONS, mlpSnapshot, type MlpSpec } from "../../src/model/mlp.js";
import { logits64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { decodeSnapshot, encodeSnapshot, sha256Hex, weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";

let root: string;
let counter = 0;
let maxPredictErr = 0;

beforeAll(async () => {
  await selectBackend(tf, "cpu");
  root = await mkdtemp(join(tmpdir(), "gradswarm-model-files-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  console.log(`model-files.test.ts: largest |tfjs predict − reference64| = ${maxPredictErr.toExponential(2)}`);
});

function newDir(): string {
  return join(root, `model-${counter++}`);
}

function spec(over: Partial<MlpSpec> = {}): MlpSpec {
  return { layers: [12, 8, 6, 4], activation: "tanh", seed: 5, init: "glorot_uniform", ...over };
}

/** A snapshot with small random (non-zero) biases, so round trips cover every value. */
function withBiases(s: Snapshot, seed = 1): Snapshot {
  const rng = new Rng(seed, 77);
  const views = weightViews(s);
  s.weights.forEach((w, i) => {
    if (w.name.endsWith("/bias")) for (let k = 0; k < views[i]!.length; k++) views[i]![k] = 0.1 * rng.nextNormal();
  });
  return s;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ---------------------------------------------------------------------------------------

describe("mlpSnapshot", () => {
  it("is deterministic in the seed: same seed → identical bytes, other seed → different", () => {
    for (const init of ["glorot_uniform", "he_normal"] as const) {
      const a = encodeSnapshot(mlpSnapshot(spec({ init, seed: 123 })));
      const b = encodeSnapshot(mlpSnapshot(spec({ init, seed: 123 })));
      const c = encodeSnapshot(mlpSnapshot(spec({ init, seed: 124 })));
      expect(bytesEqual(a, b)).toBe(true);
      expect(sha256Hex(a)).toBe(sha256Hex(b));
      expect(a.length).toBe(c.length);
      expect(bytesEqual(a, c)).toBe(false);
    }
    // The init changes the draws too.
    expect(bytesEqual(encodeSnapshot(mlpSnapshot(spec({ init: "he_normal" }))), encodeSnapshot(mlpSnapshot(spec())))).toBe(false);
  });

  it("draws each layer from its own stream: resizing a later layer leaves earlier layers alone", () => {
    const a = mlpSnapshot(spec({ layers: [12, 8, 6, 4] }));
    const b = mlpSnapshot(spec({ layers: [12, 8, 5, 4] }));
    expect(Array.from(weightViews(b)[0]!)).toEqual(Array.from(weightViews(a)[0]!));
    expect(Array.from(weightViews(b)[2]!)).not.toEqual(Array.from(weightViews(a)[2]!).slice(0, 8 * 5));
  });

  it("has Keras-shaped weights and a Sequential Dense topology with linear logits", () => {
    const s = mlpSnapshot(spec({ activation: "relu" }));
    expect(s.weights).toEqual([
      { name: "dense_1/kernel", shape: [12, 8] },
      { name: "dense_1/bias", shape: [8] },
      { name: "dense_2/kernel", shape: [8, 6] },
      { name: "dense_2/bias", shape: [6] },
      { name: "dense_3/kernel", shape: [6, 4] },
      { name: "dense_3/bias", shape: [4] },
    ]);
    expect(s.data.length).toBe(12 * 8 + 8 + 8 * 6 + 6 + 6 * 4 + 4);
    const layers = (s.modelTopology as { class_name: string; config: { layers: { class_name: string; config: Record<string, unknown> }[] } })
      .config.layers;
    expect((s.modelTopology as { class_name: string }).class_name).toBe("Sequential");
    expect(layers.map((l) => [l.class_name, l.config.name, l.config.units, l.config.activation])).toEqual([
      ["Dense", "dense_1", 8, "relu"],
      ["Dense", "dense_2", 6, "relu"],
      ["Dense", "dense_3", 4, "linear"],
    ]);
    expect(layers[0]!.config.batch_input_shape).toEqual([null, 12]);
    expect(() => mlpSnapshot(spec({ layers: [5] }))).toThrow(RangeError);
  });

  it("follows glorot-uniform bounds (|w| ≤ √(6/(fan_in+fan_out)), roughly uniform) with zero biases", () => {
    const layers = [784, 64, 10];
    const s = mlpSnapshot({ layers, activation: "relu", seed: 9, init: "glorot_uniform" });
    const views = weightViews(s);
    for (let l = 0; l + 1 < layers.length; l++) {
      const limit = Math.sqrt(6 / (layers[l]! + layers[l + 1]!));
      const k = views[2 * l]!;
      const bias = views[2 * l + 1]!;
      expect(bias.every((v) => v === 0)).toBe(true);
      let max = 0;
      let sum = 0;
      let sq = 0;
      for (const v of k) {
        max = Math.max(max, Math.abs(v));
        sum += v;
        sq += v * v;
      }
      expect(max).toBeLessThanOrEqual(limit);
      // Uniform on [−L, L]: max |w| close to L, mean 0 (sd L/√(3n)), variance L²/3.
      expect(max).toBeGreaterThan(0.98 * limit);
      const n = k.length;
      expect(Math.abs(sum / n)).toBeLessThan((5 * limit) / Math.sqrt(3 * n));
      expect(Math.abs(sq / n / (limit * limit / 3) - 1)).toBeLessThan(0.1);
    }
  });

  it("he_normal has standard deviation √(2/fan_in)", () => {
    const s = mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 9, init: "he_normal" });
    const k = weightViews(s)[0]!;
    let sq = 0;
    for (const v of k) sq += v * v;
    expect(Math.sqrt(sq / k.length) / Math.sqrt(2 / 784)).toBeCloseTo(1, 1);
  });
});

describe("snapshot encode/decode", () => {
  it("round-trips topology, weight specs and every value", () => {
    for (const activation of MLP_ACTIVATIONS) {
      const s = withBiases(mlpSnapshot(spec({ activation })));
      const bytes = encodeSnapshot(s);
      const back = decodeSnapshot(bytes);
      expect(back.modelTopology).toEqual(s.modelTopology);
      expect(back.weights).toEqual(s.weights);
      expect(back.data).toEqual(s.data);
      expect(bytesEqual(encodeSnapshot(back), bytes)).toBe(true);
    }
  });

  it("encodes a snapshot whose data is a view into a larger buffer", () => {
    const s = withBiases(mlpSnapshot(spec()));
    const big = new Float32Array(s.data.length + 10);
    big.set(s.data, 6);
    const view: Snapshot = { ...s, data: big.subarray(6, 6 + s.data.length) };
    expect(bytesEqual(encodeSnapshot(view), encodeSnapshot(s))).toBe(true);
    expect(decodeSnapshot(encodeSnapshot(view)).data).toEqual(s.data);
  });
});

// ---------------------------------------------------------------------------------------

describe("layers-model files", () => {
  it("writeLayersModel → readLayersModel round-trips the snapshot exactly", async () => {
    for (const activation of MLP_ACTIVATIONS) {
      const s = withBiases(mlpSnapshot(spec({ activation, seed: 31 })));
      const { modelJson, weightsBin } = await writeLayersModel(newDir(), s);
      expect((await readFile(weightsBin)).length).toBe(4 * s.data.length);
      const back = await readLayersModel(modelJson);
      expect(back.modelTopology).toEqual(s.modelTopology);
      expect(back.weights).toEqual(s.weights);
      expect(back.data).toEqual(s.data);
      expect(bytesEqual(encodeSnapshot(back), encodeSnapshot(s))).toBe(true);
    }
  });

  it("writes only the snapshot's own bytes when its data is a view into a larger buffer", async () => {
    const s = withBiases(mlpSnapshot(spec()));
    const big = new Float32Array(s.data.length + 9).fill(Number.NaN);
    big.set(s.data, 5);
    const { modelJson } = await writeLayersModel(newDir(), { ...s, data: big.subarray(5, 5 + s.data.length) });
    expect((await readLayersModel(modelJson)).data).toEqual(s.data);
  });

  /** An IOHandler that reads model.json and its weight files with fs. */
  function fileHandler(modelJson: string): tf.io.IOHandler {
    const dir = join(modelJson, "..");
    return {
      load: async () => {
        const json = JSON.parse(await readFile(modelJson, "utf8")) as tf.io.ModelJSON;
        return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
          const buffers: ArrayBuffer[] = [];
          for (const group of manifest) {
            for (const p of group.paths) {
              const b = await readFile(join(dir, p));
              buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
            }
          }
          return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
        });
      },
    };
  }

  function softmaxRows(z: Float64Array, classes: number): Float64Array {
    const out = new Float64Array(z.length);
    for (let r = 0; r < z.length / classes; r++) {
      let max = -Infinity;
      for (let k = 0; k < classes; k++) max = Math.max(max, z[r * classes + k]!);
      let s = 0;
      for (let k = 0; k < classes; k++) s += out[r * classes + k] = Math.exp(z[r * classes + k]! - max);
      for (let k = 0; k < classes; k++) out[r * classes + k]! /= s;
    }
    return out;
  }

  async function checkPredict(s: Snapshot, ds: Dataset, rows: number, softmax: boolean): Promise<void> {
    const dir = newDir();
    const { modelJson } = await writeLayersModel(dir, s);
    const model = await tf.loadLayersModel(fileHandler(modelJson));
    const m64 = await loadMlp64FromLayersModel(dir);
    try {
      // tfjs holds exactly our weights, in our order.
      const w = model.getWeights();
      expect(w.map((t) => t.shape)).toEqual(s.weights.map((x) => x.shape));
      const loaded = new Float32Array(w.reduce((acc, t) => acc + t.size, 0));
      let at = 0;
      for (const t of w) {
        loaded.set(t.dataSync() as Float32Array, at);
        at += t.size;
      }
      expect(loaded).toEqual(s.data);

      const size = ds.featureShape.reduce((a, b) => a * b, 1);
      const x = tf.tensor2d(ds.x.subarray(0, rows * size), [rows, size]);
      const out = model.predict(x) as tf.Tensor;
      const got = (await out.data()) as Float32Array;
      x.dispose();
      out.dispose();
      const classes = ds.numClasses;
      const z = logits64(m64, ds.x, Array.from({ length: rows }, (_, i) => i), size);
      const want = softmax ? softmaxRows(z, classes) : z;
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        // Logits are O(1) here, so an absolute bound is a relative one too.
        worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      }
      maxPredictErr = Math.max(maxPredictErr, worst);
      expect(worst).toBeLessThan(1e-5);
      if (softmax) {
        for (let r = 0; r < rows; r++) {
          let sum = 0;
          for (let k = 0; k < classes; k++) sum += got[r * classes + k]!;
          expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
        }
      }
    } finally {
      model.dispose();
    }
  }

  function softmaxTopology(s: Snapshot): Snapshot {
    const t = structuredClone(s.modelTopology) as { config: { layers: { config: Record<string, unknown> }[] } };
    t.config.layers.at(-1)!.config.activation = "softmax";
    return { ...s, modelTopology: t as unknown as Record<string, unknown> };
  }

  it("loads into tf.loadLayersModel, and predict equals the float64 reference (logits and softmax)", async () => {
    const synth = makeSyntheticDataset({ n: 32, features: 12, classes: 4, seed: 3 });
    for (const activation of MLP_ACTIVATIONS) {
      const s = withBiases(mlpSnapshot(spec({ activation, seed: 41 })));
      await checkPredict(s, synth, 32, false);
      await checkPredict(softmaxTopology(s), synth, 32, true);
    }
    const mnist = await loadMnist({ limit: 20 });
    const big = withBiases(mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 42, init: "glorot_uniform" }));
    await checkPredict(big, mnist, 20, false);
    await checkPredict(softmaxTopology(big), mnist, 20, true);
  });

  describe("readLayersModel errors name the file and the weight", () => {
    async function written(): Promise<{ s: Snapshot; modelJson: string; weightsBin: string }> {
      const s = withBiases(mlpSnapshot(spec()));
      return { s, ...(await writeLayersModel(newDir(), s)) };
    }

    it("a missing weight file", async () => {
      const { modelJson, weightsBin } = await written();
      await rm(weightsBin);
      const err = await readLayersModel(modelJson).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as Error).message).toContain(modelJson);
      expect((err as Error).message).toContain(weightsBin);
      expect((err as Error).message).toMatch(/cannot be read/);
    });

    it("a missing model.json", async () => {
      const missing = join(newDir(), "model.json");
      const err = await readLayersModel(missing).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as Error).message).toContain(missing);
    });

    it("a weight file that is too short names the weight that runs past its end", async () => {
      const { modelJson, weightsBin } = await written();
      const bytes = await readFile(weightsBin);
      await writeFile(weightsBin, bytes.subarray(0, bytes.length - 4));
      const err = await readLayersModel(modelJson).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as Error).message).toContain(modelJson);
      expect((err as Error).message).toContain("dense_3/bias");
      expect((err as Error).message).toContain(`${bytes.length - 4} bytes`);
    });

    it("a weight file that is too long names the byte counts", async () => {
      const { s, modelJson, weightsBin } = await written();
      const bytes = await readFile(weightsBin);
      await writeFile(weightsBin, Buffer.concat([bytes, Buffer.alloc(8)]));
      const err = await readLayersModel(modelJson).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as Error).message).toContain(modelJson);
      expect((err as Error).message).toContain(`uses ${4 * s.data.length} of ${4 * s.data.length + 8} bytes`);
    });

    it("a weight that is not float32", async () => {
      for (const dtype of ["int32", "float16"]) {
        const { modelJson } = await written();
        const json = JSON.parse(await readFile(modelJson, "utf8")) as { weightsManifest: { weights: { name: string; dtype: string }[] }[] };
        json.weightsManifest[0]!.weights[1]!.dtype = dtype;
        await writeFile(modelJson, JSON.stringify(json));
        const err = await readLayersModel(modelJson).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ModelFileError);
        expect((err as Error).message).toContain(modelJson);
        expect((err as Error).message).toContain("dense_1/bias");
        expect((err as Error).message).toContain(dtype);
      }
    });

    it("a quantized weight", async () => {
      const { modelJson } = await written();
      const json = JSON.parse(await readFile(modelJson, "utf8")) as { weightsManifest: { weights: Record<string, unknown>[] }[] };
      json.weightsManifest[0]!.weights[2]!.quantization = { dtype: "uint8", scale: 1, min: 0 };
      await writeFile(modelJson, JSON.stringify(json));
      await expect(readLayersModel(modelJson)).rejects.toThrow(/dense_2\/kernel.*quantized/);
    });
  });
});
