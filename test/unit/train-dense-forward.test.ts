// dense-forward.ts against model.apply on the wasm backend (where the trainer uses it):
// the same logits whether the minibatch is narrower than a layer ((Wᵀ·xᵀ)ᵀ) or not, and
// the same gradients through autodiff.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { logitsTopology } from "../../src/model/logits-topology.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { denseForward } from "../../src/train/dense-forward.js";
import { denseLayers } from "../../src/worker/grouped.js";
import { setupWasm } from "../../src/worker/wasm/index.js";
import { maxRelErr } from "../helpers/rel-err.js";

describe("denseForward on wasm", () => {
  beforeAll(async () => {
    await setupWasm(tf, { threads: 1 });
  });

  it.each([5, 40, 300])("equals model.apply at B=%i, and so do the gradients", async (batch) => {
    const s = mlpSnapshot({ layers: [30, 64, 20, 4], activation: "tanh", seed: 3, init: "glorot_uniform" });
    const topology = logitsTopology(s.modelTopology);
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology as tf.io.ModelArtifacts["modelTopology"], weightSpecs: s.weights.map((w) => ({ ...w, dtype: "float32" as const })), weightData: s.data.slice().buffer }));
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const dense = denseLayers(topology, vars);
    const x = tf.randomUniform([batch, 30], -1, 1, "float32", 1) as tf.Tensor2D;
    const loss = (f: () => tf.Tensor) => () => tf.sum(tf.square(f())) as tf.Scalar;
    const ours = tf.variableGrads(loss(() => denseForward(tf, dense, x)), vars);
    const theirs = tf.variableGrads(loss(() => model.apply(x) as tf.Tensor), vars);
    expect(maxRelErr(await ours.value.data(), await theirs.value.data())).toBeLessThanOrEqual(1e-6);
    for (const v of vars) expect(maxRelErr(await ours.grads[v.name]!.data(), await theirs.grads[v.name]!.data()), v.name).toBeLessThanOrEqual(1e-6);
    tf.dispose([x, ours.value, theirs.value, ...Object.values(ours.grads), ...Object.values(theirs.grads)]);
    model.dispose();
  });
});
