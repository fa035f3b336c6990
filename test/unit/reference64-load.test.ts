import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flattenGradient, logits64, lossAndGradient } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { Rng } from "../../src/util/rng.js";

let root: string;
let counter = 0;
beforeAll(async () => {
  await tf.setBackend("cpu");
  root = await mkdtemp(join(tmpdir(), "gradswarm-ref64-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Saves a tfjs model the way tfjs's file:// handler does, optionally in two weight shards. */
async function saveModel(model: tf.LayersModel, shards = 1): Promise<string> {
  const dir = join(root, `model-${counter++}`);
  await mkdir(dir);
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
      const cut = shards === 1 ? data.length : Math.floor(data.length / 8) * 4;
      const paths = shards === 1 ? ["weights.bin"] : ["group1-shard1of2.bin", "group1-shard2of2.bin"];
      await writeFile(join(dir, paths[0]!), data.subarray(0, cut));
      if (shards > 1) await writeFile(join(dir, paths[1]!), data.subarray(cut));
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  return dir;
}

function data(n: number, features: number, classes: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(3);
  return {
    x: Float32Array.from({ length: n * features }, () => rng.nextNormal()),
    y: Int32Array.from({ length: n }, () => rng.nextInt(classes)),
  };
}

/** Writes a hand-made model directory: one Dense layer 2 → 2 plus what `edit` changes. */
async function handModel(edit: (json: any) => void, weights = new Float32Array([1, 2, 3, 4, 0.5, -0.5])): Promise<string> {
  const dir = join(root, `hand-${counter++}`);
  await mkdir(dir);
  const json = {
    modelTopology: {
      class_name: "Sequential",
      config: {
        name: "seq",
        layers: [
          { class_name: "InputLayer", config: { batch_input_shape: [null, 2], name: "in" } },
          { class_name: "Dense", config: { units: 2, activation: "softmax", use_bias: true, name: "dense_1" } },
        ],
      },
    },
    weightsManifest: [
      {
        paths: ["w.bin"],
        weights: [
          { name: "dense_1/kernel", shape: [2, 2], dtype: "float32" },
          { name: "dense_1/bias", shape: [2], dtype: "float32" },
        ],
      },
    ],
  };
  edit(json);
  await writeFile(join(dir, "model.json"), JSON.stringify(json));
  await writeFile(join(dir, "w.bin"), new Uint8Array(weights.buffer));
  return dir;
}

describe("loadMlp64FromLayersModel", () => {
  it("reads a tfjs-saved model and agrees with tfjs on logits and gradients", async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [6], units: 5, activation: "relu" }));
    model.add(tf.layers.dense({ units: 4, activation: "tanh", useBias: false }));
    model.add(tf.layers.dense({ units: 4, activation: "elu" }));
    model.add(tf.layers.dense({ units: 3, activation: "linear" }));
    const dir = await saveModel(model, 2);
    const m64 = await loadMlp64FromLayersModel(dir);
    expect(m64.layers.map((l) => [l.inputs, l.units, l.activation, l.bias.length])).toEqual([
      [6, 5, "relu", 5],
      [5, 4, "tanh", 0],
      [4, 4, "elu", 4],
      [4, 3, "linear", 3],
    ]);

    const { x, y } = data(8, 6, 3);
    const indices = [0, 1, 2, 3, 4, 5, 6, 7];
    const tfLogits = tf.tidy(() => (model.predict(tf.tensor2d(x, [8, 6])) as tf.Tensor).dataSync());
    const ref = logits64(m64, x, indices, 6);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(ref[i]! - tfLogits[i]!)).toBeLessThan(1e-5);

    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, "int32"), 3), model.apply(tf.tensor2d(x, [8, 6])) as tf.Tensor) as tf.Scalar,
      vars,
    );
    const tfGrad = Float64Array.from(vars.flatMap((v) => Array.from(grads[v.name]!.dataSync())));
    const refResult = lossAndGradient(m64, x, y, indices, 6);
    const refGrad = flattenGradient(refResult.grads);
    expect(refGrad.length).toBe(tfGrad.length);
    expect(Math.abs(refResult.loss - value.dataSync()[0]!)).toBeLessThan(1e-5);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < refGrad.length; i++) {
      diff += (refGrad[i]! - tfGrad[i]!) ** 2;
      norm += refGrad[i]! ** 2;
    }
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-5);
  });

  it("reads a final softmax as linear logits", async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [4], units: 3, activation: "sigmoid" }));
    model.add(tf.layers.dense({ units: 3, activation: "softmax" }));
    const m64 = await loadMlp64FromLayersModel(await saveModel(model));
    expect(m64.layers.map((l) => l.activation)).toEqual(["sigmoid", "linear"]);
    const { x } = data(2, 4, 3);
    const probs = tf.tidy(() => (model.predict(tf.tensor2d(x, [2, 4])) as tf.Tensor).dataSync());
    const logits = logits64(m64, x, [0, 1], 4);
    for (let r = 0; r < 2; r++) {
      const row = Array.from(logits.subarray(r * 3, r * 3 + 3));
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      for (let k = 0; k < 3; k++) expect(Math.abs(Math.exp(row[k]! - max) / sum - probs[r * 3 + k]!)).toBeLessThan(1e-6);
    }
  });

  it("reads a hand-written model.json with an InputLayer", async () => {
    const m = await loadMlp64FromLayersModel(await handModel(() => {}));
    expect(m.layers).toHaveLength(1);
    expect(Array.from(m.layers[0]!.kernel)).toEqual([1, 2, 3, 4]);
    expect(Array.from(m.layers[0]!.bias)).toEqual([0.5, -0.5]);
    expect(m.layers[0]!.activation).toBe("linear");
  });

  it("rejects unsupported layers and broken manifests with a clear error", async () => {
    const conv = await handModel((j) => {
      j.modelTopology.config.layers.splice(1, 0, { class_name: "Conv2D", config: { name: "conv_1", filters: 2 } });
    });
    await expect(loadMlp64FromLayersModel(conv)).rejects.toThrow(/layer 1 \(Conv2D "conv_1"\).*not supported/);
    const hiddenSoftmax = await handModel((j) => {
      j.modelTopology.config.layers.push({ class_name: "Dense", config: { units: 1, activation: "linear", name: "dense_2" } });
    });
    await expect(loadMlp64FromLayersModel(hiddenSoftmax)).rejects.toThrow(/activation "softmax" is not supported/);
    const selu = await handModel((j) => {
      j.modelTopology.config.layers[1].config.activation = "selu";
    });
    await expect(loadMlp64FromLayersModel(selu)).rejects.toThrow(/"dense_1".*activation "selu"/);
    const missing = await handModel((j) => {
      j.weightsManifest[0].weights[1].name = "dense_9/bias";
    });
    await expect(loadMlp64FromLayersModel(missing)).rejects.toThrow(/dense_1\/bias is not in the weights manifest/);
    const short = await handModel(() => {}, new Float32Array(5));
    await expect(loadMlp64FromLayersModel(short)).rejects.toThrow(/dense_1\/bias.*needs bytes/);
    const wrongInputs = await handModel((j) => {
      j.modelTopology.config.layers[0].config.batch_input_shape = [null, 3];
    });
    await expect(loadMlp64FromLayersModel(wrongInputs)).rejects.toThrow(/2 inputs, expected 3/);
    const escape = await handModel((j) => {
      j.weightsManifest[0].paths = ["../w.bin"];
    });
    await expect(loadMlp64FromLayersModel(escape)).rejects.toThrow(/inside the model directory/);
    await expect(loadMlp64FromLayersModel(join(root, "absent"))).rejects.toThrow(/model\.json/);
  });
});
