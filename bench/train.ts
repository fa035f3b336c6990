// Training steps per second of one worker's training engine (src/train/trainer.ts)
// against PyTorch on the same machine, in one run: MLP 784-256-10 (ReLU) on 60,000 random
// examples of Fashion-MNIST's shape (784 features, 10 classes), SGD with momentum 0.9 and
// weight decay 5e-4, shuffled epochs, minibatches of 32 and 2048. Ours on each backend
// asked for (default wasm with 1 and with 2 XNNPACK threads, each in its own child
// process); the peer is bench/torch-train.py (2 threads, OpenBLAS, the thread and malloc
// settings of bench/torch_common.py), refused on the reference BLAS (bench/torch-blas.ts).
// A step is the whole of it on both sides: gather the minibatch, forward, backward, update.
// The issue's goal: ≥ 0.3 × PyTorch+OpenBLAS on the CPU. bench/README.md has figures.
//
//   npx tsx bench/train.ts [--backends wasm1,wasm2,cpu] [--batches 32,2048] [--n 60000]
//       [--reps 3] [--min-time 1] [--skip-torch] [--python PATH] [--torch-threads 2]
//       [--profile: after timing, ours' kernel time per step by kernel and output shape,
//        from tf.profile over 10 steps (which waits for each kernel: shares, not rates)]

import { spawn, spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { mlpSnapshot } from "../src/model/mlp.js";
import { Trainer } from "../src/train/trainer.js";
import { Rng } from "../src/util/rng.js";
import { selectBackend } from "../src/worker/backend.js";
import { describeBlas, peerRefusal, probeTorch, torchBlas } from "./torch-blas.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    backends: { type: "string", default: "wasm1,wasm2" },
    batches: { type: "string", default: "32,2048" },
    n: { type: "string", default: "60000" },
    reps: { type: "string", default: "3" },
    "min-time": { type: "string", default: "1" },
    "skip-torch": { type: "boolean", default: false },
    python: { type: "string" },
    "torch-threads": { type: "string", default: "2" },
    profile: { type: "boolean", default: false },
    child: { type: "string" },
  },
});
const BATCHES = opts.batches.split(",").filter(Boolean).map(Number);
const N = Number(opts.n);
const REPS = Number(opts.reps);
const MIN_TIME = Number(opts["min-time"]);

interface Row {
  batch: number;
  steps_per_s: number;
  /** CPU seconds the process spent per step (all its threads) in the same repetition. */
  cpu_s_per_step: number;
  examples_per_s: number;
  reps: number;
  steps: number;
}

// ---------------------------------------------------------------------------------------
// child: one backend

async function child(choice: string): Promise<void> {
  const wasm = /^wasm(\d+)$/.exec(choice);
  const info = await selectBackend(tf, wasm ? "wasm" : (choice as "cpu"), wasm ? { wasmThreads: Number(wasm[1]) } : {});
  const rng = new Rng(1, 0);
  const x = new Float32Array(N * 784);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat();
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) y[i] = rng.nextInt(10);
  const dataset = { name: "random-fashion-mnist-shape", n: N, featureShape: [784], numClasses: 10, x, y };
  const rows: Row[] = [];
  for (const batch of BATCHES) {
    const trainer = await Trainer.create(tf, mlpSnapshot({ layers: [784, 256, 10], activation: "relu", seed: 0, init: "glorot_uniform" }), dataset, {
      batchSize: batch,
      optimizer: { kind: "sgd", lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
      schedule: { kind: "constant" },
      data: { seed: 0, shuffle: true, dropLast: false },
      stop: { steps: Number.MAX_SAFE_INTEGER },
      checkpointEvery: Number.MAX_SAFE_INTEGER,
      evalSet: { kind: "subset", examples: 1, seed: 0 },
    });
    // A one-example loss read back: every queued op has run (on a GPU backend too).
    const sync = async () => void (await trainer.trainLoss());
    for (let i = 0; i < 5; i++) trainer.trainStep();
    await sync();
    let best = 0;
    let bestSteps = 0;
    let bestCpu = 0;
    for (let r = 0; r < REPS; r++) {
      let steps = 0;
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      let elapsed = 0;
      do {
        trainer.trainStep();
        steps++;
        if (steps % 8 === 0 || batch >= 512) {
          await sync();
          elapsed = (performance.now() - start) / 1000;
        }
      } while (elapsed < MIN_TIME);
      const cpu = process.cpuUsage(cpu0);
      if (steps / elapsed > best) (best = steps / elapsed), (bestSteps = steps), (bestCpu = (cpu.user + cpu.system) / 1e6 / steps);
    }
    if (opts.profile) await profileSteps(trainer, choice, batch);
    trainer.dispose();
    rows.push({ batch, steps_per_s: best, cpu_s_per_step: bestCpu, examples_per_s: best * batch, reps: REPS, steps: bestSteps });
    console.error(`${choice.padEnd(6)} B=${String(batch).padEnd(5)} ${best.toFixed(1).padStart(9)} steps/s ${(best * batch).toFixed(0).padStart(11)} examples/s ${(bestCpu * 1000).toFixed(2)} CPU ms/step`);
  }
  console.log(`@@RESULT ${JSON.stringify({ backend: choice, device: info.device, rows })}`);
}

