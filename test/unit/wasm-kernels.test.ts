// The wasm kernels of src/worker/kernels/ (BatchMatMul and _FusedMatMul through XNNPACK,
// Conv2DBackpropFilter and Conv2DBackpropInput from forward convolutions) against the
// cpu backend on random shapes: transposes, batches, broadcasting, strides, paddings.
// Each reference is computed on cpu first from the same float32 values, then the kernel
// runs on wasm.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/util/rng.js";
import { backpropFilter, caseName, CONV_CASES, randomConvCase, type ConvCase } from "../helpers/conv-cases.js";
import { BLOCK_PIXELS, setWasmFilterGradient } from "../../src/worker/kernels/conv2d-backprop-filter.js";
import { maxRelErr } from "../helpers/rel-err.js";
import { ConvGradientError } from "../../src/worker/kernels/conv-by-forward.js";
import { setupWasm, type WasmSetup } from "../../src/worker/wasm/index.js";

let setup: WasmSetup;
const rng = new Rng(20240611, 3);

beforeAll(async () => {
  setup = await setupWasm(tf);
});

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.nextFloat() * 2 - 1;
  return a;
}

function randInt(lo: number, hi: number): number {
  return lo + Math.floor(rng.nextFloat() * (hi - lo + 1));
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** After a warm-up call, 10 more calls of `run` leave the tensor and wasm buffer counts as they were. */
function expectNoLeak(run: () => tf.Tensor): void {
  run().dispose();
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  for (let i = 0; i < 10; i++) run().dispose();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.engine().backend.numDataIds()).toBe(buffers);
}

/** f on cpu then on wasm, on tensors made from the same arrays; both results' data. */
async function onBoth(inputs: { data: Float32Array; shape: number[] }[], f: (...ts: tf.Tensor[]) => tf.Tensor): Promise<{ cpu: Float32Array; wasm: Float32Array; shape: number[] }> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const ts = inputs.map((i) => tf.tensor(i.data, i.shape, "float32"));
    const out = f(...ts);
    const data = (await out.data()) as Float32Array;
    const shape = out.shape;
    tf.dispose([...ts, out]);
    return { data, shape };
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  expect(wasm.shape).toEqual(cpu.shape);
  return { cpu: cpu.data, wasm: wasm.data, shape: wasm.shape };
}

describe("setupWasm", () => {
  it("registers the kernels on wasm and reports threads and SIMD", async () => {
    expect(tf.getBackend()).toBe("wasm");
    expect(setup.simd).toBe(true);
    expect(setup.threads).toBeGreaterThanOrEqual(1);
    for (const k of ["BatchMatMul", "_FusedMatMul", "Conv2DBackpropFilter", "Conv2DBackpropInput"]) {
      expect(tf.getKernel(k, "wasm")).toBeDefined();
    }
    // A second call changes nothing and reports the same.
    const again = await setupWasm(tf);
    expect(again.threads).toBe(setup.threads);
    expect(again.fixes.filter((f) => !f.startsWith("threads"))).toEqual([]);
  });
});

