// What a ResNet's gradients need on wasm, checked: the FusedBatchNorm gradient that
// replaces tfjs-core's (src/worker/kernels/batch-norm-grad.ts) against its closed form in
// float64; a BatchNormalization layer in its inference form giving γ and β the gradient of
// the running-statistics function (closed form, and a minibatch's gradient is the mean of
// its examples'); the Identity that shares data (identity.ts); the flipped filters kept
// between calls (filter-cache.ts); and a small ResNet of bench/resnet18-model.ts's
// structure, in both padding styles, on wasm against cpu.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resnetSnapshot, syntheticImages, type ResnetSpec } from "../../bench/resnet18-model.js";
import type { Dataset } from "../../src/data/dataset.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";
import { GradientEngine } from "../../src/worker/gradients.js";
import { setupWasm } from "../../src/worker/wasm/index.js";
import { maxRelErr } from "../helpers/rel-err.js";

const rng = new Rng(20261203, 5);
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.nextFloat());

beforeAll(async () => {
  await setupWasm(tf, { threads: 1 });
});

describe("FusedBatchNorm gradient", () => {
  const shape = [2, 3, 3, 4];
  const C = 4;
  const eps = 1e-3;
  const x = uniform(72, -2, 2);
  const mean = uniform(C, -0.5, 0.5);
  const variance = uniform(C, 0.2, 2);
  const gamma = uniform(C, 0.5, 1.5);
  const beta = uniform(C, -0.3, 0.3);
  const w = uniform(72, -1, 1); // dy: the loss is Σ w · batchNorm(x)

  /** The closed form in float64: dx, dμ, dσ², dγ, dβ of Σ w · (γ(x − μ)/√(σ² + ε) + β). */
  function closedForm() {
    const dx = new Float64Array(72);
    const [dMean, dVar, dGamma, dBeta] = [0, 1, 2, 3].map(() => new Float64Array(C));
    for (let i = 0; i < 72; i++) {
      const c = i % C;
      const g = gamma[c]!;
      const s = Math.sqrt(variance[c]! + eps);
      const d = x[i]! - mean[c]!;
      dx[i] = (w[i]! * g) / s;
      dMean![c] = dMean![c]! - (w[i]! * g) / s;
      dVar![c] = dVar![c]! - (0.5 * w[i]! * g * d) / (s * s * s);
      dGamma![c] = dGamma![c]! + (w[i]! * d) / s;
      dBeta![c] = dBeta![c]! + w[i]!;
    }
    return { dx, dMean: dMean!, dVar: dVar!, dGamma: dGamma!, dBeta: dBeta! };
  }

  it.each(["cpu", "wasm"])("on %s equals the closed form for x, mean, variance, scale and offset", async (backend) => {
    await tf.setBackend(backend);
    const ts = [tf.tensor(x, shape), tf.tensor1d(mean), tf.tensor1d(variance), tf.tensor1d(gamma), tf.tensor1d(beta)];
    const wt = tf.tensor(w, shape);
    const grads = tf.grads((xx, m, v, g, b) => tf.sum(tf.mul(wt, tf.batchNorm(xx!, m!, v!, b!, g!, eps))))(ts);
    const got = await Promise.all(grads.map((g) => g.data()));
    const want = closedForm();
    [want.dx, want.dMean, want.dVar, want.dGamma, want.dBeta].forEach((a, k) => expect(maxRelErr(got[k]!, a), `input ${k}`).toBeLessThan(1e-6));
    tf.dispose([...ts, wt, ...grads]);
  });
  // (tf.batchNorm without a scale has no gradient in tfjs 4.22 on any backend: tfjs-core
  // saves the missing scale for the backward pass and fails there. ONNX BatchNormalization
  // always has one.)
});

/** A layers model's snapshot with the given weights (in model.weights order). */
function snapshotOf(model: tf.LayersModel, values: Float32Array[]): Snapshot {
  const weights = model.weights.map((v) => ({ name: v.originalName, shape: [...v.shape] as number[] }));
  const data = new Float32Array(values.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of values) {
    data.set(v, offset);
    offset += v.length;
  }
  const snapshot = { modelTopology: model.toJSON(null, false) as unknown as Record<string, unknown>, weights, data };
  model.dispose();
  return snapshot;
}

