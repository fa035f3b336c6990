// What the swarm costs: end-to-end pairs per second through NATS (a coordinator, a
// nats-server, worker processes) against the same worker code called in-process, on the
// quickstart workload (MLP 784-64-10, minibatches of 32, the MNIST digits of
// examples/data). Goal (issue "fast workers"): 2 local workers through NATS deliver
// ≥ 0.9 × the sum of the same workers' in-process rates.
// Run: npm run build && npx tsx bench/swarm.ts [--pairs N]
// On a 2-core machine the coordinator and nats-server share the cores with the workers,
// so the 2-worker ratio measures that contention too; the line says so. The last row is
// one worker process that splits each task between 2 compute threads (--compute-threads),
// against one compute thread whose wasm backend runs 2 threads (the other way to use 2 cores).

import { spawn } from "node:child_process";
import { availableParallelism, tmpdir } from "node:os";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadDataset } from "../src/data/load.js";
import { mlpSnapshot } from "../src/model/mlp.js";
import { startNatsServer } from "../src/nats/server-process.js";
import { planPair } from "../src/coordinator/sampler.js";
import { terminate } from "../src/util/child-process.js";
import { distFile } from "../src/util/package-root.js";
import { selectBackend } from "../src/worker/backend.js";
import { GradientEngine } from "../src/worker/gradients.js";

const args = process.argv.slice(2);
const pairs = Number(args[args.indexOf("--pairs") + 1]) || 8192;
const perTask = Number(args[args.indexOf("--per-task") + 1]) || 64;
const data = resolve("examples/data");
const work = mkdtempSync(join(tmpdir(), "gradswarm-swarm-bench-"));
const plan = { seed: 7, count: pairs, datasetSize: 10_000, batchSize: 32, pairing: "independent" as const };

/** The worker's own code, in this process: pairs per second of GradientEngine.pairStats. */
async function inProcess(): Promise<number> {
  await selectBackend(tf, "wasm", { wasmThreads: 1 });
  const dataset = await loadDataset({ kind: "idx", images: join(data, "images-idx3-ubyte"), labels: join(data, "labels-idx1-ubyte") }, ".");
  const engine = await GradientEngine.create(tf, mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" }), dataset);
  for (let i = 0; i < 32; i++) await engine.pairStats({ id: i, batches: planPair(plan, i) });
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    for (let i = 0; i < pairs; i++) await engine.pairStats({ id: i, batches: planPair(plan, i) });
    rates.push(pairs / ((performance.now() - t) / 1000));
  }
  engine.dispose();
  return rates.sort((a, b) => a - b)[1]!;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** What the coordinator and the nats-server used of the machine in the last throughNats run. */
const overheads: string[] = [];

/**
 * Pairs per second of a run through NATS with `workers` worker processes, each with
 * `computeThreads` compute threads of 1 wasm thread.
 */
async function throughNats(workers: number, computeThreads = 1, wasmThreads = 1): Promise<number> {
  const server = await startNatsServer();
  const prefix = `bench${workers}x${computeThreads}x${wasmThreads}`;
  const procs = Array.from({ length: workers }, (_, i) =>
    spawn(process.execPath, [distFile("worker/cli.js"), "--nats", server.url, "--prefix", prefix, "--id", `${prefix}-${i}`, "--backend", "wasm", "--compute-threads", String(computeThreads), "--wasm-threads", String(wasmThreads)], {
      stdio: "ignore",
    }),
  );
  try {
    const cfg = join(work, `${prefix}.yaml`);
    writeFileSync(
      cfg,
      `model: {kind: mlp, layers: [784, 64, 10], activation: relu, seed: 1}
data: {kind: idx, images: ${join(data, "images-idx3-ubyte")}, labels: ${join(data, "labels-idx1-ubyte")}}
pairs: {count: ${pairs}, batch_size: 32, seed: 7, per_task: ${perTask}}
nats: {prefix: ${prefix}}
`,
    );
    // Let the workers start (TensorFlow.js takes a second or two) before the clock runs.
    await new Promise((r) => setTimeout(r, 4000));
    const out = join(work, prefix);
    const code = await new Promise<number | null>((done) =>
      spawn(process.execPath, [distFile("coordinator/cli.js"), "run", cfg, "--nats", server.url, "--out", out], { stdio: "ignore" }).once("exit", done),
    );
    if (code !== 0) throw new Error(`the ${workers}-worker run failed (exit ${code})`);
    const run = (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { run: { timings: { steady_pairs_per_s: number; coordinator_cpu_s: number; dispatch_s: number } } }).run;
    const t = run.timings;
    overheads.push(
      `${workers} worker${workers === 1 ? "" : "s"} × ${computeThreads} compute × ${wasmThreads} wasm thread${wasmThreads === 1 ? "" : "s"}: coordinator ${t.coordinator_cpu_s.toFixed(1)} CPU-s and nats-server ${cpuSeconds(server.process.pid!).toFixed(1)} CPU-s over ${t.dispatch_s.toFixed(1)} s of dispatch`,
    );
    // Once the workers are up: from the first accepted result to the last.
    return t.steady_pairs_per_s;
  } finally {
    await Promise.all(procs.map((p) => terminate(p, 5000)));
    await server.stop();
  }
}

if (process.env.GRADSWARM_BENCH_IN_PROCESS) {
  // A child of the two-at-once measurement: print this process's rate and stop.
  process.stdout.write(`${await inProcess()}\n`);
  process.exit(0);
}

/** The in-process rates of `n` processes running at once (they share the cores, as workers do). */
async function inProcessTogether(n: number): Promise<number[]> {
  const runs = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--pairs", String(pairs)], {
      stdio: ["ignore", "pipe", "ignore"],
      env: { ...process.env, GRADSWARM_BENCH_IN_PROCESS: "1" },
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    return new Promise<number>((done) => child.once("exit", () => done(Number(out.trim().split("\n").at(-1)))));
  });
  return Promise.all(runs);
}

