// Should the task queue move onto JetStream (issue "JetStream work queue")? The same
// quickstart-sized tasks and results (bench/queue/messages.ts) through
//  (a) the project's pull protocol: the real Dispatcher and DispatcherWire (leases,
//      heartbeat renewals, the 250 ms sweep) in this process, against real SwarmWorkers
//      (bench/scale/sim-workers.ts, a synthetic compute that answers at once) in a child;
//  (b) a JetStream work-queue stream with one durable pull consumer (AckWait as the lease,
//      working() as the heartbeat, MaxDeliver as max_attempts), consumers in a child
//      (bench/queue/js-consumers.ts) that next(), return the result to this process by
//      request/reply, and ackAck once it is accepted.
// For N = 1, 4, 16 workers or consumers, each configuration in the same run:
//  throughput: all --tasks tasks queued up front, results/s from the first to the last,
//              and the CPU per result of the coordinator's side and of nats-server (for
//              JetStream with what publishing the tasks cost, before the clock);
//  latency:    tasks offered at --rate per second, p50/p99 from the task's publish (made
//              available) to its result accepted here;
//  redelivery: a worker/consumer takes a task and is killed (SIGKILL) while it renews
//              the lease; the time from the kill to the task's result accepted from
//              another one, with lease = AckWait = --lease-ms and renewals every 1 s.
// Neither side journals results (the journal would cost both designs the same).
// Run: npm run build && npx tsx bench/swarm-queue.ts [--tasks 2000] [--rate 100] [--paced 300] [--lease-ms 2000] [--redeliveries 3]
// A shared machine: the queue's processes share its cores with whatever else runs.

import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Dispatcher } from "../src/coordinator/dispatcher.js";
import { DispatcherWire } from "../src/coordinator/dispatcher-wire.js";
import type { Phase } from "../src/coordinator/phase.js";
import { TaskTable, type Lease, type TaskSpec, type TaskTableOptions } from "../src/coordinator/task-table.js";
import { encodeSnapshot, sha256Hex } from "../src/model/snapshot.js";
import { BlobStore } from "../src/nats/blob-store.js";
import { startNatsServer, type NatsServerHandle } from "../src/nats/server-process.js";
import { createMessage, decodeMessage, encodeMessage, objectBucket, runSubjects, type BlobRef, type TaskResultMessage } from "../src/protocol/index.js";
import { RunAnnouncer } from "../src/coordinator/run-announcer.js";
import { terminate } from "../src/util/child-process.js";
import { PAIRS_PER_TASK, quickstartLayout, quickstartSnapshot, quickstartTask } from "./queue/messages.js";
import { syntheticPair } from "./scale/synthetic-compute.js";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}
const TASKS = option("tasks", 2000);
const RATE = option("rate", 100);
const PACED = option("paced", 300);
const LEASE_MS = option("lease-ms", 2000);
const REDELIVERIES = option("redeliveries", 3);
const COUNTS = [1, 4, 16];
const VICTIM = "victim";
/** Each run its own prefix (subjects, bucket, stream) on the one server. */
let runs = 0;
const here = dirname(fileURLToPath(import.meta.url));

type Mode = { kind: "throughput" } | { kind: "paced" } | { kind: "redelivery" };
interface Outcome {
  /** When each task's result was accepted, and when it was made available (paced). */
  accepted: Map<string, number>;
  published: Map<string, number>;
  /** Redelivery: kill → the held task's result accepted from another worker, ms. */
  redeliveryMs?: number;
  /** CPU ms per result of this process (the coordinator's side) and of nats-server, first to last result. */
  cpu?: { coordinatorMs: number; serverMs: number };
  /** JetStream: the same, per task, of publishing the tasks into the stream. */
  publishCpu?: { coordinatorMs: number; serverMs: number };
}

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** Records each accepted result; between the first and the last, the CPU this process and the server used. */
function recorder(out: Outcome, total: number, serverPid: number): (taskId: string) => boolean {
  let first: { own: NodeJS.CpuUsage; server: number } | null = null;
  return (taskId) => {
    if (out.accepted.has(taskId)) return false;
    out.accepted.set(taskId, now());
    if (!first) first = { own: process.cpuUsage(), server: cpuSeconds(serverPid) };
    else if (out.accepted.size === total) {
      const own = process.cpuUsage(first.own);
      const results = total - 1;
      out.cpu = { coordinatorMs: (own.user + own.system) / 1000 / results, serverMs: ((cpuSeconds(serverPid) - first.server) * 1000) / results };
    }
    return true;
  };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A child process that prints "ready" (and other lines, to `onLine`) once its workers wait for work. */
function startChild(script: string, args: string[], onLine: (line: string) => void = () => undefined): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(here, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((ready, failed) => {
    let buffer = "";
    child.once("exit", (code) => failed(new Error(`${script} exited (${code}) before it was ready`)));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line === "ready") ready(child);
        else onLine(line);
      }
    });
  });
}