describe("BatchNormalization in inference form", () => {
  // input [2, 2, 3] → BatchNormalization (running statistics) → Flatten → Dense 4.
  const [H, W, C, K, N] = [2, 2, 3, 4, 5];
  const F = H * W * C;
  const gamma = uniform(C, 0.5, 1.5);
  const beta = uniform(C, -0.3, 0.3);
  const mean = uniform(C, -0.5, 0.5);
  const variance = uniform(C, 0.2, 2);
  const kernel = uniform(F * K, -0.5, 0.5);
  const bias = uniform(K, -0.1, 0.1);
  const eps = 1e-5;
  const dataset: Dataset = { name: "bn-tiny", n: N, featureShape: [H, W, C], numClasses: K, x: uniform(N * F, -1, 1), y: Int32Array.from({ length: N }, (_, i) => i % K) };

  function snapshot(): Snapshot {
    const input = tf.input({ shape: [H, W, C] });
    const bn = tf.layers.batchNormalization({ epsilon: eps, name: "bn" }).apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: K, name: "fc" }).apply(tf.layers.flatten().apply(bn) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const byName: Record<string, Float32Array> = { gamma, beta, moving_mean: mean, moving_variance: variance, kernel, bias };
    return snapshotOf(model, model.weights.map((v) => byName[v.originalName.split("/")[1]!]!));
  }

  /** The mean loss's gradient in float64: [dγ, dβ, dW, db]. */
  function closedForm(indices: number[]): Float64Array[] {
    const [dGamma, dBeta, dKernel, dBias] = [C, C, F * K, K].map((n) => new Float64Array(n));
    for (const i of indices) {
      const xhat = Array.from({ length: F }, (_, f) => (dataset.x[i * F + f]! - mean[f % C]!) / Math.sqrt(variance[f % C]! + eps));
      const z = xhat.map((v, f) => gamma[f % C]! * v + beta[f % C]!);
      const logits = Array.from({ length: K }, (_, k) => bias[k]! + z.reduce((s, zf, f) => s + zf * kernel[f * K + k]!, 0));
      const max = Math.max(...logits);
      const total = logits.reduce((s, l) => s + Math.exp(l - max), 0);
      const dl = logits.map((l, k) => (Math.exp(l - max) / total - (k === dataset.y[i] ? 1 : 0)) / indices.length);
      for (let f = 0; f < F; f++) {
        let dz = 0;
        for (let k = 0; k < K; k++) {
          dz += dl[k]! * kernel[f * K + k]!;
          dKernel![f * K + k] = dKernel![f * K + k]! + z[f]! * dl[k]!;
        }
        dGamma![f % C] = dGamma![f % C]! + dz * xhat[f]!;
        dBeta![f % C] = dBeta![f % C]! + dz;
      }
      dl.forEach((d, k) => (dBias![k] = dBias![k]! + d));
    }
    return [dGamma!, dBeta!, dKernel!, dBias!];
  }

  it.each(["cpu", "wasm"])("on %s gives γ, β and the dense weights the closed-form gradient of the running-statistics function", async (backend) => {
    await tf.setBackend(backend);
    const engine = await GradientEngine.create(tf, snapshot(), dataset);
    expect(engine.weightNames.map((n) => n.split("/")[1])).toEqual(["gamma", "beta", "kernel", "bias"]);
    const indices = [0, 1, 2, 4];
    const g = await engine.minibatchGradient(indices);
    closedForm(indices).forEach((want, k) => expect(maxRelErr(g.grads[k]!, want), engine.weightNames[k]).toBeLessThan(1e-5));
    // Running statistics: each example's gradient is its own, so the minibatch's is their mean.
    const singles = await Promise.all(indices.map((i) => engine.minibatchGradient([i])));
    g.grads.forEach((a, k) => {
      const mean = a.map((_, j) => singles.reduce((s, e) => s + e.grads[k]![j]!, 0) / indices.length);
      expect(maxRelErr(a, mean), engine.weightNames[k]).toBeLessThan(1e-5);
    });
    engine.dispose();
  });
});

describe("Identity on wasm", () => {
  it("shares the data: no new buffer, the same values, each reference disposable on its own", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor(uniform(1000, -1, 1), [10, 100]);
    const buffers = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(await y.data()).toEqual(await x.data());
    const want = await x.data();
    x.dispose();
    expect(await y.data()).toEqual(want);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffers - 1);
  });
});