const single = await inProcess();
const together = await inProcessTogether(2);
const sumTogether = together[0]! + together[1]!;
const one = await throughNats(1);
const two = await throughNats(2);
const pooled = await throughNats(1, 2);
const wide = await throughNats(1, 1, 2);
const rows = [
  ["in-process, 1 worker's code (wasm, 1 thread)", `${single.toFixed(0)} pairs/s`, ""],
  ["in-process, 2 processes at once (sum)", `${sumTogether.toFixed(0)} pairs/s`, `(${together.map((r) => r.toFixed(0)).join(" + ")})`],
  ["through NATS, 1 worker process", `${one.toFixed(0)} pairs/s`, `${(one / single).toFixed(2)} × in-process`],
  ["through NATS, 2 worker processes", `${two.toFixed(0)} pairs/s`, `${(two / sumTogether).toFixed(2)} × the same 2 workers' in-process rates, run at once (goal ≥ 0.9); ${(two / (2 * single)).toFixed(2)} × twice the lone rate`],
  ["through NATS, 1 worker, 2 compute threads", `${pooled.toFixed(0)} pairs/s`, `${(pooled / sumTogether).toFixed(2)} × the 2 processes' in-process rates, run at once; ${(pooled / two).toFixed(2)} × 2 worker processes`],
  ["through NATS, 1 worker, 1 thread of 2 wasm threads", `${wide.toFixed(0)} pairs/s`, `2 compute threads deliver ${(pooled / wide).toFixed(2)} × this`],
];
const w = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
process.stdout.write(`${pairs} pairs, MLP 784-64-10, minibatch 32, ${availableParallelism()} cores (coordinator, nats-server and workers share them)\n`);
process.stdout.write(rows.map((r) => `${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]}`).join("\n") + "\n");
process.stdout.write(`what the swarm itself used: ${overheads.join("; ")}\n`);
process.exit(0);