async function profileSteps(trainer: Trainer, choice: string, batch: number): Promise<void> {
  const steps = 10;
  const by = new Map<string, number>();
  for (let i = 0; i < steps; i++) {
    const p = await tf.profile(() => trainer.trainStep());
    for (const k of p.kernels) {
      const key = `${k.name} → ${JSON.stringify(k.outputShapes)}`;
      by.set(key, (by.get(key) ?? 0) + (k.kernelTimeMs as number) / steps);
    }
  }
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.error(`${choice} B=${batch} profile: ${total.toFixed(2)} ms of kernels per step; ${top.map(([k, v]) => `${k} ${v.toFixed(2)} ms (${((100 * v) / total).toFixed(0)}%)`).join("; ")}`);
}

// ---------------------------------------------------------------------------------------
// parent

function runChild(choice: string): Promise<{ backend: string; device: string; rows: Row[] } | string> {
  const args = process.argv.slice(2);
  return new Promise((done) => {
    const c = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, "--child", choice], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    c.once("exit", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith("@@RESULT "));
      done(line ? JSON.parse(line.slice("@@RESULT ".length)) : `${choice}: exited with ${signal ?? code} before its results`);
    });
  });
}

function findPython(): string | null {
  const candidates = opts.python ? [opts.python] : [...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "python3")), "/usr/bin/python3"];
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ["-c", "import torch"], { encoding: "utf8", timeout: 60_000 });
    if (r.status === 0) return python;
  }
  return null;
}

function runTorch(python: string): { rows: Row[]; blas: string; refusal: string | null; device: string; torch: string } | string {
  const r = spawnSync(python, [join(HERE, "torch-train.py"), "--threads", opts["torch-threads"], "--batches", opts.batches, "--n", opts.n, "--reps", opts.reps, "--min-time", opts["min-time"]], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) return `torch-train.py exited with ${r.status ?? r.signal}`;
  const j = JSON.parse(r.stdout) as { rows: Row[]; libraries: string[]; config: string; device: string; torch: string };
  const blas = torchBlas(j.libraries, j.config);
  return { rows: j.rows, blas: describeBlas(blas), refusal: peerRefusal(blas, "cpu"), device: j.device, torch: j.torch };
}

async function parent(): Promise<void> {
  const load0 = loadavg()[0]!;
  console.log(`bench/train.ts: MLP 784-256-10 relu, SGD momentum 0.9 wd 5e-4, ${N} random examples [784] → 10 classes; ${cpus().length} logical CPUs, load average ${load0.toFixed(2)} at the start (a shared machine: other processes' load counts against both sides)`);
  let python: string | null = null;
  if (!opts["skip-torch"]) {
    python = findPython();
    if (!python) console.log("PyTorch: no python3 imports torch (--python PATH); ours only");
    else {
      const probe = probeTorch(python);
      const refusal = typeof probe === "string" ? probe : peerRefusal(probe.blas, probe.device);
      if (refusal) {
        console.log(`PyTorch not run: ${refusal}`);
        python = null;
      }
    }
  }
  const ours = [];
  for (const b of opts.backends.split(",").filter(Boolean)) {
    const r = await runChild(b);
    if (typeof r === "string") console.log(r);
    else ours.push(r);
  }
  const torch = python ? runTorch(python) : null;
  if (typeof torch === "string") console.log(torch);
  const peer = torch && typeof torch !== "string" && !torch.refusal ? torch : null;
  if (torch && typeof torch !== "string" && torch.refusal) console.log(torch.refusal);
  console.log("");
  if (peer) console.log(`PyTorch ${peer.torch} on ${peer.device}, ${peer.blas}`);
  // Wall-clock rates are what the goal is about; CPU time per step says what each side
  // costs when other processes take turns on the cores (a shared machine).
  console.log(`${"engine".padEnd(44)} ${"B".padStart(5)} ${"steps/s".padStart(9)} ${"examples/s".padStart(11)} ${"CPU ms/step".padStart(11)}  ratio (steps/s; CPU time per step)`);
  for (const batch of BATCHES) {
    const t = peer?.rows.find((r) => r.batch === batch);
    if (t) console.log(`${"PyTorch (torch-train.py)".padEnd(44)} ${String(batch).padStart(5)} ${t.steps_per_s.toFixed(1).padStart(9)} ${t.examples_per_s.toFixed(0).padStart(11)} ${(t.cpu_s_per_step * 1000).toFixed(2).padStart(11)}  1`);
    for (const o of ours) {
      const r = o.rows.find((x) => x.batch === batch)!;
      const ratio = t ? `${(r.steps_per_s / t.steps_per_s).toFixed(2)} × PyTorch (goal ≥ 0.3); CPU time ${(t.cpu_s_per_step / r.cpu_s_per_step).toFixed(2)} × PyTorch's efficiency` : "";
      console.log(`${`${o.backend}: ${o.device}`.padEnd(44)} ${String(batch).padStart(5)} ${r.steps_per_s.toFixed(1).padStart(9)} ${r.examples_per_s.toFixed(0).padStart(11)} ${(r.cpu_s_per_step * 1000).toFixed(2).padStart(11)}  ${ratio}`);
    }
  }
  console.log(`load average ${loadavg()[0]!.toFixed(2)} at the end`);
}

await (opts.child ? child(opts.child) : parent());