describe("Conv2DBackpropInput's kept filters on wasm", () => {
  const backpropInput = (dy: tf.Tensor, filter: tf.Tensor, inputShape: number[], strides: number) =>
    tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, { strides, pad: "same", dataFormat: "NHWC", dimRoundingMode: undefined, inputShape } as unknown as tf.NamedAttrMap) as tf.Tensor;

  it("gives cpu's values on every call with the same filter, and releases a disposed filter's", async () => {
    const dyData = uniform(2 * 4 * 4 * 6, -1, 1);
    const filters = [uniform(3 * 3 * 5 * 6, -1, 1), uniform(3 * 3 * 5 * 6, -1, 1)];
    const want: Float32Array[] = [];
    await tf.setBackend("cpu");
    for (const f of filters) {
      const out = backpropInput(tf.tensor(dyData, [2, 4, 4, 6]), tf.tensor(f, [3, 3, 5, 6]), [2, 7, 7, 5], 2);
      want.push((await out.data()) as Float32Array);
    }
    await tf.setBackend("wasm");
    const dy = tf.tensor(dyData, [2, 4, 4, 6]);
    const before = tf.engine().backend.numDataIds();
    for (const [k, f] of filters.entries()) {
      const filter = tf.tensor(f, [3, 3, 5, 6]);
      for (let call = 0; call < 3; call++) {
        const out = backpropInput(dy, filter, [2, 7, 7, 5], 2);
        expect(maxRelErr(await out.data(), want[k]!), `filter ${k}, call ${call}`).toBeLessThan(1e-5);
        out.dispose();
      }
      // The filter, its kept flipped copy and the four phases' sub-filters of stride 2
      // (taps 2×2, 2×1, 1×2, 1×1).
      expect(tf.engine().backend.numDataIds()).toBe(before + 1 + 5);
      filter.dispose();
    }
    // The second filter's copy goes at the next call, with a filter of its own.
    const third = tf.tensor(filters[0]!, [3, 3, 5, 6]);
    backpropInput(dy, third, [2, 7, 7, 5], 2).dispose();
    third.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(before + 5); // the third's kept tensors, until the next call
    dy.dispose();
  });
});

describe("a small ResNet of bench/resnet18-model.ts's structure", () => {
  const spec = (padding: ResnetSpec["padding"]): ResnetSpec => ({ inputShape: [8, 8, 3], widths: [4, 4, 8, 8, 8], blocks: [2, 2, 2, 2], classes: 10, padding, seed: 3 });
  const dataset = syntheticImages(spec("zeropad"), 40, 9);
  const indices = [3, 1, 4, 15, 9, 26, 5, 35];

  async function gradients(backend: string, padding: ResnetSpec["padding"]) {
    await tf.setBackend(backend);
    const engine = await GradientEngine.create(tf, resnetSnapshot(tf, spec(padding)), dataset);
    const g = await engine.minibatchGradient(indices);
    const names = engine.weightNames;
    engine.dispose();
    return { ...g, names };
  }

  it("has wasm gradients equal to cpu's in both padding styles, and the styles compute the same function", async () => {
    const ref = await gradients("cpu", "zeropad");
    expect(ref.names.length).toBe(62); // 21 convs, 20 BatchNorms (γ, β), the dense kernel and bias
    for (const padding of ["zeropad", "same"] as const) {
      const g = await gradients("wasm", padding);
      expect(g.names.length).toBe(ref.names.length);
      expect(Math.abs(g.loss - ref.loss)).toBeLessThan(1e-5);
      g.grads.forEach((a, k) => expect(maxRelErr(a, ref.grads[k]!), `${padding} ${g.names[k]}`).toBeLessThan(1e-4));
    }
  });
});

describe("Sum over leading axes on wasm", () => {
  it.each([
    [[32, 8, 8, 16], [0, 1, 2], false],
    [[32, 8, 8, 16], [0, 1, 2], true],
    [[64, 10], 0, false],
    [[5, 6, 7], [-3, 1], false],
    [[5, 6, 7], [1, 2], false], // inner axes: the stock kernel
    [[5, 6, 7], [0, 2], false], // mixed: the stock kernel
  ] as [number[], number | number[], boolean][])("x %j axes %j keepDims %s: the bits of the stock kernel's transposed sum, and cpu's values", async (shape, axis, keepDims) => {
    const data = uniform(shape.reduce((a, b) => a * b, 1), -3, 3);
    await tf.setBackend("cpu");
    const want = tf.sum(tf.tensor(data, shape), axis, keepDims);
    const wantData = await want.data();
    await tf.setBackend("wasm");
    const x = tf.tensor(data, shape);
    const got = tf.sum(x, axis, keepDims);
    expect(got.shape).toEqual(want.shape);
    expect(maxRelErr(await got.data(), wantData)).toBeLessThan(1e-5); // float32 sums of 2048 terms
    // The stock kernel's order: the reduced axes moved innermost by a transpose, then summed.
    const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + shape.length : a));
    const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const stock = tf.tidy(() => tf.sum(tf.transpose(x, [...kept, ...axes]), axes.map((_, i) => kept.length + i)));
    expect(Array.from(await got.data())).toEqual(Array.from(await stock.data()));
    tf.dispose([x, got, stock, want]);
  });
});
