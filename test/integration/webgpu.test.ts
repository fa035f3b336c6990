// The webgpu backend (Dawn through the npm `webgpu` package) against the cpu backend, in
// real runs: a worker process on each, the same config, gradients compared through what
// the coordinator received (every pair's norms and dots, whole network and per tensor)
// and through the mean gradient vector of `return: vectors`. On a machine without a GPU
// Dawn runs on its OpenGL ES backend over Mesa's llvmpipe (scripts/setup.sh installs Mesa's
// EGL where it is missing); the worker must say so ("(software)"). An MLP (dense matmuls)
// and a small CNN (tfjs-webgpu's conv gradients, and ours from forward convolutions),
// looped and grouped.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { subjects } from "../../src/protocol/index.js";
import { readOutcome, runCoordinator, workDir } from "../chaos/harness.js";
import { join, resolve } from "node:path";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";
import { spawnWorker, stopWorkers, waitForHeartbeats } from "../helpers/workers.js";

const EXAMPLE_DATA = resolve("examples/data");

const MODELS = {
  mlp: "{kind: mlp, layers: [784, 32, 10], activation: relu, seed: 3}",
  cnn: "{kind: cnn, input_shape: [28, 28, 1], filters: [4, 8], classes: 10, activation: relu, seed: 3}",
} as const;

function config(prefix: string, model: keyof typeof MODELS): string {
  return `model: ${MODELS[model]}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: 12, batch_size: 16, seed: 5, per_task: 4}
workers: {lease_s: 120, wait_s: 60}
nats: {prefix: ${prefix}}
return: vectors
vector_stats: true
`;
}

interface PairLine {
  pair: number;
  loss: [number, number];
  norm: [number, number];
  dot: number;
}

function pairLines(outDir: string): PairLine[] {
  return readFileSync(join(outDir, "pairs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as PairLine);
}

function meanGradient(outDir: string): Float32Array {
  const bytes = readFileSync(join(outDir, "vector-theta-mean_gradient.f32"));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

describe("the webgpu backend against the cpu backend, through real runs", () => {
  const suite = natsSuite();

  async function run(label: string, model: keyof typeof MODELS, backend: "webgpu" | "cpu", group: "on" | "off", convGrad: "stock" | "forward" = "stock") {
    const prefix = uniquePrefix(label);
    const w = spawnWorker(suite.nats.server.url, prefix, `${label}-w`, ["--backend", backend, "--group", group, "--conv-grad", convGrad]);
    suite.workers.push(w);
    try {
      await waitForHeartbeats(suite.nats.nc, subjects(prefix).heartbeat, [w.id], 60_000);
      await runCoordinator(label, config(prefix, model), suite.nats.server.url);
      const out = join(workDir, label);
      return { out, outcome: readOutcome(out), log: w.output() };
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- worker log ---\n${w.output()}`, { cause: err });
    } finally {
      await stopWorkers([w]);
    }
  }

  for (const model of ["mlp", "cnn"] as const) {
    it(`${model}: every pair's statistics and the mean gradient agree to float32 rounding, looped and grouped`, { timeout: 240_000 }, async () => {
      const cpu = await run(`cpu-${model}`, model, "cpu", "off");
      const variants = [await run(`webgpu-${model}-loop`, model, "webgpu", "off")];
      // Grouping replicates Dense weights; the CNN has a conv layer, so it stays looped there,
      // and is also run with conv gradients built from forward convolutions.
      if (model === "mlp") variants.push(await run(`webgpu-${model}-grouped`, model, "webgpu", "on"));
      else variants.push(await run(`webgpu-${model}-forward`, model, "webgpu", "off", "forward"));
      const reference = pairLines(cpu.out);
      const refMean = meanGradient(cpu.out);
      for (const v of variants) {
        expect(v.log).toMatch(/backend webgpu on .*\(software\)/);
        const lines = pairLines(v.out);
        expect(lines.map((l) => l.pair)).toEqual(reference.map((l) => l.pair));
        let worst = 0;
        lines.forEach((l, i) => {
          const r = reference[i]!;
          for (const k of [0, 1] as const) {
            worst = Math.max(worst, Math.abs(l.loss[k] - r.loss[k]) / Math.abs(r.loss[k]));
            worst = Math.max(worst, Math.abs(l.norm[k] - r.norm[k]) / r.norm[k]);
          }
          // A dot can cancel to near 0: measured against the product of the norms.
          worst = Math.max(worst, Math.abs(l.dot - r.dot) / (r.norm[0] * r.norm[1]));
        });
        const mean = meanGradient(v.out);
        expect(mean.length).toBe(refMean.length);
        let diff = 0;
        let size = 0;
        for (let j = 0; j < mean.length; j++) {
          diff += (mean[j]! - refMean[j]!) ** 2;
          size += refMean[j]! ** 2;
        }
        const meanRel = Math.sqrt(diff / size);
        const how = v.log.includes("grouped (replicated") ? "grouped" : v.log.includes("conv gradients from forward convs") ? "looped, conv gradients from forward convs" : "looped";
        console.log(`[webgpu ${model}] ${how}: worst relative difference of a pair statistic ${worst.toExponential(2)}, of the mean gradient ${meanRel.toExponential(2)} (vs cpu)`);
        expect(worst).toBeLessThan(1e-5);
        expect(meanRel).toBeLessThan(1e-5);
        expect(meanRel).toBeGreaterThan(0); // another backend really computed it
      }
    });
  }
});