describe("BatchMatMul on wasm", () => {
  const fixed: [number[], number[], boolean, boolean][] = [
    // The gradient matmuls of a dense layer 784→256 at B=64.
    [[64, 784], [784, 256], false, false],
    [[64, 256], [784, 256], false, true],
    [[64, 784], [64, 256], true, false],
    [[784, 64], [256, 784], true, true],
    // Batches: A only, B only, both, broadcast ones, rank 4.
    [[3, 37, 41], [41, 29], false, false],
    [[3, 41, 37], [29, 41], true, true],
    [[37, 41], [4, 41, 29], false, false],
    [[41, 37], [4, 29, 41], true, true],
    [[5, 40, 50], [5, 50, 60], false, false],
    [[5, 50, 40], [5, 60, 50], true, true],
    [[1, 40, 50], [3, 60, 50], false, true],
    [[2, 3, 40, 50], [2, 3, 50, 60], false, false],
    [[2, 3, 40, 50], [1, 1, 60, 50], false, true],
    // Small per-matrix products (left to the original kernel), vectors, 1-sized dims.
    [[6, 3, 4], [6, 4, 5], false, false],
    [[1, 7], [7, 1], false, false],
    [[7, 1], [7, 9], true, false],
    [[9, 1], [9, 7], true, false],
  ];
  it.each(fixed)("A %j × B %j (transposeA %s, transposeB %s) matches cpu", async (sa, sb, ta, tb) => {
    const { cpu, wasm } = await onBoth(
      [
        { data: randomArray(size(sa)), shape: sa },
        { data: randomArray(size(sb)), shape: sb },
      ],
      (a, b) => tf.matMul(a!, b!, ta, tb),
    );
    expect(maxRelErr(wasm, cpu)).toBeLessThan(1e-5);
  });

  it("matches cpu on 40 random shapes and flags", async () => {
    for (let trial = 0; trial < 40; trial++) {
      const m = randInt(1, 90);
      const k = randInt(1, 90);
      const n = randInt(1, 90);
      const ta = rng.nextFloat() < 0.5;
      const tb = rng.nextFloat() < 0.5;
      const kind = randInt(0, 3); // 0: 2-D, 1: A batched, 2: B batched, 3: both
      const batch = randInt(2, 4);
      const aBatch = kind === 1 || kind === 3 ? [batch] : [];
      const bBatch = kind === 2 || kind === 3 ? [batch] : [];
      const sa = [...aBatch, ...(ta ? [k, m] : [m, k])];
      const sb = [...bBatch, ...(tb ? [n, k] : [k, n])];
      const { cpu, wasm } = await onBoth(
        [
          { data: randomArray(size(sa)), shape: sa },
          { data: randomArray(size(sb)), shape: sb },
        ],
        (a, b) => tf.matMul(a!, b!, ta, tb),
      );
      expect(maxRelErr(wasm, cpu), JSON.stringify({ sa, sb, ta, tb })).toBeLessThan(1e-5);
    }
  });

  it("broadcasts both batch shapes ([2,1] × [1,3]) correctly, checked in float64", async () => {
    // tfjs's own cpu and wasm kernels get this case wrong (they size the output by the larger
    // batch), so the reference is a plain float64 loop.
    const [m, k, n] = [20, 30, 25];
    const a = randomArray(2 * m * k);
    const b = randomArray(3 * n * k);
    await tf.setBackend("wasm");
    const out = tf.matMul(tf.tensor(a, [2, 1, m, k]), tf.tensor(b, [1, 3, n, k]), false, true);
    expect(out.shape).toEqual([2, 3, m, n]);
    const got = (await out.data()) as Float32Array;
    const want = new Float64Array(2 * 3 * m * n);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let r = 0; r < m; r++)
          for (let c = 0; c < n; c++) {
            let s = 0;
            for (let t = 0; t < k; t++) s += a[(i * m + r) * k + t]! * b[(j * n + c) * k + t]!;
            want[((i * 3 + j) * m + r) * n + c] = s;
          }
    expect(maxRelErr(got, want)).toBeLessThan(1e-5);
    tf.dispose(out);
  });

  it("fused matMul with bias and relu and transposes matches cpu", async () => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as [boolean, boolean][]) {
      const [m, k, n] = [33, 47, 21];
      const sa = ta ? [k, m] : [m, k];
      const sb = tb ? [n, k] : [k, n];
      const { cpu, wasm } = await onBoth(
        [
          { data: randomArray(size(sa)), shape: sa },
          { data: randomArray(size(sb)), shape: sb },
          { data: randomArray(n), shape: [n] },
        ],
        (a, b, bias) => tf.fused.matMul({ a: a!, b: b!, transposeA: ta, transposeB: tb, bias, activation: "relu" }),
      );
      expect(maxRelErr(wasm, cpu), `transposeA ${ta} transposeB ${tb}`).toBeLessThan(1e-5);
    }
  });

  it("leaves no tensors or wasm buffers behind", async () => {
    await tf.setBackend("wasm");
    const a = tf.tensor(randomArray(4 * 30 * 40), [4, 30, 40]);
    const b = tf.tensor(randomArray(4 * 50 * 40), [4, 50, 40]);
    const w = tf.tensor(randomArray(50 * 40), [50, 40]);
    const run = () => tf.tidy(() => tf.sum(tf.add(tf.matMul(a, b, false, true), tf.sum(tf.matMul(a, w, false, true)))));
    expectNoLeak(run);
    tf.dispose([a, b, w]);
  });
});

