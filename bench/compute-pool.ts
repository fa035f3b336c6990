// A CPU worker's two ways to use 2 cores, against PyTorch on the same machine in the same
// run (issue "fast workers", goal: a CPU worker ≥ 0.35 of PyTorch+OpenBLAS on the MLP):
//   1 × 2    one compute thread whose wasm backend runs XNNPACK on 2 threads
//   2 × 1    two compute threads (--compute-threads 2), one wasm thread each, splitting
//            every task's pairs between them
//   1 × 1    one compute thread, one wasm thread (the per-core rate, for reference)
// through the worker's own ComputePool (the compute threads a worker process runs), on
// tasks of 64 pairs: every pair is two minibatch gradients plus their statistics, so
// minibatch gradients/s = 2 × pairs/s (the statistics are counted against us).
// PyTorch: bench/torch-peer.py with 2 threads, its per-minibatch loop (K = 1) and its
// best method at any K (loop, vmap, bmm at K = 1, 8, 32); one on the reference BLAS gets no
// ratios (bench/torch-blas.ts); scripts/bench-setup.sh installs torch with OpenBLAS.
// Workloads: MLP 784-64-10 at minibatch 32 (the seed's) and MLP 784-256-256-10 at 64.
//
// Run: npm run build && npx tsx bench/compute-pool.ts [--skip-torch] [--seconds 3] [--rounds 3]
// About 2 minutes a round on 2 cores.

import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { planPair } from "../src/coordinator/sampler.js";
import { datasetHash, datasetToBundleBytes } from "../src/data/bundle.js";
import { loadMnist } from "../src/data/mnist.js";
import { mlpSnapshot } from "../src/model/mlp.js";
import { encodeSnapshot, sha256Hex, type Snapshot } from "../src/model/snapshot.js";
import { ComputePool } from "../src/worker/compute-pool.js";
import { describeBlas, OPENBLAS_FIX, peerRefusal, probeTorch, torchBlas } from "./torch-blas.js";

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 3;
const roundCount = Number(args[args.indexOf("--rounds") + 1]) || 3;
const HERE = dirname(fileURLToPath(import.meta.url));
const PAIRS_PER_TASK = 64;

interface Workload {
  name: string;
  description: string;
  batch: number;
  snapshot: () => Snapshot;
}

const WORKLOADS: Workload[] = [
  { name: "mlp-64", description: "MLP 784-64-10", batch: 32, snapshot: () => mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" }) },
  { name: "mlp-256", description: "MLP 784-256-256-10", batch: 64, snapshot: () => mlpSnapshot({ layers: [784, 256, 256, 10], activation: "relu", seed: 1, init: "glorot_uniform" }) },
];

const SETUPS = [
  { label: "1 compute × 1 wasm thread", compute: 1, wasm: 1 },
  { label: "1 compute × 2 wasm threads", compute: 1, wasm: 2 },
  { label: "2 compute × 1 wasm thread", compute: 2, wasm: undefined },
] as const;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Minibatch gradients per second of a pool on one workload: the best of 3 timed stretches. */
async function poolRate(pool: ComputePool, w: Workload, dataset: { hash: string; name: string; get: () => Promise<Uint8Array> }, size: number): Promise<number> {
  const encoded = encodeSnapshot(w.snapshot());
  const bytes = inSharedMemory(encoded);
  const snapshot = { hash: sha256Hex(encoded), get: async () => bytes };
  const plan = { seed: 7, count: 1 << 30, datasetSize: size, batchSize: w.batch, pairing: "independent" as const };
  let next = 0;
  const task = async () => {
    const pairs = Array.from({ length: PAIRS_PER_TASK }, () => ({ id: next, batches: planPair(plan, next++) }));
    await pool.run(snapshot, dataset, { type: "pairs", pairs, labels: "observed", labelSeed: 0, metrics: [] });
  };
  await task(); // warm-up: blobs sent, kernels compiled
  const rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t = performance.now();
    let pairs = 0;
    while (performance.now() - t < (seconds * 1000) / 3) {
      await task();
      pairs += PAIRS_PER_TASK;
    }
    rates.push((2 * pairs) / ((performance.now() - t) / 1000));
  }
  return Math.max(...rates);
}

interface TorchRow {
  workload: string;
  method: string;
  k: number;
  batch: number;
  minibatch_grads_per_s: number;
}

function findPython(): string | null {
  const candidates = [process.env.GRADSWARM_PYTHON, ...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "python3")), "/usr/bin/python3"];
  for (const python of new Set(candidates.filter((c): c is string => !!c))) {
    if (spawnSync(python, ["-c", "import torch"], { timeout: 60_000 }).status === 0) return python;
  }
  return null;
}

interface TorchResult {
  rows: TorchRow[];
  threads: number;
  device: string;
  libraries?: string[];
  config?: string;
}