/** Resolves when `done()` holds, checked on every call of the returned `poke`; fails after 60 s without a poke. */
function progress(done: () => boolean): { poke: () => void; finished: Promise<void> } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const finished = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  let timer = setTimeout(() => reject(new Error("no progress for 60 s")), 60_000);
  return {
    finished,
    poke: () => {
      clearTimeout(timer);
      if (done()) return resolve();
      timer = setTimeout(() => reject(new Error("no progress for 60 s")), 60_000);
    },
  };
}

/** Tasks made available over time (paced), and the victim's task held back for it alone (redelivery). */
class GatedTable extends TaskTable {
  opensAt: ((k: number) => number) | null = null;
  victimFirst = false;
  private leases = 0;
  constructor(tasks: readonly TaskSpec[], options: TaskTableOptions) {
    super(tasks, options);
  }
  override lease(workerId: string): Lease | null {
    if (this.victimFirst && this.leases === 0 && workerId !== VICTIM) return null;
    if (this.opensAt && now() < this.opensAt(this.leases)) return null;
    const lease = super.lease(workerId);
    if (lease) this.leases++;
    return lease;
  }
}

const log = (line: string) => process.stderr.write(`  ${line}\n`);

async function snapshotRef(nc: NatsConnection, prefix: string): Promise<BlobRef> {
  const blobs = await BlobStore.open(nc, objectBucket(prefix), true);
  const bytes = encodeSnapshot(quickstartSnapshot());
  const put = await blobs.put(bytes, "queue bench θ", sha256Hex(bytes));
  return { hash: put.hash, bytes: bytes.length };
}

/** (a) The project's pull protocol. */
async function pullRun(server: NatsServerHandle, n: number, mode: Mode): Promise<Outcome> {
  const prefix = `qpull${n}${mode.kind}${++runs}`;
  const nc = await connect({ servers: server.url, name: "queue-bench-coordinator" });
  const children: ChildProcess[] = [];
  const runId = randomUUID();
  const total = mode.kind === "throughput" ? TASKS : mode.kind === "paced" ? PACED : 20;
  const specs = Array.from({ length: total }, (_, k) => ({ id: `queue#${k}`, pairIds: Array.from({ length: PAIRS_PER_TASK }, (_, i) => k * PAIRS_PER_TASK + i) }));
  const table = new GatedTable(specs, { leaseMs: LEASE_MS, maxAttempts: 5, maxInFlight: 100_000 });
  const out: Outcome = { accepted: new Map(), published: new Map() };
  const record = recorder(out, total, server.process.pid!);
  const { poke, finished } = progress(() => out.accepted.size === total);
  let killedAt = 0;
  let onVictimLease: () => void = () => undefined;
  try {
    const ref = await snapshotRef(nc, prefix);
    const phase: Phase<TaskResultMessage> = {
      name: "queue",
      table,
      resultType: "task.result",
      vectors: false,
      message: (lease, id) => {
        if (lease.workerId === VICTIM) onVictimLease();
        return quickstartTask(id, lease.task.id, lease.leaseId, Number(lease.task.id.split("#")[1]), ref);
      },
      accept: (r) => {
        record(r.taskId);
        if (r.taskId === "queue#0" && killedAt) out.redeliveryMs = now() - killedAt;
        setImmediate(poke);
        return null;
      },
      durable: () => Promise.resolve(),
      units: (r) => r.pairs.length,
    };
    const dispatcher = new Dispatcher({ runId, leaseMs: LEASE_MS, waitMs: 60_000, stallTimeoutMs: 600_000, quarantineAfter: 3, creditPhase: "queue", pullSubject: runSubjects(prefix, runId).pull, log });
    const wire = new DispatcherWire(nc, prefix, dispatcher, log);
    wire.start();
    dispatcher.start();
    // Workers pull from the runs they hear announced (protocol v3), as from a coordinator's.
    const announcer = new RunAnnouncer(nc, prefix, { runId, label: "swarm-queue", owner: "bench", host: "bench", startedAt: Date.now() }, () => ({ phase: "queue", done: 0, total, etaMs: null, workers: 0, retries: 0, quarantines: 0 }), log);
    announcer.start();
    try {
      if (mode.kind === "redelivery") table.victimFirst = true;
      const ran = dispatcher.run(phase);
      const ids = Array.from({ length: n }, (_, i) => `w${i}`);
      const workers = await startChild("scale/sim-workers.ts", ["--nats", server.url, "--prefix", prefix, "--ids", ids.join(","), "--delay-ms", "0"]);
      children.push(workers);
      if (mode.kind === "paced") {
        const t0 = now() + 50;
        table.opensAt = (k) => t0 + (k * 1000) / RATE;
        for (let k = 0; k < total; k++) out.published.set(`queue#${k}`, t0 + (k * 1000) / RATE);
      }
      if (mode.kind === "redelivery") {
        const leased = new Promise<void>((r) => (onVictimLease = r));
        const victim = await startChild("scale/sim-workers.ts", ["--nats", server.url, "--prefix", prefix, "--ids", VICTIM, "--delay-ms", "3600000"]);
        children.push(victim);
        await leased;
        // Mid-way between two heartbeats (1 s apart) on average.
        await new Promise((r) => setTimeout(r, 500));
        victim.kill("SIGKILL");
        killedAt = now();
      }
      await Promise.all([ran, finished]);
    } finally {
      announcer.end("finished", "bench done");
      wire.stop();
      dispatcher.stop();
    }
    return out;
  } finally {
    await Promise.all(children.map((c) => terminate(c, 10_000)));
    await nc.close();
  }
}