describe("Conv2D gradients on wasm", () => {
  it.each(CONV_CASES.map((c) => [caseName(c), c] as const))("Conv2DBackpropFilter %s matches cpu", async (_name, c) => {
    const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape);
    const { cpu, wasm } = await onBoth(
      [
        { data: randomArray(size(c.x)), shape: c.x },
        { data: randomArray(size(yShape)), shape: yShape },
      ],
      (x, dy) => backpropFilter(x!, dy!, c.filter, c.strides, c.pad),
    );
    expect(maxRelErr(wasm, cpu)).toBeLessThan(1e-5);
  });

  it.each(CONV_CASES.map((c) => [caseName(c), c] as const))("Conv2DBackpropInput %s matches cpu", async (_name, c) => {
    const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape);
    const { cpu, wasm } = await onBoth(
      [
        { data: randomArray(size(yShape)), shape: yShape },
        { data: randomArray(size(c.filter)), shape: c.filter },
      ],
      (dy, w) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, c.x, c.strides, c.pad),
    );
    expect(maxRelErr(wasm, cpu)).toBeLessThan(1e-5);
  });

  // ResNet-shaped filter gradients (the per-tap products of conv2d-backprop-filter.ts):
  // more output pixels than one block (blocks that start mid-image), stride 2 with
  // PyTorch's pads, a 1×1 stride-2 shortcut, and a 'same' 3×3 with tens of channels.
  const RESNET_CASES: ConvCase[] = [
    { x: [5, 16, 16, 8], filter: [3, 3, 8, 16], strides: 1, pad: "same" },
    { x: [3, 16, 16, 16], filter: [3, 3, 16, 32], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
    { x: [3, 16, 16, 16], filter: [1, 1, 16, 32], strides: 2, pad: "valid" },
    { x: [2, 8, 8, 64], filter: [3, 3, 64, 64], strides: 1, pad: "same" },
  ];
  it.each(RESNET_CASES.map((c) => [caseName(c), c] as const))("Conv2DBackpropFilter %s (ResNet shapes, blocks of 64 and 1024 pixels) matches cpu", async (_name, c) => {
    const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape);
    const inputs = [
      { data: randomArray(size(c.x)), shape: c.x },
      { data: randomArray(size(yShape)), shape: yShape },
    ];
    for (const blockPixels of [64, BLOCK_PIXELS]) {
      setWasmFilterGradient({ method: "taps", blockPixels });
      try {
        const { cpu, wasm } = await onBoth(inputs, (x, dy) => backpropFilter(x!, dy!, c.filter, c.strides, c.pad));
        expect(maxRelErr(wasm, cpu), `blocks of ${blockPixels}`).toBeLessThan(1e-5);
      } finally {
        setWasmFilterGradient({ method: "taps", blockPixels: BLOCK_PIXELS });
      }
    }
  });

  it("matches cpu on random convolutions", async () => {
    for (let trial = 0; trial < 20; trial++) {
      const { x, filter, strides, pad } = randomConvCase(rng);
      const yShape = tf.tidy(() => tf.conv2d(tf.zeros(x) as tf.Tensor4D, tf.zeros(filter) as tf.Tensor4D, strides, pad).shape);
      const label = JSON.stringify({ x, filter, strides, pad });
      const dW = await onBoth(
        [
          { data: randomArray(size(x)), shape: x },
          { data: randomArray(size(yShape)), shape: yShape },
        ],
        (xt, dy) => backpropFilter(xt!, dy!, filter, strides, pad),
      );
      expect(maxRelErr(dW.wasm, dW.cpu), label).toBeLessThan(1e-5);
      const dx = await onBoth(
        [
          { data: randomArray(size(yShape)), shape: yShape },
          { data: randomArray(size(filter)), shape: filter },
        ],
        (dy, w) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, x, strides, pad),
      );
      expect(maxRelErr(dx.wasm, dx.cpu), label).toBeLessThan(1e-5);
    }
  });

  it("gives a clear error for what it does not support", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([1, 3, 6, 6]) as tf.Tensor4D; // NCHW
    const dy = tf.zeros([1, 2, 4, 4]) as tf.Tensor4D;
    expect(() => backpropFilter(x, dy, [3, 3, 3, 2], 1, "valid", "NCHW")).toThrow(ConvGradientError);
    expect(() => backpropFilter(x, dy, [3, 3, 3, 2], 1, "valid", "NCHW")).toThrow(/NHWC/);
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: tf.zeros([3, 3, 3, 2]) }, { strides: 1, pad: "valid", dataFormat: "NCHW", inputShape: [1, 3, 6, 6] } as unknown as tf.NamedAttrMap),
    ).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });

  it("leaves no tensors or wasm buffers behind", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor(randomArray(4 * 9 * 9 * 3), [4, 9, 9, 3]) as tf.Tensor4D;
    const w = tf.tensor(randomArray(3 * 3 * 3 * 5), [3, 3, 3, 5]) as tf.Tensor4D;
    const run = () =>
      tf.tidy(() => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same")))([x, w]);
        return tf.addN(g.map((t) => tf.sum(t)));
      });
    expectNoLeak(run);
    tf.dispose([x, w]);
  });
});
