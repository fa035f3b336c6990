// How many workers one coordinator serves (issue "coordinator scale"): N simulated workers
// (bench/scale/sim-workers.ts: the real SwarmWorker with a synthetic compute that answers
// after --delay-ms) against one real coordinator (`coordinator run --nats URL`, a child
// process, so its CPU and memory are its own) and a real nats-server, for each N of
// --workers. Goal: ≥ 2,000 task results/s through one coordinator, flat up to 256 workers.
// Per N it prints task results per second (the coordinator's, first to last accepted),
// the p50/p99 round trip of a result (the worker's request → the coordinator's ack, which
// waits for the journal's fdatasync), the coordinator's CPU (cores, over the same window)
// and peak RSS, how much of the time its event loop was runnable but waiting for a CPU
// (/proc/PID/schedstat: on a shared machine, whether the cores or the code set the rate),
// and the CPU of nats-server and of the simulated workers.
// Run: npm run build && npx tsx bench/coordinator-scale.ts [--workers 1,4,16,64,256]
//        [--delay-ms 20] [--per-task 2] [--seconds 8] [--hosts 4] [--cpu-prof DIR]
// Everything shares this machine's cores: the simulated workers' CPU is in the table so
// that what the coordinator could do alone can be judged.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startNatsServer } from "../src/nats/server-process.js";
import { terminate } from "../src/util/child-process.js";
import { distFile } from "../src/util/package-root.js";
import { maxRssReportBytes, PeakTracker, readVmHwm } from "./peak-rss.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
function positive(name: string, fallback: string): number {
  const v = Number(option(name, fallback));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${option(name, fallback)}`);
  return v;
}

const counts = option("workers", "1,4,16,64,256").split(",").map(Number);
const delayMs = positive("delay-ms", "20");
const perTask = positive("per-task", "2");
const seconds = positive("seconds", "8");
const hostsMax = positive("hosts", "4");
const profileDir = process.argv.includes("--cpu-prof") ? resolve(option("cpu-prof", "coordinator-profiles")) : null;
/** The task count is sized for about --seconds of dispatch at the lesser of the workers' rate and this. */
const EXPECTED_MAX_RATE = 2500;

const here = dirname(fileURLToPath(import.meta.url));
const REPORTER = pathToFileURL(join(here, "max-rss-on-exit.mjs")).href;
const data = resolve("examples/data");
const work = mkdtempSync(join(tmpdir(), "gradswarm-scale-bench-"));

/** CPU seconds (user + system) of a live process, from /proc; undefined once it is gone. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return undefined;
  }
}

/** Seconds the main thread (the event loop) has waited on a run queue, runnable but not running, from /proc. */
function runQueueSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
  } catch {
    return undefined;
  }
}

interface Sample {
  t: number;
  coordinator?: number;
  /** The coordinator's event loop: time waiting for a CPU. */
  waiting?: number;
  server?: number;
  hosts?: number;
}

/** CPU cores used over [from, to] (epoch ms), from the samples inside it. */
function coresIn(samples: Sample[], key: "coordinator" | "waiting" | "server" | "hosts", from: number, to: number): number | null {
  const inside = samples.filter((s) => s.t >= from && s.t <= to && s[key] !== undefined);
  if (inside.length < 2) return null;
  const a = inside[0]!;
  const b = inside.at(-1)!;
  return (b[key]! - a[key]!) / ((b.t - a.t) / 1000);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface HostReport {
  roundTrips: number[];
  refused: number;
  firstAck: number;
  lastAck: number;
  failed: number;
  log: string[];
}

/** One host of simulated workers; resolves once all of them run. */
function startHost(url: string, prefix: string, ids: string[]): Promise<{ child: ChildProcess; report: Promise<HostReport> }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(here, "scale/sim-workers.ts"), "--nats", url, "--prefix", prefix, "--ids", ids.join(","), "--delay-ms", String(delayMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  let readyFired = false;
  return new Promise((ready, failed) => {
    const report = new Promise<HostReport>((done, fail) => {
      child.once("exit", (code) => {
        const last = out.trim().split("\n").at(-1) ?? "";
        if (code !== 0 || !last.startsWith("{")) fail(new Error(`a simulated-worker host exited (${code}) without its report`));
        else done(JSON.parse(last) as HostReport);
      });
    });
    report.catch((err) => readyFired || failed(err));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (!readyFired && out.includes("ready\n")) {
        readyFired = true;
        ready({ child, report });
      }
    });
  });
}

interface Row {
  workers: number;
  tasks: number;
  tasksPerS: number;
  ackP50: number;
  ackP99: number;
  coordinatorCores: number | null;
  /** Share of the time the coordinator's event loop was runnable but got no CPU. */
  coordinatorWaiting: number | null;
  coordinatorPeakMb: number;
  serverCores: number | null;
  hostCores: number | null;
  faults: string;
  /** The machine's 1-minute load average as the coordinator started: what it shared the cores with. */
  load: number;
}

async function measure(n: number): Promise<Row> {
  const server = await startNatsServer();
  const prefix = `scale${n}`;
  const hostCount = Math.min(n, hostsMax);
  const ids = Array.from({ length: n }, (_, i) => `sim-${i}`);
  const hosts: { child: ChildProcess; report: Promise<HostReport> }[] = [];
  try {
    for (let h = 0; h < hostCount; h++) hosts.push(await startHost(server.url, prefix, ids.filter((_, i) => i % hostCount === h)));
    const tasks = Math.max(200, Math.round(Math.min((n * 1000) / delayMs, EXPECTED_MAX_RATE) * seconds));
    const cfg = join(work, `${prefix}.yaml`);
    // max_in_flight above the worker count: a worker's next lease is taken while its last
    // result is still being acknowledged, and the default (256) must not be what bends at 256.
    writeFileSync(
      cfg,
      `model: {kind: mlp, layers: [784, 64, 10], activation: relu, seed: 1}
data: {kind: idx, images: ${join(data, "images-idx3-ubyte")}, labels: ${join(data, "labels-idx1-ubyte")}}
pairs: {count: ${tasks * perTask}, batch_size: 32, seed: 7, per_task: ${perTask}}
workers: {max_in_flight: ${4 * n + 16}}
nats: {prefix: ${prefix}}
`,
    );
    const out = join(work, prefix);
    const nodeArgs = ["--import", REPORTER];
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      nodeArgs.push("--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", `coordinator-${n}-workers.cpuprofile`);
    }
    const logFile = join(work, `${prefix}.log`);
    const load = loadavg()[0]!;
    const coordinator = spawn(process.execPath, [...nodeArgs, distFile("coordinator/cli.js"), "run", cfg, "--nats", server.url, "--out", out], {
      stdio: ["ignore", "ignore", openSync(logFile, "w"), "pipe"],
    });
    const peak = new PeakTracker(`coordinator (${n} workers)`);
    const samples: Sample[] = [];
    const sample = () => {
      peak.observe(readVmHwm(coordinator.pid));
      const hostCpu = hosts.map((h) => cpuSeconds(h.child.pid));
      samples.push({ t: Date.now(), coordinator: cpuSeconds(coordinator.pid), waiting: runQueueSeconds(coordinator.pid), server: cpuSeconds(server.process.pid), hosts: hostCpu.every((c) => c !== undefined) ? hostCpu.reduce((a, b) => a + b!, 0) : undefined });
    };
    const timer = setInterval(sample, 100);
    let rssReport = "";
    (coordinator.stdio[3] as Readable).setEncoding("utf8").on("data", (d: string) => (rssReport += d));
    const code = await new Promise<number | null>((done) => coordinator.once("close", done));
    clearInterval(timer);
    peak.observe(maxRssReportBytes(rssReport));
    if (code !== 0) throw new Error(`the coordinator with ${n} workers exited ${code}; its log (${logFile}):\n${readFileSync(logFile, "utf8").slice(-2000)}`);
    const run = (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { run: { timings: { steady_pairs_per_s: number }; faults?: Record<string, number> } }).run;

    for (const h of hosts) h.child.kill("SIGTERM");
    const reports = await Promise.all(hosts.map((h) => h.report));
    const trips = reports.flatMap((r) => r.roundTrips).sort((a, b) => a - b);
    const refused = reports.reduce((s, r) => s + r.refused, 0);
    const failed = reports.reduce((s, r) => s + r.failed, 0);
    for (const r of reports) if (r.log.length) process.stderr.write(`${r.log.join("\n")}\n`);
    const firstAck = Math.min(...reports.map((r) => r.firstAck));
    const lastAck = Math.max(...reports.map((r) => r.lastAck));
    const faults = [
      trips.length !== tasks ? `${trips.length} of ${tasks} acks` : "",
      refused ? `${refused} refused` : "",
      failed ? `${failed} workers failed` : "",
      ...Object.entries(run.faults ?? {})
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`),
    ].filter(Boolean);
    return {
      workers: n,
      tasks,
      tasksPerS: run.timings.steady_pairs_per_s / perTask,
      ackP50: percentile(trips, 50),
      ackP99: percentile(trips, 99),
      coordinatorCores: coresIn(samples, "coordinator", firstAck, lastAck),
      coordinatorWaiting: coresIn(samples, "waiting", firstAck, lastAck),
      coordinatorPeakMb: peak.bytes / 2 ** 20,
      serverCores: coresIn(samples, "server", firstAck, lastAck),
      hostCores: coresIn(samples, "hosts", firstAck, lastAck),
      faults: faults.join(", ") || "none",
      load,
    };
  } finally {
    await Promise.all(hosts.map((h) => terminate(h.child, 10_000)));
    await server.stop();
  }
}

