// Gradients of the other layers an ONNX → TensorFlow.js converter emits, on wasm against
// cpu: DepthwiseConv2D (input and filter gradients: src/worker/kernels/depthwise-backprop.ts,
// which wasm lacks) and max / average pooling with padding (wasm's own MaxPoolGrad and
// AvgPoolGrad; MaxPoolGrad is ours, src/worker/kernels/max-pool-grad.ts, wasm's was wrong
// where windows do not tile the input), on random shapes, multipliers, strides and
// paddings; max pooling also against a brute-force argmax.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/util/rng.js";
import { setupWasm } from "../../src/worker/wasm/index.js";
import { maxRelErr } from "../helpers/rel-err.js";

const rng = new Rng(20261203, 8);
const randInt = (lo: number, hi: number) => lo + Math.floor(rng.nextFloat() * (hi - lo + 1));
const uniform = (n: number) => Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

beforeAll(async () => {
  await setupWasm(tf, { threads: 1 });
});

/** The gradients of Σ w · f(inputs) with respect to every input, on `backend`. */
async function gradsOn(backend: string, inputs: { data: Float32Array; shape: number[] }[], weight: Float32Array, f: (...ts: tf.Tensor[]) => tf.Tensor): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const ts = inputs.map((i) => tf.tensor(i.data, i.shape));
  const out = tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => {
    const y = f(...xs);
    return tf.sum(tf.mul(y, tf.tensor(weight.subarray(0, y.size), y.shape)));
  })(ts));
  const data = await Promise.all(out.map((g) => g.data() as Promise<Float32Array>));
  tf.dispose([...ts, ...out]);
  return data;
}

async function expectSameGrads(inputs: { data: Float32Array; shape: number[] }[], f: (...ts: tf.Tensor[]) => tf.Tensor, what: string): Promise<void> {
  const weight = uniform(1 << 14);
  const cpu = await gradsOn("cpu", inputs, weight, f);
  const wasm = await gradsOn("wasm", inputs, weight, f);
  cpu.forEach((want, k) => expect(maxRelErr(wasm[k]!, want), `${what}, input ${k}`).toBeLessThan(1e-5));
}

describe("DepthwiseConv2D gradients on wasm", () => {
  it("registers both kernels", () => {
    for (const k of ["DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"]) expect(tf.getKernel(k, "wasm")).toBeDefined();
  });

  const fixed: [number[], number[], number, "same" | "valid"][] = [
    [[2, 8, 8, 4], [3, 3, 4, 1], 1, "same"], // MobileNet's 3×3 depthwise
    [[2, 9, 9, 4], [3, 3, 4, 1], 2, "same"],
    [[1, 7, 6, 3], [3, 3, 3, 2], 2, "valid"], // channel multiplier 2
    [[3, 5, 7, 2], [2, 4, 2, 3], 1, "same"], // even kernel, multiplier 3
  ];
  it.each(fixed)("x %j filter %j stride %d pad %s: input and filter gradients match cpu", async (xs, fs, stride, pad) => {
    await expectSameGrads([{ data: uniform(size(xs)), shape: xs }, { data: uniform(size(fs)), shape: fs }], (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), `x [${xs}] filter [${fs}]`);
  });

  it("match cpu on 20 random shapes", async () => {
    for (let trial = 0; trial < 20; trial++) {
      const [kh, kw] = [randInt(1, 4), randInt(1, 4)];
      const xs = [randInt(1, 3), randInt(kh, 10), randInt(kw, 10), randInt(1, 5)];
      const fs = [kh, kw, xs[3]!, randInt(1, 3)];
      const strides: [number, number] = [randInt(1, 2), randInt(1, 2)];
      const pad = rng.nextFloat() < 0.5 ? "same" : "valid";
      await expectSameGrads([{ data: uniform(size(xs)), shape: xs }, { data: uniform(size(fs)), shape: fs }], (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad), JSON.stringify({ xs, fs, strides, pad }));
    }
  });
});

describe("pooling gradients with padding on wasm", () => {
  const cases: ["max" | "avg", number[], number, number, "same" | "valid"][] = [
    ["max", [2, 8, 8, 3], 3, 2, "same"], // ResNet's stem pool (ImageNet)
    ["max", [2, 7, 7, 3], 2, 2, "same"],
    ["max", [2, 7, 9, 2], 3, 1, "same"],
    ["max", [2, 7, 7, 3], 2, 2, "valid"], // the last row and column in no window
    ["avg", [2, 8, 8, 3], 3, 2, "same"],
    ["avg", [2, 7, 7, 3], 3, 1, "same"],
    ["avg", [2, 9, 9, 2], 2, 2, "valid"],
  ];
  it.each(cases)("%s pool x %j window %d stride %d pad %s matches cpu", async (kind, xs, window, stride, pad) => {
    const pool = kind === "max" ? tf.maxPool : tf.avgPool;
    await expectSameGrads([{ data: uniform(size(xs)), shape: xs }], (x) => pool(x as tf.Tensor4D, window, stride, pad), `${kind} [${xs}]`);
  });

  it.each([
    [[1, 7, 7, 2], 2, 2, "valid"],
    [[2, 7, 5, 3], 2, 2, "same"],
    [[1, 8, 8, 2], 3, 2, "same"],
    [[1, 6, 9, 1], 3, 1, "same"],
  ] as [number[], number, number, "same" | "valid"][])("max pool x %j window %d stride %d pad %s: each dy goes to its window's maximum (brute force)", async (xs, window, stride, pad) => {
    const x = uniform(size(xs));
    const w = uniform(1 << 12);
    const [got] = await gradsOn("wasm", [{ data: x, shape: xs }], w, (t) => tf.maxPool(t as tf.Tensor4D, window, stride, pad));
    const [B, H, W, C] = xs as [number, number, number, number];
    const info = tf.backend_util.computePool2DInfo(xs as [number, number, number, number], window, stride, 1, pad);
    const want = new Float64Array(size(xs));
    let o = 0;
    for (let b = 0; b < B; b++)
      for (let p = 0; p < info.outHeight; p++)
        for (let q = 0; q < info.outWidth; q++)
          for (let c = 0; c < C; c++, o++) {
            let at = -1;
            for (let i = 0; i < window; i++)
              for (let j = 0; j < window; j++) {
                const [h, v] = [p * stride - info.padInfo.top + i, q * stride - info.padInfo.left + j];
                if (h < 0 || v < 0 || h >= H || v >= W) continue;
                const k = ((b * H + h) * W + v) * C + c;
                if (at < 0 || x[k]! > x[at]!) at = k;
              }
            want[at] = want[at]! + w[o]!;
          }
    expect(maxRelErr(got!, want)).toBeLessThan(1e-6);
  });
});
