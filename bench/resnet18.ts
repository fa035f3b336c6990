// ResNet-18-CIFAR minibatch gradients per second in a CPU worker's compute setup, against
// PyTorch on the same machine in the same run (issue 11, "A ResNet end to end": goal ≥ 0.2×
// PyTorch on CPU). The model (11.2M parameters, BatchNorm in its inference form): see
// "Model" below. Ours runs through
// the worker's own ComputePool on the wasm backend, in the two ways src/worker/thread-plan.ts
// can use 2 cores:
//   1 × 2    one compute thread whose XNNPACK runs on 2 wasm threads
//   2 × 1    two compute threads (the CPU worker's default), one wasm thread each, each
//            taking half of every task's pairs
// Each task is pairs of minibatches of 32 (2 gradients a pair, plus their statistics,
// counted against us); a warm-up task first (XNNPACK operators made, memory grown), then
// one timed task of --pairs pairs. PyTorch: bench/torch-resnet18.py, 2 threads, eval-mode
// BatchNorm, float32, the same B; a torch on the reference BLAS gets no ratio
// (bench/torch-blas.ts; its convolutions run on oneDNN where torch has it, which it says).
// PyTorch runs after each setup's rows and their ratios are taken against that run: on a
// shared machine the load drifts within minutes (one run here saw PyTorch's rate halve
// between the start and the end of our rows). With --rounds N the table gives the median
// and range over rounds.
//
// Model: by default the one users run, PyTorch's exported as ONNX and converted by
// src/model/onnx ("onnx": 'same' for the stride-1 3×3 convs, ZeroPadding2D before the
// stride-2 ones), the peer timing the same module; --model hand: resnet18-model.ts.
//
// Run: npm run build && npx tsx bench/resnet18.ts [--pairs 2] [--rounds 1] [--model onnx|hand] [--paddings zeropad,same] [--skip-torch]
// About 4 minutes a round on 2 cores.

import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { planPair } from "../src/coordinator/sampler.js";
import { datasetHash, datasetToBundleBytes } from "../src/data/bundle.js";
import { encodeSnapshot, sha256Hex } from "../src/model/snapshot.js";
import { ComputePool } from "../src/worker/compute-pool.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { readOnnxModel } from "../src/model/onnx/convert.js";
import { RESNET18_CIFAR, resnetSnapshot, syntheticImages, type ResnetPadding } from "./resnet18-model.js";
import { describeBlas, peerRefusal, torchBlas } from "./torch-blas.js";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const pairsTimed = Number(opt("--pairs", "2"));
const roundCount = Number(opt("--rounds", "1"));
const skipTorch = args.includes("--skip-torch");
// --model onnx (the default with torch): torch-resnet18.py exports its seeded model as
// ONNX and src/model/onnx converts it (as the coordinator does for `model: {kind: onnx}`),
// so both sides run the same weights; --model hand: bench/resnet18-model.ts in the
// padding styles of --paddings (no torch needed for the model, and the zeropad/same
// comparison).
const modelKind = opt("--model", skipTorch ? "hand" : "onnx");
const paddings = (modelKind === "onnx" ? ["onnx"] : opt("--paddings", "zeropad,same").split(",")) as Variant[];
const BATCH = 32;
const EXAMPLES = 512;
const HERE = dirname(fileURLToPath(import.meta.url));
const log = (s: string) => process.stderr.write(`${s}\n`);

const SETUPS = [
  { label: "1 compute × 2 wasm threads", compute: 1, wasm: 2 },
  { label: "2 compute × 1 wasm thread", compute: 2, wasm: 1 },
] as const;

/** Bytes in shared memory, as a worker's BlobStore fetches them: its threads view one copy. */
function inSharedMemory(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}

const images = syntheticImages(RESNET18_CIFAR, EXAMPLES, 5);
const bundle = inSharedMemory(datasetToBundleBytes(images));
const dataset = { hash: datasetHash(images), name: images.name, get: async () => bundle };
await tf.setBackend("cpu"); // only to write the topology and θ here
type Variant = ResnetPadding | "onnx";

