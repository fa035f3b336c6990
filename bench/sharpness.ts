// The perturbation measures (src/measures/sharpness/, docs/measures.md §14) on the
// quickstart's model, MLP 784-64-10 (ReLU) on the first 2,048 MNIST digits of
// examples/data, at its initialization and after minibatch SGD training, on the cpu
// backend: each measure's value, evaluations (forward or forward+backward passes) and
// seconds. Prints figures from one run; asserts nothing.
// Run: npx tsx bench/sharpness.ts [--steps N] (default 300 SGD steps of B = 64, lr 0.1)

import { resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadIdxDataset } from "../src/data/idx.js";
import {
  ascentOnModelMinibatch,
  averageRiseOnModelMinibatch,
  epsilonSharpness,
  meanInterval,
  modelObjective,
  onModel,
  pacBayesFlatness,
} from "../src/measures/sharpness/index.js";
import { mlpSnapshot } from "../src/model/mlp.js";
import { Rng } from "../src/util/rng.js";
import { selectBackend } from "../src/worker/backend.js";
import { GradientEngine } from "../src/worker/gradients.js";

const args = process.argv.slice(2);
const steps = args.includes("--steps") ? Number(args[args.indexOf("--steps") + 1]) : 300;
const N = 2048;

const fmt = (x: number) => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toPrecision(4));

async function timed<T>(label: string, fn: () => Promise<T>, show: (r: T) => string): Promise<void> {
  const t0 = performance.now();
  const r = await fn();
  console.log(`  ${label.padEnd(44)} ${show(r)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

async function measure(engine: GradientEngine, label: string): Promise<void> {
  const all = Array.from({ length: N }, (_, i) => i);
  const full = modelObjective(engine, all);
  const { loss, accuracy } = await engine.lossAt(all);
  console.log(`${label}: L = ${fmt(loss)}, accuracy ${fmt(accuracy)} on the ${N} examples`);
  for (const epsilon of [1e-3, 1e-2]) {
    await timed(`ε-sharpness full space, ε = ${epsilon}`, () => onModel(engine, (t) => epsilonSharpness(full, t, { epsilon, maxEvaluations: 20 })), (r) => `${fmt(r.sharpness)}  (rise ${fmt(r.rise)}, ${r.evaluations} evals, stop ${r.stop})`);
    await timed(`ε-sharpness subspace k = 10, ε = ${epsilon}`, () => onModel(engine, (t) => epsilonSharpness(full, t, { epsilon, maxEvaluations: 20, subspace: { k: 10, seed: 1 } })), (r) => `${fmt(r.sharpness)}  (rise ${fmt(r.rise)}, ${r.evaluations} evals, stop ${r.stop})`);
  }
  for (const magnitude of [undefined, { epsilon: 1e-3 }]) {
    const name = magnitude ? "magnitude-aware" : "isotropic";
    await timed(`PAC-Bayes 1/σ², ${name}, d = 0.1 loss, M = 8`, () => onModel(engine, (t) => pacBayesFlatness(full.value, t, { target: 0.1, samples: 8, seed: 1, tolerance: 1e-2, ...(magnitude ? { magnitude } : {}) })), (r) =>
      r.resolved ? `${fmt(r.inverseSigmaSq)}  [${fmt(r.inverseSigmaSqCi95[0])}, ${fmt(r.inverseSigmaSqCi95[1])}]  (σ ${fmt(r.sigma)}, ${r.evaluations} evals)` : `unresolved: ${r.reason}`);
  }
  const rng = new Rng(3, 0);
  const batches = Array.from({ length: 16 }, () => rng.sampleWithoutReplacement(N, 128));
  for (const [norm, rho] of [["l2", 0.1], ["linf", 0.01]] as const) {
    await timed(`adaptive ${norm} worst case, ρ = ${rho}, m = 128, 16 b`, async () => {
      const rises: number[] = [];
      let evals = 0;
      for (const [b, indices] of batches.entries()) {
        const r = await ascentOnModelMinibatch(engine, indices, { rho, floor: 1e-3, norm, maxEvaluations: 10, seed: 2, stream: b });
        rises.push(r.rise);
        evals += r.evaluations;
      }
      return { est: meanInterval(rises), evals };
    }, ({ est, evals }) => `${fmt(est.mean)} ± ${fmt(est.ci95[1] - est.mean)}  (${evals} evals)`);
  }
  await timed(`adaptive average case, ρ = 0.1, M = 8, 16 b`, async () => {
    const rises: number[] = [];
    for (const [b, indices] of batches.entries()) rises.push((await averageRiseOnModelMinibatch(engine, indices, { rho: 0.1, floor: 1e-3, samples: 8, seed: 2, stream: b })).rise);
    return meanInterval(rises);
  }, (est) => `${fmt(est.mean)} ± ${fmt(est.ci95[1] - est.mean)}  (${16 * 17} evals)`);
}

await selectBackend(tf, "cpu");
const ds = await loadIdxDataset(resolve("examples/data/images-idx3-ubyte"), resolve("examples/data/labels-idx1-ubyte"), { limit: N });
const engine = await GradientEngine.create(tf, mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" }), ds);
await measure(engine, "initialization");
const theta = await engine.trainableVector();
const rng = new Rng(4, 0);
for (let s = 0; s < steps; s++) {
  const g = await engine.gradientOver(rng.sampleWithoutReplacement(N, 64));
  for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - 0.1 * g[i]!;
  engine.setTrainable(theta);
}
await measure(engine, `after ${steps} SGD steps (B = 64, lr 0.1)`);
engine.dispose();