function runTorch(python: string): Promise<TorchResult | string> {
  return new Promise((done) => {
    const child = spawn(python, [join(HERE, "torch-peer.py"), "--threads", "2", "--ks", "1,8,32", "--workloads", WORKLOADS.map((w) => w.name).join(",")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.once("exit", (code) => {
      let r: TorchResult;
      try {
        r = JSON.parse(out) as TorchResult;
      } catch {
        return done(`torch-peer.py exited with ${code} without its JSON`);
      }
      // The run that measured is checked as well as the probe: its BLAS is the one that counts.
      const refusal = peerRefusal(torchBlas(r.libraries ?? [], r.config ?? ""), r.device.startsWith("cuda") ? "cuda" : "cpu");
      done(refusal ?? r);
    });
  });
}

const mnist = await loadMnist();
/** Bytes in shared memory, as a worker's BlobStore fetches them: its threads view one copy. */
function inSharedMemory(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}
const bundle = inSharedMemory(datasetToBundleBytes(mnist));
const dataset = { hash: datasetHash(mnist), name: "mnist", get: async () => bundle };

async function measureOurs(): Promise<Map<string, number>> {
  const ours = new Map<string, number>(); // `${setup} ${workload}` → minibatch gradients/s
  for (const setup of SETUPS) {
    const pool = await ComputePool.start({ backend: "wasm", group: "off", computeThreads: setup.compute, wasmThreads: setup.wasm });
    try {
      for (const w of WORKLOADS) {
        const rate = await poolRate(pool, w, dataset, mnist.n);
        ours.set(`${setup.label} ${w.name}`, rate);
        log(`${setup.label}, ${w.name}: ${rate.toFixed(0)} minibatch gradients/s`);
      }
    } finally {
      await pool.close();
    }
  }
  return ours;
}

// Rounds alternate ours and PyTorch, and every ratio is taken within a round: the load
// other sessions put on a shared machine drifts over minutes, and a ratio of two rates
// measured minutes apart would carry that drift.
// A PyTorch on the reference BLAS is no peer (bench/torch-blas.ts): asked first, so that
// the rounds do not wait for its rows only to throw them away.
let python = args.includes("--skip-torch") ? null : findPython();
let torchMissing = args.includes("--skip-torch") ? "skipped (--skip-torch)" : `no python3 with torch found (Debian: apt-get install python3-torch libopenblas0-pthread, or scripts/bench-setup.sh)`;
let torchBlasLine = "";
if (python) {
  const probe = probeTorch(python);
  const refusal = typeof probe === "string" ? probe : peerRefusal(probe.blas, probe.device);
  if (refusal) {
    log(`PyTorch: ${refusal}`);
    torchMissing = `not measured: ${refusal}`;
    python = null;
  } else if (typeof probe !== "string") {
    torchBlasLine = `BLAS ${describeBlas(probe.blas)}${probe.blas.kind === "unknown" ? ` (if it is the reference BLAS, these ratios flatter us: ${OPENBLAS_FIX})` : ""}`;
  }
}
const rounds: { ours: Map<string, number>; torch: TorchResult | string }[] = [];
for (let round = 0; round < roundCount; round++) {
  log(`round ${round + 1} of ${roundCount}`);
  const ours = await measureOurs();
  const torch = python ? await runTorch(python) : torchMissing;
  rounds.push({ ours, torch });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** "median (min–max)" of per-round values, or just the value for one round. */
const spread = (xs: number[], digits: number) => {
  if (xs.length === 0) return "—";
  if (xs.length === 1) return xs[0]!.toFixed(digits);
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
};

const rows: string[][] = [["workload", "ours (worker compute threads)", "grads/s", "÷ PyTorch loop", "÷ PyTorch best"]];
for (const w of WORKLOADS) {
  const perRound = rounds.map((r) => {
    const t = typeof r.torch === "string" ? [] : r.torch.rows.filter((row) => row.workload === w.name && row.batch === w.batch);
    const loop = t.find((row) => row.method === "loop" && row.k === 1);
    const best = t.length ? t.reduce((a, b) => (b.minibatch_grads_per_s > a.minibatch_grads_per_s ? b : a)) : undefined;
    return { ours: r.ours, loop, best };
  });
  for (const setup of SETUPS) {
    const key = `${setup.label} ${w.name}`;
    const rates = perRound.map((r) => r.ours.get(key)!);
    const toLoop = perRound.filter((r) => r.loop).map((r) => r.ours.get(key)! / r.loop!.minibatch_grads_per_s);
    const toBest = perRound.filter((r) => r.best).map((r) => r.ours.get(key)! / r.best!.minibatch_grads_per_s);
    rows.push([`${w.description}, B=${w.batch}`, setup.label, spread(rates, 0), spread(toLoop, 3), spread(toBest, 3)]);
  }
  const loops = perRound.filter((r) => r.loop).map((r) => r.loop!.minibatch_grads_per_s);
  const bests = perRound.filter((r) => r.best).map((r) => `${r.best!.method} K=${r.best!.k} ${r.best!.minibatch_grads_per_s.toFixed(0)}/s`);
  if (loops.length) rows.push([`${w.description}, B=${w.batch}`, `PyTorch: loop ${spread(loops, 0)}/s; best per round: ${bests.join(", ")}`, "", "", ""]);
}
const width = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
const torch0 = rounds[0]!.torch;
process.stdout.write(`wasm backend, tasks of ${PAIRS_PER_TASK} pairs (2 gradients each), ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 10)}, ${roundCount} round(s) of ours then PyTorch; median (min–max) over rounds, each ratio within its round\n`);
process.stdout.write(typeof torch0 === "string" ? `PyTorch: ${torch0}\n` : `PyTorch: ${torch0.threads} threads on ${torch0.device}, ${torchBlasLine}\n`);
process.stdout.write(rows.map((r) => r.map((c, i) => (i === 2 ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join("  ")).join("\n") + "\n");
process.exit(0);
