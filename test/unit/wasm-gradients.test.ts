// Whole-model gradients on the wasm backend as setupWasm sets it up (XNNPACK matmuls,
// conv gradients from forward convolutions, threads) against the cpu backend: an MLP
// 784-256-256-10 and a small CNN at batch 64, the same weights and data on both. Also:
// no tensors left behind over repeated gradients, the device string, and child processes
// on 1 and 2 threads: the same bits, and the threaded one exits by itself.

import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { activeWasmThreads, MAX_WASM_THREADS, setupWasm, setWasmThreads, threadsFailure, type WasmSetup } from "../../src/worker/wasm/index.js";
import { maxRelErr } from "../helpers/rel-err.js";

const BATCH = 64;
const CLASSES = 10;
let setup: WasmSetup;
const observed: string[] = [];

beforeAll(async () => {
  setup = await setupWasm(tf);
});

afterAll(() => {
  console.log(`wasm-gradients.test.ts (wasm: ${setup.threads} thread(s), SIMD ${setup.simd}):\n  ${observed.join("\n  ")}`);
});

function mlp(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [784], units: 256, activation: "relu" }));
  m.add(tf.layers.dense({ units: 256, activation: "relu" }));
  m.add(tf.layers.dense({ units: CLASSES }));
  return m;
}

function cnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.reshape({ inputShape: [784], targetShape: [28, 28, 1] }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", padding: "same" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu", padding: "valid", strides: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: CLASSES }));
  return m;
}

/** Weights for `build`'s model: uniform in ±sqrt(3/fan_in)-ish, biases small, all seeded. */
function weightsFor(build: () => tf.Sequential, seed: number): { shape: number[]; data: Float32Array }[] {
  const rng = new Rng(seed, 1);
  const model = build();
  const out = model.getWeights().map((w) => {
    const fanIn = w.shape.length > 1 ? w.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
    const scale = w.shape.length > 1 ? Math.sqrt(6 / fanIn) : 0.05;
    const data = new Float32Array(w.size);
    for (let i = 0; i < data.length; i++) data[i] = (rng.nextFloat() * 2 - 1) * scale;
    return { shape: w.shape, data };
  });
  model.dispose();
  return out;
}

function batchFor(seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed, 2);
  const x = new Float32Array(BATCH * 784);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat();
  const y = new Float32Array(BATCH * CLASSES);
  for (let r = 0; r < BATCH; r++) y[r * CLASSES + rng.nextInt(CLASSES)] = 1;
  return { x, y };
}

/** The loss GradientEngine differentiates: mean softmax cross-entropy of the logits. */
function gradientFn(model: tf.Sequential, vars: tf.Variable[], xb: tf.Tensor, yb: tf.Tensor) {
  return async (): Promise<{ loss: number; grads: Float32Array[] }> => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(xb, { training: false }) as tf.Tensor;
      return tf.neg(tf.mean(tf.sum(tf.mul(yb, tf.logSoftmax(logits)), -1))) as tf.Scalar;
    }, vars);
    try {
      const arrays: Float32Array[] = [];
      for (const v of vars) arrays.push((await grads[v.name]!.data()) as Float32Array);
      return { loss: (await value.data())[0]!, grads: arrays };
    } finally {
      value.dispose();
      tf.dispose(Object.values(grads));
    }
  };
}

/** Builds the model on `backend` with the given weights and runs `body` with its gradient. */
async function withModel<T>(
  backend: string,
  build: () => tf.Sequential,
  weights: { shape: number[]; data: Float32Array }[],
  data: { x: Float32Array; y: Float32Array },
  body: (grad: () => Promise<{ loss: number; grads: Float32Array[] }>) => Promise<T>,
): Promise<T> {
  await tf.setBackend(backend);
  const model = build();
  const ws = weights.map((w) => tf.tensor(w.data, w.shape, "float32"));
  model.setWeights(ws);
  tf.dispose(ws);
  const xb = tf.tensor2d(data.x, [BATCH, 784]);
  const yb = tf.tensor2d(data.y, [BATCH, CLASSES]);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  try {
    return await body(gradientFn(model, vars, xb, yb));
  } finally {
    tf.dispose([xb, yb]);
    model.dispose();
  }
}

