// The depthwise-convolution gradients gradswarm registers on tfjs-backend-wasm
// (src/worker/kernels/depthwise-backprop.ts; wasm has none) against the cpu backend's:
// channel multipliers 1–3, strides, 'same', 'valid' and explicit pads.

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { maxRelErr } from "../helpers/rel-err.js";

const rng = new Rng(20261203, 11);
// (selectBackend registers src/worker/kernels on wasm before the backend starts.)
const random = (n: number) => Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
const CASES: { x: [number, number, number, number]; k: number; m: number; stride: number; pad: Pad }[] = [
  { x: [2, 7, 6, 3], k: 3, m: 1, stride: 1, pad: "same" },
  { x: [3, 8, 9, 4], k: 3, m: 2, stride: 2, pad: "valid" },
  { x: [2, 10, 10, 4], k: 3, m: 2, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { x: [1, 9, 7, 2], k: 5, m: 3, stride: 2, pad: "same" },
];

let worst = 0;
afterAll(() => console.log(`wasm-depthwise.test.ts: largest relative error against cpu ${worst.toExponential(2)}`));

describe.each(CASES)("depthwise $x k$k ×$m stride $stride", ({ x, k, m, stride, pad }) => {
  it("gives the cpu backend's input and filter gradients", async () => {
    const xs = random(x.reduce((a, b) => a * b, 1));
    const ws = random(k * k * x[3] * m);
    await selectBackend(tf, "cpu");
    const outShape = tf.tidy(() => tf.depthwiseConv2d(tf.zeros(x) as tf.Tensor4D, tf.zeros([k, k, x[3], m]) as tf.Tensor4D, stride, pad).shape);
    const probe = random(outShape.reduce((a, b) => a * b, 1));
    const grads = async (backend: "cpu" | "wasm") => {
      await selectBackend(tf, backend);
      const xt = tf.tensor4d(xs, x);
      const wt = tf.tensor4d(ws, [k, k, x[3], m]);
      const pt = tf.tensor(probe, outShape);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), pt)))([xt, wt]);
      const out = [await gx!.data(), await gw!.data()] as Float32Array[];
      tf.dispose([xt, wt, pt, gx!, gw!]);
      return out;
    };
    const cpu = await grads("cpu");
    const wasm = await grads("wasm");
    for (const i of [0, 1]) {
      const e = maxRelErr(wasm[i]!, cpu[i]!);
      worst = Math.max(worst, e);
      expect(e, i === 0 ? "input gradient" : "filter gradient").toBeLessThan(1e-5);
    }
    // The kernels release their intermediates (one-hot, block-diagonal filter, masked sums).
    await grads("wasm");
    const buffers = tf.engine().backend.numDataIds();
    await grads("wasm");
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
  });
});