const rows: Row[] = [];
for (const n of counts) {
  rows.push(await measure(n));
  process.stderr.write(`${n} workers done\n`);
}
rmSync(work, { recursive: true, force: true });
const cores = (c: number | null) => (c === null ? "n/a" : c.toFixed(2));
// CPU per result is what the coordinator costs whatever share of the cores it got.
const perResult = (r: Row) => (r.coordinatorCores === null ? "n/a" : ((r.coordinatorCores / r.tasksPerS) * 1e6).toFixed(0));
const table = [
  ["workers", "tasks", "results/s", "ack p50 ms", "ack p99 ms", "coord. cores", "coord. waiting for a CPU", "coord. CPU µs/result", "coord. peak RSS MB", "nats-server cores", "sim. workers cores", "load avg", "faults"],
  ...rows.map((r) => [String(r.workers), String(r.tasks), r.tasksPerS.toFixed(0), r.ackP50.toFixed(1), r.ackP99.toFixed(1), cores(r.coordinatorCores), r.coordinatorWaiting === null ? "n/a" : `${(100 * r.coordinatorWaiting).toFixed(0)} %`, perResult(r), r.coordinatorPeakMb.toFixed(0), cores(r.serverCores), cores(r.hostCores), r.load.toFixed(1), r.faults]),
];
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
process.stdout.write(
  `one coordinator, simulated workers answering after ${delayMs} ms, ${perTask} pairs per task (MLP 784-64-10's layout), ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}) shared by the coordinator, nats-server and the simulated workers\n`,
);
process.stdout.write(table.map((r) => "| " + r.map((v, c) => v.padEnd(widths[c]!)).join(" | ") + " |").join("\n") + "\n");
if (profileDir) process.stdout.write(`coordinator CPU profiles in ${profileDir}\n`);
process.exit(0);
