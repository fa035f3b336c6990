// tf.addN on the webgpu backend (Dawn's OpenGL ES path here, as on a GPU host): the stock
// kernel binds every input to one shader and returns zeros past the device's storage-buffer
// limit (8 per stage by default); src/worker/kernels/add-n.ts chunks it. Sums of 1 to 40
// tensors against float64, no tensors or GPU buffers left behind.

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/worker/backend.js";
import { addNInputsPerShader } from "../../src/worker/kernels/add-n.js";

// Dawn reads it when it loads: set before selectBackend imports the npm package webgpu.
process.env.EGL_PLATFORM ??= "surfaceless";

describe("tf.addN on webgpu", () => {
  let perShader = 0;

  beforeAll(async () => {
    const info = await selectBackend(tf, "webgpu");
    expect(info.backend).toBe("webgpu");
    // A software adapter (Dawn's OpenGL ES path, here) is no GPU: `--group auto` stays off on it.
    expect(info.gpu).toBe(!info.device.includes("(software)"));
    perShader = addNInputsPerShader(tf.backend() as unknown as Parameters<typeof addNInputsPerShader>[0]);
  }, 60_000);

  it("the device limits one shader to a few inputs (what the chunking is for)", () => {
    expect(perShader).toBeGreaterThanOrEqual(2);
    expect(perShader).toBeLessThan(32);
  });

  it("sums 1 to 40 tensors exactly as float64 does (small integers), past the per-shader limit", async () => {
    for (let n = 1; n <= 40; n++) {
      const inputs = Array.from({ length: n }, (_, i) => tf.tensor1d(Array.from({ length: 257 }, (_, j) => ((i * 7 + j) % 11) - 5)));
      const sum = tf.addN(inputs);
      const got = await sum.data();
      const want = Array.from({ length: 257 }, (_, j) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += ((i * 7 + j) % 11) - 5;
        return s;
      });
      expect(Array.from(got), `${n} inputs`).toEqual(want);
      tf.dispose([...inputs, sum]);
    }
  });

  it("leaves no tensor and no GPU buffer behind over repeated sums of 33 inputs", async () => {
    const inputs = Array.from({ length: 33 }, (_, i) => tf.fill([64, 3], i));
    const warm = tf.addN(inputs);
    await warm.data();
    warm.dispose();
    const before = tf.memory();
    for (let r = 0; r < 20; r++) {
      const s = tf.addN(inputs);
      expect((await s.data())[0]).toBe((32 * 33) / 2);
      s.dispose();
    }
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    tf.dispose(inputs);
  });
});