describe.each([
  ["MLP 784-256-256-10", mlp, 11],
  ["CNN conv3x3x8 same, pool 2, conv3x3x16 valid stride 2, dense 10", cnn, 12],
] as const)("%s gradient at batch 64 on wasm", (name, build, seed) => {
  it("equals the cpu backend's to 1e-4 relative, per weight tensor", async () => {
    const weights = weightsFor(build, seed);
    const data = batchFor(seed);
    const ref = await withModel("cpu", build, weights, data, (grad) => grad());
    const got = await withModel("wasm", build, weights, data, (grad) => grad());
    expect(got.grads.length).toBe(ref.grads.length);
    expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);
    let worst = 0;
    got.grads.forEach((g, w) => {
      expect(g.length).toBe(ref.grads[w]!.length);
      const e = maxRelErr(g, ref.grads[w]!);
      worst = Math.max(worst, e);
      expect(e, `weight ${w} [${weights[w]!.shape}]`).toBeLessThan(1e-4);
      expect(ref.grads[w]!.some((v) => v !== 0), `weight ${w} has a zero gradient`).toBe(true);
    });
    observed.push(`${name}: largest relative error vs cpu ${worst.toExponential(2)}`);
  });

  it("leaves no tensors behind over repeated gradients, and reports its speed", async () => {
    const weights = weightsFor(build, seed);
    const data = batchFor(seed);
    await withModel("wasm", build, weights, data, async (grad) => {
      await grad();
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      const t0 = performance.now();
      const reps = 10;
      for (let i = 0; i < reps; i++) await grad();
      const ms = (performance.now() - t0) / reps;
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      observed.push(`${name}: ${ms.toFixed(1)} ms per gradient at B=${BATCH} (${Math.round((BATCH * 1000) / ms)} examples/s; shared machine, indicative)`);
    });
  });
});

describe("wasm threads", () => {
  it("runs min(os.cpus().length, 8) threads (2 on a 2-core machine) when not told a count", () => {
    const want = Math.min(cpus().length, MAX_WASM_THREADS);
    expect(threadsFailure()).toBeNull();
    expect(setup.threads).toBe(want);
    expect(activeWasmThreads()).toBe(want);
    // XNNPACK's pool is fixed once the backend runs.
    if (want > 1) expect(() => setWasmThreads(1)).toThrow(/already runs with/);
    expect(() => setWasmThreads(want)).not.toThrow();
  });

  it("selectBackend('wasm') reports SIMD and the threads in the device string", async () => {
    const info = await selectBackend(tf, "wasm");
    expect(info.backend).toBe("wasm");
    const n = setup.threads;
    expect(info.device).toBe(`CPU (wasm, SIMD, ${n} thread${n === 1 ? "" : "s"})`);
  });

  /** Runs a child Node process (through tsx) that sets up wasm with `threads` threads. */
  async function child(threads: number): Promise<{ threads: number; loss: number; sha256: string }> {
    const dir = await mkdtemp(join(tmpdir(), "gradswarm-wasm-child-"));
    try {
      const script = join(dir, "main.mts");
      await writeFile(
        script,
        [
          `import { createHash } from "node:crypto";`,
          `import { createRequire } from "node:module";`,
          `const require = createRequire(${JSON.stringify(resolve("package.json"))});`,
          `const tf = require("@tensorflow/tfjs");`,
          `const { setupWasm, setWasmThreads } = await import(${JSON.stringify(resolve("src/worker/wasm/index.ts"))});`,
          `console.warn = () => {};`,
          `setWasmThreads(${threads});`,
          `const r = await setupWasm(tf);`,
          // An MLP 784-256-10 gradient at B=128 from seeded tensors.
          `const w1 = tf.variable(tf.randomNormal([784, 256], 0, 0.05, "float32", 1));`,
          `const w2 = tf.variable(tf.randomNormal([256, 10], 0, 0.05, "float32", 2));`,
          `const x = tf.randomUniform([128, 784], 0, 1, "float32", 3);`,
          `const y = tf.oneHot(tf.randomUniform([128], 0, 10, "int32", 4), 10).toFloat();`,
          `const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(tf.matMul(tf.relu(tf.matMul(x, w1)), w2))), -1))), [w1, w2]);`,
          `const hash = createHash("sha256");`,
          `for (const v of [w1, w2]) hash.update(new Uint8Array((await grads[v.name].data()).buffer));`,
          `console.log(JSON.stringify({ threads: r.threads, loss: (await value.data())[0], sha256: hash.digest("hex") }));`,
          // Nothing is disposed and nothing stops the pool: the process must end by itself.
        ].join("\n"),
      );
      const run = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: resolve("."), encoding: "utf8", timeout: 60_000 });
      expect(run.error, run.stderr).toBeUndefined();
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { threads: number; loss: number; sha256: string };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it("a process on 2 threads exits by itself, with gradients bit-identical to 1 thread's", async () => {
    const one = await child(1);
    const two = await child(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(Number.isFinite(two.loss)).toBe(true);
    // XNNPACK splits a product's outputs between threads, never a sum: the same float32.
    expect(two.sha256).toBe(one.sha256);
    expect(two.loss).toBe(one.loss);
  });
});