/** torch-resnet18.py --export: the ONNX file's θ checksum; the file converted by src/model/onnx. */
async function onnxSnapshot(): Promise<{ snapshot: ReturnType<typeof resnetSnapshot>; checksum: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-resnet18-"));
  try {
    const path = join(dir, "resnet18.onnx");
    const out = await new Promise<string>((done, fail) => {
      const child = spawn("/usr/bin/python3", [join(HERE, "torch-resnet18.py"), "--export", path], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (text += d));
      child.once("error", (err) => fail(new Error(`could not start /usr/bin/python3: ${err.message}`)));
      child.once("exit", (code) => (code === 0 ? done(text) : fail(new Error(`torch-resnet18.py --export exited with ${code} (use --model hand without torch)`))));
    });
    const conv = await readOnnxModel(path);
    log(`ONNX model from torch-resnet18.py --export: ${conv.parameters.length} PyTorch tensors, opset ${conv.opset}`);
    return { snapshot: conv.snapshot, checksum: (JSON.parse(out) as { checksum: number[] }).checksum };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
let exportedChecksum: number[] | null = null;
const snapshots = new Map<Variant, { hash: string; get: () => Promise<Uint8Array> }>();
for (const p of paddings) {
  let snap;
  if (p === "onnx") {
    const o = await onnxSnapshot();
    snap = o.snapshot;
    exportedChecksum = o.checksum;
  } else snap = resnetSnapshot(tf, { ...RESNET18_CIFAR, padding: p });
  const bytes = inSharedMemory(encodeSnapshot(snap));
  snapshots.set(p, { hash: sha256Hex(bytes), get: async () => bytes });
}

/** Minibatch gradients per second of one timed task (after a warm-up task). */
async function poolRate(pool: ComputePool, padding: Variant, compute: number): Promise<number> {
  const plan = { seed: 7, count: 1 << 20, datasetSize: EXAMPLES, batchSize: BATCH, pairing: "independent" as const };
  let next = 0;
  const task = async (n: number) => {
    const pairs = Array.from({ length: n }, () => ({ id: next, batches: planPair(plan, next++) }));
    await pool.run(snapshots.get(padding)!, dataset, { type: "pairs", pairs, labels: "observed", labelSeed: 0, metrics: [] });
  };
  await task(compute); // one pair per compute thread
  const t = performance.now();
  await task(pairsTimed);
  return (2 * pairsTimed) / ((performance.now() - t) / 1000);
}

interface TorchRun {
  torch: string;
  threads: number;
  mkldnn: boolean;
  parameters: number;
  libraries: string[];
  config: string;
  grads_per_s: number;
  checksum: number[];
  times: number[];
}

function runTorch(): Promise<TorchRun | string> {
  return new Promise((done) => {
    const child = spawn("/usr/bin/python3", [join(HERE, "torch-resnet18.py"), "--threads", "2", "--batch", String(BATCH), "--gradients", String(2 * pairsTimed)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.once("error", (err) => done(`could not start /usr/bin/python3: ${err.message}`));
    child.once("exit", (code) => {
      try {
        done(JSON.parse(out) as TorchRun);
      } catch {
        done(`torch-resnet18.py exited with ${code} without its JSON (Debian: apt-get install python3-torch python3-torchvision libopenblas0-pthread)`);
      }
    });
  });
}

// Each row: ours, then PyTorch at once (unless skipped or refused by the first probe run).
interface Row {
  label: string;
  padding: Variant;
  rate: number;
  torch: TorchRun | string;
}
let torchRefusal: string | null = skipTorch ? "skipped (--skip-torch)" : null;
let torchFirst: TorchRun | null = null;
async function torchRun(): Promise<TorchRun | string> {
  if (torchRefusal) return torchRefusal;
  const t = await runTorch();
  if (typeof t === "string") return (torchRefusal = t);
  const refusal = peerRefusal(torchBlas(t.libraries, t.config), "cpu");
  if (exportedChecksum && JSON.stringify(exportedChecksum) !== JSON.stringify(t.checksum)) return (torchRefusal = `torch-resnet18.py timed other weights (checksum ${t.checksum}) than it exported (${exportedChecksum})`);
  if (refusal) return (torchRefusal = refusal);
  torchFirst ??= t;
  return t;
}
const rounds: Row[][] = [];
for (let round = 0; round < roundCount; round++) {
  const rows: Row[] = [];
  for (const setup of SETUPS) {
    const pool = await ComputePool.start({ backend: "wasm", group: "off", computeThreads: setup.compute, wasmThreads: setup.wasm });
    try {
      for (const padding of paddings) {
        const rate = await poolRate(pool, padding, setup.compute);
        log(`round ${round + 1}: ${setup.label}, padding ${padding}: ${rate.toFixed(3)} minibatch gradients/s`);
        rows.push({ label: setup.label, padding, rate, torch: "" });
      }
    } finally {
      await pool.close();
    }
    // PyTorch after each setup's rows (the pool's threads are gone by then).
    const t = await torchRun();
    for (const r of rows) if (r.torch === "") r.torch = t;
    if (typeof t !== "string") log(`round ${round + 1}: PyTorch ${t.grads_per_s.toFixed(3)} gradients/s`);
  }
  rounds.push(rows);
}

const median = (xs: number[]) => {
  const v = [...xs].sort((p, q) => p - q);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const spread = (xs: number[], digits: number) =>
  xs.length === 0 ? "—" : xs.length === 1 ? xs[0]!.toFixed(digits) : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

let torchLine = `PyTorch: ${torchRefusal}`;
if (torchFirst) {
  const t: TorchRun = torchFirst;
  torchLine = `PyTorch ${t.torch}: ${t.threads} threads, ${t.parameters} parameters, eval-mode BatchNorm, BLAS ${describeBlas(torchBlas(t.libraries, t.config))}, convolutions ${t.mkldnn ? "on oneDNN (mkldnn)" : "without oneDNN"}; run after each setup's rows`;
}
process.stdout.write(`ResNet-18-CIFAR minibatch gradients (B=${BATCH}), wasm backend through the worker's ComputePool, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 10)}; ${2 * pairsTimed} timed gradients per row, ${roundCount} round(s)${roundCount > 1 ? ", median (min–max)" : ""}\n${torchLine}\n`);
const table = [["ours", "model", "grads/s", "s/gradient", "PyTorch grads/s", "÷ PyTorch"]];
rounds[0]!.forEach((first, i) => {
  const rows = rounds.map((r) => r[i]!);
  const rates = rows.map((r) => r.rate);
  const peers = rows.filter((r) => typeof r.torch !== "string");
  const torchRates = peers.map((r) => (r.torch as TorchRun).grads_per_s);
  const ratios = peers.map((r) => r.rate / (r.torch as TorchRun).grads_per_s);
  table.push([first.label, first.padding, spread(rates, 3), spread(rates.map((r) => 1 / r), 2), spread(torchRates, 3), spread(ratios, 3)]);
});
const width = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
process.stdout.write(table.map((r) => r.map((c, i) => (i >= 2 ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join("  ")).join("\n") + "\n");
process.exit(0);
