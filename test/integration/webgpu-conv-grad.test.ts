// Conv gradients on webgpu built from forward convolutions (--conv-grad forward,
// src/worker/kernels/conv2d-backprop-*.ts on the webgpu backend's kernels) against the cpu
// backend: the kernels on the shapes the wasm tests use and on random ones, a whole conv
// layer's gradients through tf.grads, and no tensors or GPU buffers left behind. Runs on
// Dawn's OpenGL ES path here, so it checks correctness; speed is for a GPU (bench/worker.ts).

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { backpropFilter, caseName, CONV_CASES, randomConvCase } from "../helpers/conv-cases.js";
import { maxRelErr } from "../helpers/rel-err.js";

process.env.EGL_PLATFORM ??= "surfaceless";
const rng = new Rng(20261127, 5);

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.nextFloat() * 2 - 1;
  return a;
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** f on cpu, then on webgpu, from the same arrays: max relative difference. */
async function cpuVsWebgpu(inputs: { data: Float32Array; shape: number[] }[], f: (...ts: tf.Tensor[]) => tf.Tensor): Promise<number> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const ts = inputs.map((i) => tf.tensor(i.data, i.shape, "float32"));
    const out = f(...ts);
    const data = (await out.data()) as Float32Array;
    tf.dispose([...ts, out]);
    return data;
  };
  const cpu = await run("cpu");
  return maxRelErr(await run("webgpu"), cpu);
}

const yShapeOf = (x: [number, number, number, number], filter: [number, number, number, number], strides: number | [number, number], pad: (typeof CONV_CASES)[number]["pad"]) =>
  tf.tidy(() => tf.conv2d(tf.zeros(x) as tf.Tensor4D, tf.zeros(filter) as tf.Tensor4D, strides, pad).shape as number[]);

describe("conv gradients from forward convolutions on webgpu", () => {
  beforeAll(async () => {
    const info = await selectBackend(tf, "webgpu", { convGrad: "forward" });
    expect(info.device).toContain("conv gradients from forward convs");
    await tf.setBackend("cpu");
  }, 60_000);

  it.each(CONV_CASES.map((c) => [caseName(c), c] as const))("%s: both kernels match cpu", async (_name, c) => {
    const yShape = yShapeOf(c.x, c.filter, c.strides, c.pad);
    const dW = await cpuVsWebgpu(
      [
        { data: randomArray(size(c.x)), shape: c.x },
        { data: randomArray(size(yShape)), shape: yShape },
      ],
      (x, dy) => backpropFilter(x!, dy!, c.filter, c.strides, c.pad),
    );
    const dx = await cpuVsWebgpu(
      [
        { data: randomArray(size(yShape)), shape: yShape },
        { data: randomArray(size(c.filter)), shape: c.filter },
      ],
      (dy, w) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, c.x, c.strides, c.pad),
    );
    expect(dW).toBeLessThan(1e-5);
    expect(dx).toBeLessThan(1e-5);
  });

  it("matches cpu on random convolutions", async () => {
    for (let trial = 0; trial < 10; trial++) {
      const { x, filter, strides, pad } = randomConvCase(rng);
      const yShape = yShapeOf(x, filter, strides, pad);
      const label = JSON.stringify({ x, filter, strides, pad });
      const dW = await cpuVsWebgpu(
        [
          { data: randomArray(size(x)), shape: x },
          { data: randomArray(size(yShape)), shape: yShape },
        ],
        (xt, dy) => backpropFilter(xt!, dy!, filter, strides, pad),
      );
      expect(dW, label).toBeLessThan(1e-5);
      const dx = await cpuVsWebgpu(
        [
          { data: randomArray(size(yShape)), shape: yShape },
          { data: randomArray(size(filter)), shape: filter },
        ],
        (dy, w) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, x, strides, pad),
      );
      expect(dx, label).toBeLessThan(1e-5);
    }
  });

  it("a conv layer's gradients through tf.grads match cpu, and leave nothing behind", async () => {
    const xs = { data: randomArray(4 * 9 * 9 * 3), shape: [4, 9, 9, 3] };
    const ws = { data: randomArray(3 * 3 * 3 * 5), shape: [3, 3, 3, 5] };
    const grads = (x: tf.Tensor, w: tf.Tensor) =>
      tf.tidy(() => {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"))))([x, w]);
        return tf.concat([gx!.flatten(), gw!.flatten()]);
      });
    expect(await cpuVsWebgpu([xs, ws], grads)).toBeLessThan(1e-5);
    await tf.setBackend("webgpu");
    const x = tf.tensor(xs.data, xs.shape);
    const w = tf.tensor(ws.data, ws.shape);
    const warm = grads(x, w);
    await warm.data();
    warm.dispose();
    const before = tf.memory();
    for (let r = 0; r < 10; r++) {
      const g = grads(x, w);
      await g.data();
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
    tf.dispose([x, w]);
  });
});
