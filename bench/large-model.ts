// Large models through the swarm, measured in one run on this machine:
//   1. θ distribution: a 100M-parameter snapshot put into and got from the JetStream
//      object store (sha256 checked on both sides), MB/s, against the goal of 300 MB/s.
//   2. A 100M-parameter model end to end in `return: vectors` mode (gradients chunked
//      under a 1 MB max_payload): the vector return rate, coordinator and worker peak RSS
//      against the model's bytes.
//   3. 1,000 pairs in vector mode on a ~1M-parameter model: coordinator peak RSS against
//      the goal of 4 × model bytes + 300 MB.
// Run: npm run build && npx tsx bench/large-model.ts [--skip-100m] [--pairs-1m N]
// It takes several minutes on 2 cores (the 100M-parameter gradients are computed on wasm).

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "@nats-io/transport-node";
import { mlpSnapshot } from "../src/model/mlp.js";
import { encodeSnapshot, parameterCount } from "../src/model/snapshot.js";
import { BlobStore } from "../src/nats/blob-store.js";
import { startNatsServer } from "../src/nats/server-process.js";
import { objectBucket } from "../src/protocol/index.js";
import { terminate } from "../src/util/child-process.js";
import { distFile } from "../src/util/package-root.js";
import { PeakNotMeasured, PeakTracker, readVmHwm, runWithPeakRss } from "./peak-rss.js";

const MB = 1e6;
const args = process.argv.slice(2);
const skip100m = args.includes("--skip-100m");
const pairs1m = Number(args[args.indexOf("--pairs-1m") + 1]) || 1000;
const work = mkdtempSync(join(tmpdir(), "gradswarm-bench-"));
const data = resolve("examples/data");
const rows: [string, string, string][] = [];

function row(what: string, value: string, versus: string): void {
  rows.push([what, value, versus]);
  process.stderr.write(`${what}: ${value} ${versus}\n`);
}

/** A peak RSS row: the figure against `versus(bytes)`, or "not measured" with the reason. */
function peakRow(what: string, peak: PeakTracker, versus: (bytes: number) => string): void {
  try {
    const bytes = peak.bytes;
    row(what, `${(bytes / MB).toFixed(0)} MB`, versus(bytes));
  } catch (err) {
    if (!(err instanceof PeakNotMeasured)) throw err;
    row(what, "not measured", err.message);
  }
}

async function distribution(layers: number[]): Promise<void> {
  const server = await startNatsServer();
  try {
    const snapshot = mlpSnapshot({ layers, activation: "relu", seed: 1, init: "glorot_uniform" });
    const bytes = encodeSnapshot(snapshot);
    const nc = await connect({ servers: server.url });
    const store = await BlobStore.open(nc, objectBucket("bench"), true);
    let t = performance.now();
    const { hash } = await store.put(bytes, "bench snapshot");
    const putS = (performance.now() - t) / 1000;
    const reader = await connect({ servers: server.url });
    const readStore = await BlobStore.open(reader, objectBucket("bench"), false);
    // Three fetches (a worker fetches once; the machine is shared and noisy): the median.
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      t = performance.now();
      const got = await readStore.get(hash);
      times.push((performance.now() - t) / 1000);
      if (got.length !== bytes.length) throw new Error("size mismatch");
    }
    const getS = times.sort((a, b) => a - b)[1]!;
    const p = parameterCount(snapshot.weights);
    row(`snapshot put, ${(p / 1e6).toFixed(0)}M parameters (${(bytes.length / MB).toFixed(0)} MB, sha256 + store)`, `${(bytes.length / MB / putS).toFixed(0)} MB/s`, `${(bytes.length / MB / putS / 300).toFixed(2)} × the 300 MB/s goal`);
    row(`snapshot get (fetch + digest check), median of 3`, `${(bytes.length / MB / getS).toFixed(0)} MB/s`, `${(bytes.length / MB / getS / 300).toFixed(2)} × the 300 MB/s goal`);
    await reader.close();
    await nc.close();
  } finally {
    await server.stop();
  }
}

async function vectorRun(label: string, layers: number[], pairs: number, batch: number, perTask: number, workers: number): Promise<void> {
  const server = await startNatsServer();
  const procs = Array.from({ length: workers }, (_, i) =>
    spawn(process.execPath, [distFile("worker/cli.js"), "--nats", server.url, "--prefix", label, "--id", `${label}-${i}`, "--backend", "wasm"], { stdio: ["ignore", "ignore", "inherit"] }),
  );
  try {
    const cfg = join(work, `${label}.yaml`);
    writeFileSync(
      cfg,
      `model: {kind: mlp, layers: [${layers.join(", ")}], activation: relu, seed: 1}
data: {kind: idx, images: ${join(data, "images-idx3-ubyte")}, labels: ${join(data, "labels-idx1-ubyte")}}
pairs: {count: ${pairs}, batch_size: ${batch}, seed: 3, per_task: ${perTask}}
workers: {lease_s: 600}
nats: {prefix: ${label}}
return: vectors
`,
    );
    const out = join(work, label);
    // The coordinator in its own process, so that its peak RSS is its own; it reports its
    // ru_maxrss at exit (bench/peak-rss.ts), when /proc has lost its VmHWM.
    const { code, peak: coordinator } = await runWithPeakRss([distFile("coordinator/cli.js"), "run", cfg, "--nats", server.url, "--out", out]);
    if (code !== 0) throw new Error(`the ${label} run failed (exit ${code})`);
    const run = (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { run: { snapshot: { parameters: number }; vectors: { bytes: number; mb_per_s: number }; timings: { total_s: number } } }).run;
    const modelBytes = run.snapshot.parameters * 4;
    const goal = 4 * modelBytes + 300 * MB;
    // The workers are still running: their VmHWM is there to read.
    const workerPeak = new PeakTracker(`${label} workers`);
    for (const p of procs) workerPeak.observe(readVmHwm(p.pid));
    row(`${label}: ${pairs} pairs in ${run.timings.total_s.toFixed(0)} s, ${(run.vectors.bytes / MB).toFixed(0)} MB of gradient vectors`, `${run.vectors.mb_per_s.toFixed(0)} MB/s while vectors flow`, `(model ${(modelBytes / MB).toFixed(0)} MB)`);
    peakRow(`${label}: coordinator peak RSS`, coordinator, (bytes) => `${(bytes / goal).toFixed(2)} × the goal 4 × model + 300 MB = ${(goal / MB).toFixed(0)} MB`);
    peakRow(`${label}: worker peak RSS`, workerPeak, (bytes) => `${(bytes / modelBytes).toFixed(1)} × model bytes`);
  } finally {
    await Promise.all(procs.map((p) => terminate(p, 5000)));
    await server.stop();
  }
}

await distribution([784, 8192, 8192, 4096, 10]);
if (!skip100m) await vectorRun("large-100m", [784, 8192, 8192, 4096, 10], 2, 8, 1, 1);
await vectorRun("vectors-1m", [784, 1024, 200, 10], pairs1m, 8, 10, 2);

const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
process.stdout.write("\n" + rows.map((r) => `${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]}`).join("\n") + "\n");
process.exit(0);
