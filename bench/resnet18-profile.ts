// Where a ResNet-18-CIFAR minibatch gradient spends its time on the wasm backend as the
// worker sets it up (src/worker/wasm/), from tf.profile: per kernel name, the time, the
// share of all kernel time and the calls, over a few gradients after a warm-up one. Our
// conv-gradient kernels (src/worker/kernels/) run their inner kernels directly, so each
// shows as one kernel.
//
// Kernels whose names end in "__op" are ops with a custom gradient that tf.profile
// records around their kernels (fusedConv2d__op around FusedConv2D): listed, not summed.
// --by-shape adds the conv kernels per shape with their GFLOP/s (2 flops per multiply-add).
//
// Run: npx tsx bench/resnet18-profile.ts [--threads 1] [--padding zeropad|same] [--batch 32] [--gradients 2] [--by-shape]
//      [--filter-gradient taps|forward] [--block-pixels 1024]

import * as tf from "@tensorflow/tfjs";
import { GradientEngine } from "../src/worker/gradients.js";
import { setWasmFilterGradient } from "../src/worker/kernels/conv2d-backprop-filter.js";
import { setupWasm } from "../src/worker/wasm/index.js";
import { RESNET18_CIFAR, resnetSnapshot, syntheticImages, type ResnetPadding } from "./resnet18-model.js";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const threads = Number(opt("--threads", "1"));
const padding = opt("--padding", "zeropad") as ResnetPadding;
const batch = Number(opt("--batch", "32"));
const gradients = Number(opt("--gradients", "2"));
// --filter-gradient forward: the wasm Conv2DBackpropFilter as one forward conv (the construction before per-tap products), to compare.
const filterGradient = opt("--filter-gradient", "taps");
if (filterGradient === "forward") setWasmFilterGradient({ method: "forward" });
else if (filterGradient.startsWith("taps")) setWasmFilterGradient({ method: "taps", blockPixels: Number(opt("--block-pixels", "1024")) });

const setup = await setupWasm(tf, { threads });
const spec = { ...RESNET18_CIFAR, padding };
const engine = await GradientEngine.create(tf, resnetSnapshot(tf, spec), syntheticImages(spec, 256, 5));
const indices = (k: number) => Array.from({ length: batch }, (_, i) => (k * batch + i) % 256);

let t = performance.now();
await engine.minibatchGradient(indices(0)); // warm-up: XNNPACK operators created, memory grown
const warm = performance.now() - t;
t = performance.now();
const profile = await tf.profile(async () => {
  for (let k = 1; k <= gradients; k++) await engine.minibatchGradient(indices(k));
});
const wall = (performance.now() - t) / gradients;
const times = await Promise.all(profile.kernels.map((k) => k.kernelTimeMs));
const byName = new Map<string, { ms: number; calls: number }>();
profile.kernels.forEach((k, i) => {
  const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += Number(times[i]) / gradients;
  e.calls += 1 / gradients;
  byName.set(k.name, e);
});
const total = [...byName.entries()].filter(([n]) => !n.endsWith("__op")).reduce((s, [, e]) => s + e.ms, 0);
process.stdout.write(
  `ResNet-18-CIFAR (${engine.parameterCount} trainable parameters, padding ${padding}), B=${batch}, wasm ${setup.threads} thread(s), SIMD ${setup.simd}\n` +
    `warm-up gradient ${(warm / 1000).toFixed(2)} s; profiled: ${(wall / 1000).toFixed(2)} s per gradient (with the profiler), ${(total / 1000).toFixed(2)} s of it in kernels\n`,
);
for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
  process.stdout.write(`${name.padEnd(28)} ${e.ms.toFixed(0).padStart(7)} ms  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${e.calls.toFixed(0).padStart(4)} calls\n`);
}

/** Multiply-adds × 2 of a conv kernel from its input and output shapes. */
function convFlops(name: string, inputs: number[][], output: number[]): number | null {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (name === "FusedConv2D" || name === "Conv2D") return 2 * size(output) * size(inputs[1]!.slice(0, 3)); // out × KH·KW·C
  if (name === "Conv2DBackpropInput") return 2 * size(inputs[0]!) * size(inputs[1]!.slice(0, 3)); // dy × KH·KW·C
  if (name === "Conv2DBackpropFilter") return 2 * size(inputs[1]!) * size(output.slice(0, 3)); // dy × KH·KW·C
  return null;
}
if (args.includes("--by-shape")) {
  const byShape = new Map<string, { ms: number; calls: number; flops: number }>();
  profile.kernels.forEach((k, i) => {
    const flops = convFlops(k.name, k.inputShapes as number[][], k.outputShapes[0] as number[]);
    if (flops === null) return;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const e = byShape.get(key) ?? { ms: 0, calls: 0, flops };
    e.ms += Number(times[i]) / gradients;
    e.calls += 1 / gradients;
    byShape.set(key, e);
  });
  process.stdout.write("\nconv kernels by shape (per gradient):\n");
  for (const [key, e] of [...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    process.stdout.write(`${e.ms.toFixed(0).padStart(6)} ms ${e.calls.toFixed(0).padStart(2)}×  ${((e.flops * e.calls) / (e.ms * 1e6)).toFixed(1).padStart(5)} GFLOP/s  ${key}\n`);
  }
}
engine.dispose();