/** (b) A JetStream work-queue stream with a durable pull consumer. */
async function jetstreamRun(server: NatsServerHandle, n: number, mode: Mode): Promise<Outcome> {
  const prefix = `qjs${n}${mode.kind}${++runs}`;
  const nc = await connect({ servers: server.url, name: "queue-bench-coordinator" });
  const children: ChildProcess[] = [];
  const runId = randomUUID();
  const total = mode.kind === "throughput" ? TASKS : mode.kind === "paced" ? PACED : 20;
  const out: Outcome = { accepted: new Map(), published: new Map() };
  const record = recorder(out, total, server.process.pid!);
  const { poke, finished } = progress(() => out.accepted.size === total);
  let killedAt = 0;
  const stream = `TASKS_${prefix}`;
  const taskSubject = `${prefix}.tasks`;
  const resultSubject = `${prefix}.result`;
  try {
    const ref = await snapshotRef(nc, prefix);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [taskSubject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add(stream, { durable_name: "workers", ack_policy: AckPolicy.Explicit, ack_wait: LEASE_MS * 1_000_000, max_deliver: 5, max_ack_pending: 100_000 });
    // The coordinator's side of a result: decoded and checked like the project's, then acked.
    nc.subscribe(resultSubject, {
      callback: (err, msg) => {
        if (err) return;
        const r = decodeMessage(msg.data, ["task.result"]);
        const fresh = r.runId === runId && record(r.taskId);
        if (fresh && r.taskId === "queue#0" && killedAt) out.redeliveryMs = now() - killedAt;
        // A duplicate is acked as taken, so its consumer acks it off the stream.
        msg.respond(encodeMessage(createMessage("ack", { accepted: true, reason: null })));
        setImmediate(poke);
      },
    });
    const js = jetstream(nc);
    const publish = async (k: number) => {
      const id = `queue#${k}`;
      const bytes = encodeMessage(quickstartTask(runId, id, `${id}.1`, k, ref));
      if (!out.published.has(id)) out.published.set(id, now());
      await js.publish(taskSubject, bytes);
    };
    const consumers = (count: number, extra: string[] = [], onLine?: (l: string) => void) =>
      startChild("queue/js-consumers.ts", ["--nats", server.url, "--stream", stream, "--consumer", "workers", "--result", resultSubject, "--count", String(count), ...extra], onLine);
    if (mode.kind === "throughput") {
      // Queued up front, as the project's task table holds a phase's tasks from its start;
      // what publishing them cost is added to the CPU per result.
      const own = process.cpuUsage();
      const serverAt = cpuSeconds(server.process.pid!);
      for (let k = 0; k < total; k += 64) await Promise.all(Array.from({ length: Math.min(64, total - k) }, (_, i) => publish(k + i)));
      const used = process.cpuUsage(own);
      out.publishCpu = { coordinatorMs: (used.user + used.system) / 1000 / total, serverMs: ((cpuSeconds(server.process.pid!) - serverAt) * 1000) / total };
      children.push(await consumers(n));
    } else if (mode.kind === "paced") {
      children.push(await consumers(n));
      const t0 = now() + 50;
      const pending: Promise<void>[] = [];
      for (let k = 0; k < total; k++) {
        const wait = t0 + (k * 1000) / RATE - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(publish(k));
      }
      await Promise.all(pending);
    } else {
      await publish(0);
      let holding!: () => void;
      const held = new Promise<void>((r) => (holding = r));
      const victim = await consumers(1, ["--hold", "--working-ms", "1000"], (line) => line.startsWith("holding") && holding());
      children.push(victim);
      await held;
      children.push(await consumers(n));
      for (let k = 1; k < total; k++) await publish(k);
      await new Promise((r) => setTimeout(r, 500));
      victim.kill("SIGKILL");
      killedAt = now();
    }
    await finished;
    return out;
  } finally {
    await Promise.all(children.map((c) => terminate(c, 10_000)));
    await nc.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
function rate(o: Outcome): number {
  const t = [...o.accepted.values()];
  return (t.length - 1) / ((Math.max(...t) - Math.min(...t)) / 1000);
}
function latencies(o: Outcome): number[] {
  return [...o.accepted].map(([id, t]) => t - o.published.get(id)!).sort((a, b) => a - b);
}

const layout = quickstartLayout();
const taskBytes = encodeMessage(quickstartTask(randomUUID(), "theta/pairs#1234", "theta/pairs#1234.1", 1234, { hash: sha256Hex(new Uint8Array(1)), bytes: 203_530 })).length;
const resultBytes = encodeMessage(
  createMessage("task.result", { runId: randomUUID(), taskId: "theta/pairs#1234", leaseId: "theta/pairs#1234.1", workerId: "worker-1", computeMs: 12, tensors: layout.tensors, tensorSizes: layout.tensorSizes, pairs: Array.from({ length: PAIRS_PER_TASK }, (_, i) => syntheticPair(1, i, layout.tensors.length, 0)) }),
).length;

const rows: string[][] = [];
const redelivery: string[] = [];
const server = await startNatsServer();
try {
  for (const n of COUNTS) {
    for (const [name, run] of [
      ["pull protocol", pullRun],
      ["JetStream work queue", jetstreamRun],
    ] as const) {
      const load = loadavg()[0]!;
      const through = await run(server, n, { kind: "throughput" });
      const paced = await run(server, n, { kind: "paced" });
      const lat = latencies(paced);
      const cpu = { coordinatorMs: through.cpu!.coordinatorMs + (through.publishCpu?.coordinatorMs ?? 0), serverMs: through.cpu!.serverMs + (through.publishCpu?.serverMs ?? 0) };
      rows.push([name, String(n), rate(through).toFixed(0), (cpu.coordinatorMs * 1000).toFixed(0), (cpu.serverMs * 1000).toFixed(0), percentile(lat, 50).toFixed(1), percentile(lat, 99).toFixed(1), load.toFixed(1)]);
      process.stderr.write(`${name}, ${n}: done\n`);
    }
  }
  for (const [name, run] of [
    ["pull protocol", pullRun],
    ["JetStream work queue", jetstreamRun],
  ] as const) {
    const times: string[] = [];
    for (let i = 0; i < REDELIVERIES; i++) times.push((((await run(server, 4, { kind: "redelivery" })).redeliveryMs ?? NaN) / 1000).toFixed(2));
    redelivery.push(`${name}: ${times.join(", ")} s`);
  }
} finally {
  await server.stop();
}
const head = ["queue", "workers", "results/s (all queued)", "coordinator CPU µs/result", "nats-server CPU µs/result", `p50 ms (at ${RATE}/s)`, `p99 ms (at ${RATE}/s)`, "load avg"];
const table = [head, ...rows];
const w = head.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
process.stdout.write(
  `quickstart-sized messages: task ${taskBytes} B (${PAIRS_PER_TASK} pairs of minibatches of 32), result ${resultBytes} B (MLP 784-64-10); results accepted without a journal; ${availableParallelism()} cores shared with everything else running\n`,
);
process.stdout.write(table.map((r) => "| " + r.map((v, c) => v.padEnd(w[c]!)).join(" | ") + " |").join("\n") + "\n");
process.stdout.write(`kill → the held task's result from another of 4 workers, lease = AckWait = ${LEASE_MS / 1000} s, renewed every 1 s, killed 0.5 s after it took the task, ${REDELIVERIES} tries each: ${redelivery.join("; ")}\n`);
process.exit(0);
