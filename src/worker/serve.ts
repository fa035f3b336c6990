// A worker's life: connect, announce, pull tasks from the runs in progress on the prefix
// (round robin, run-table.ts), compute them on the compute thread, return the results,
// and heartbeat all the while. Lifecycle: starting → running → draining → stopped (or failed).

import { isNoResponders as isNoRespondersStatus } from "../nats/server-status.js";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { BlobError, BlobStore } from "../nats/blob-store.js";
import type { NatsAuth } from "../nats/auth.js";
import { isNoAnswer, isNoResponders } from "../nats/connect.js";
import { connectNatsWaiting, DEFAULT_WORKER_CONNECT_TIMEOUT_S } from "../nats/connect-wait.js";
import {
  createMessage,
  decodeAck,
  decodeMessage,
  encodeMessage,
  objectBucket,
  ProtocolError,
  ProtocolVersionError,
  runSubjects,
  subjects,
  type RunSubjects,
  type Subjects,
  type Message,
  type TaskCurvatureMessage,
  type TaskLossMessage,
  type TaskMessage,
  type WorkerState,
} from "../protocol/index.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import type { BackendChoice, BackendInfo, ConvGradChoice } from "./backend.js";
import { BlobCache } from "./blob-cache.js";
import { sendPairVectors } from "./chunk-sender.js";
import { ComputeError, type JobRequest, type VectorsHandler } from "./compute-client.js";
import { ComputePool } from "./compute-pool.js";
import type { GroupChoice, JobResult } from "./compute-messages.js";
import { RateWindow } from "./rate-window.js";
import { RunTable } from "./run-table.js";

export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 120_000;
export const DEFAULT_PULL_TIMEOUT_MS = 5000;
const REPLY_TIMEOUT_MS = 10_000;
/** How long a blob fetch is retried while the object store is unavailable (failover). */
const BLOB_RETRY_MS = 30_000;
const NO_COORDINATOR_RETRY_MS = 1000;

export interface WorkerOptions {
  natsUrl: string;
  /** The login and TLS (natsAuthFrom(natsUrl, ...)); default: only what the URL carries. */
  natsAuth?: NatsAuth;
  id: string;
  backend: BackendChoice;
  /** Grouped minibatch gradients: auto (on a GPU), on, off. */
  group?: GroupChoice;
  /** Compute threads, each computing part of every task: a count, or auto (cores on a CPU, one on a GPU). */
  computeThreads?: number | "auto";
  /** Cores this worker may use (default: all): caps `auto` compute threads on CPU backends. */
  cpuCores?: number;
  /** XNNPACK threads per compute thread on wasm (default: src/worker/thread-plan.ts). */
  wasmThreads?: number;
  /** Conv gradients on webgpu: stock (default) or from forward convs. */
  convGrad?: ConvGradChoice;
  prefix: string;
  /** How long the first connection is tried again while no server answers (default 300 s; 0: one try). */
  connectTimeoutMs?: number;
  heartbeatMs?: number;
  /** How long a draining worker may finish its task before handing it back. */
  drainTimeoutMs?: number;
  /** How long a task.pull waits for its coordinator's answer (a run that ends stops the wait at once). */
  pullTimeoutMs?: number;
  log?: (line: string) => void;
  /** Told of each task's compute time (src/metrics/worker.ts makes a histogram of it). */
  onComputed?: (job: JobRequest["type"], computeMs: number) => void;
  /** Computes tasks in place of the compute threads (bench/coordinator-scale.ts's simulated workers); the backend and thread options are then unused. */
  compute?: () => Promise<WorkerCompute>;
  /** Hears each result's round trip, from its request to the coordinator's ack, in ms (bench/coordinator-scale.ts). */
  onResultAck?: (ms: number, accepted: boolean) => void;
}

/** What SwarmWorker.stats() reads out: its state and running totals (src/metrics/worker.ts). */
export interface WorkerStats {
  lifecycle: Lifecycle;
  state: WorkerState;
  backend: BackendInfo | null;
  /** Results the coordinator took. */
  tasksDone: number;
  /** Tasks this worker reported as failed (task.error), hand-backs not counted. */
  tasksFailed: number;
  /** Minibatch gradients of pair tasks computed (2 per pair). */
  gradients: number;
  /** Bytes received: pull replies by message type, "blob" for object-store blobs. */
  receivedBytes: ReadonlyMap<string, number>;
  /** Bytes sent, by subject: task.result (every kind of result), task.chunk, task.error. */
  sentBytes: ReadonlyMap<string, number>;
}

function add(totals: Map<string, number>, key: string, n: number): void {
  totals.set(key, (totals.get(key) ?? 0) + n);
}

/** What computes a worker's tasks: the compute threads (ComputePool), or what `compute` gives. */
export type WorkerCompute = Pick<ComputePool, "info" | "size" | "grouping" | "run" | "close">;

export type Lifecycle = "starting" | "running" | "draining" | "stopped" | "failed";

export class WorkerFailure extends Error {
  override name = "WorkerFailure";
}

class ResultTooLarge extends Error {
  override name = "ResultTooLarge";
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    // The listener goes when the timer fires: an idle worker sleeps thousands of times.
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** One worker process's service: the NATS side, with its compute threads (ComputePool). */
export class SwarmWorker {
  lifecycle: Lifecycle = "starting";
  backend: BackendInfo | null = null;
  tasksDone = 0;
  private readonly totals = { tasksFailed: 0, gradients: 0, receivedBytes: new Map<string, number>(), sentBytes: new Map<string, number>() };
  private nc!: NatsConnection;
  private subjects: Subjects;
  private compute: WorkerCompute | null = null;
  private blobs: BlobStore | null = null;
  private readonly cache = new BlobCache(4);
  private current: { taskId: string; leaseId: string; runId: string; subjects: RunSubjects } | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly subs: Subscription[] = [];
  /** The runs in progress on the prefix, and whose turn it is to be pulled. */
  readonly runs = new RunTable(NO_COORDINATOR_RETRY_MS);
  /** Minibatch gradients of pair tasks taken by their coordinators, over the last minute. */
  private readonly gradients = new RateWindow();
  /** Bad prefix-wide messages already logged. */
  private readonly badSaid = new Set<string>();
  private readonly stopPulling = new AbortController();
  /** Ends the pull loop's sleep early (a run was announced that this worker did not know). */
  private wakeUp: (() => void) | null = null;
  /** The pull in flight: its run, and what stops waiting for it when that run ends. */
  private pulling: { runId: string; stop: () => void } | null = null;
  /** The result reply in flight, if any. */
  private replying: Promise<void> = Promise.resolve();
  private loopDone: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;
  /** Drawn at start: tells this process from another one given the same --id (the coordinator refuses the second). */
  readonly instance = randomBytes(8).toString("hex");
  private startDone: Promise<void> = Promise.resolve();

  constructor(private readonly options: WorkerOptions) {
    this.subjects = subjects(options.prefix);
    this.log = options.log ?? ((line) => process.stderr.write(`[worker ${options.id}] ${line}\n`));
  }

  get state(): WorkerState {
    if (this.lifecycle === "draining") return "draining";
    return this.current ? "busy" : "idle";
  }

  stats(): WorkerStats {
    return { lifecycle: this.lifecycle, state: this.state, backend: this.backend, tasksDone: this.tasksDone, ...this.totals };
  }

  /**
   * Selects the backend, connects (waiting for the server up to connectTimeoutMs),
   * announces, and starts pulling. Resolves once running, or stopped if drained while
   * waiting for the server.
   */
  start(): Promise<void> {
    this.startDone = this.startUp();
    return this.startDone;
  }

  private async startUp(): Promise<void> {
    try {
      const o = this.options;
      this.compute = o.compute ? await o.compute() : await ComputePool.start({ backend: o.backend, group: o.group ?? "auto", computeThreads: o.computeThreads ?? "auto", cpuCores: o.cpuCores, wasmThreads: o.wasmThreads, convGrad: o.convGrad });
      this.backend = this.compute.info;
    } catch (err) {
      this.lifecycle = "failed";
      throw new WorkerFailure(`no compute backend: ${(err as Error).message}`, { cause: err });
    }
    for (const s of this.backend.skipped) this.log(`backend passed over: ${s}`);
    this.log(`backend ${this.backend.backend} on ${this.backend.device}, ${this.compute.size} compute thread${this.compute.size === 1 ? "" : "s"}; minibatch gradients ${this.compute.grouping ? "grouped (replicated weights) where the model allows" : "one at a time"}`);
    const signal = this.stopPulling.signal;
    let nc: NatsConnection | null;
    try {
      nc = await connectNatsWaiting(this.options.natsUrl, `gradswarm-worker-${this.options.id}`, this.options.natsAuth, {
        timeoutMs: this.options.connectTimeoutMs ?? DEFAULT_WORKER_CONNECT_TIMEOUT_S * 1000,
        signal,
        log: this.log,
      });
    } catch (err) {
      this.lifecycle = "failed";
      await this.compute.close();
      throw err;
    }
    if (!nc || signal.aborted) {
      // Drained while waiting: nothing was taken, nothing is owed.
      await nc?.close();
      await this.compute.close();
      this.lifecycle = "stopped";
      return;
    }
    this.nc = nc;
    this.listen(this.subjects.list, "worker.list", (msg) => void msg.respond(this.announcement()));
    this.listen(this.subjects.runAnnounce, "run.announce", (_msg, a) => {
      if (a.type !== "run.announce") return;
      const known = this.runs.has(a.runId);
      if (!known) this.log(`run ${a.runId} (${a.label || "unnamed"}) is in progress; pulling from it`);
      this.runs.announced(a.runId, a.label, a.intervalMs);
      // A new run is worth a pull now, not at the end of the sleep in hand.
      if (!known) this.wakeUp?.();
    });
    this.listen(this.subjects.runEnd, "run.end", (_msg, e) => {
      if (e.type !== "run.end") return;
      if (this.runs.drop(e.runId, true)) this.log(`run ${e.runId} ${e.reason}; no more pulls to it`);
      // A pull that the ended run's coordinator took but will never answer (it was stopping)
      // would hold the worker for the whole pull timeout, away from every other run.
      if (this.pulling?.runId === e.runId) this.pulling.stop();
    });
    this.nc.publish(this.subjects.announce, this.announcement());
    // The runs that started before this worker: their coordinators answer with their announce.
    this.nc.publish(this.subjects.runList, encodeMessage(createMessage("run.list", {})), { reply: this.subjects.runAnnounce });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.lifecycle = "running";
    this.loopDone = this.loop().catch((err) => {
      this.lifecycle = "failed";
      this.log(`failed: ${(err as Error).message}`);
      throw err;
    });
  }

  /** Subscribes to a prefix-wide subject that carries messages of `type`; a bad one is logged and ignored. */
  private listen(subject: string, type: "worker.list" | "run.announce" | "run.end", handle: (msg: Msg, decoded: Message) => void): void {
    this.subs.push(
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          // run.list goes out with the announce subject as its reply: with no run in
          // progress, the server's "no responders" comes back there.
          if (err || isNoRespondersStatus(msg)) return;
          let decoded: Message;
          try {
            decoded = decodeMessage(msg.data, [type]);
          } catch (e) {
            // Once per kind: another protocol's coordinator announces every second.
            const line = `ignored a bad ${type} message (further ones like it are not logged): ${(e as Error).message}`;
            if (!this.badSaid.has(line)) this.log(line);
            this.badSaid.add(line);
            return;
          }
          handle(msg, decoded);
        },
      }),
    );
  }

  /** Resolves when the pull loop ends (after drain), rejects if the worker failed. */
  finished(): Promise<void> {
    return this.loopDone;
  }

  private announcement(): Uint8Array {
    return encodeMessage(
      createMessage("worker.announce", {
        workerId: this.options.id,
        instance: this.instance,
        host: hostname(),
        pid: process.pid,
        backend: this.backend?.backend ?? "",
        device: this.backend?.device ?? "",
        version: PACKAGE_VERSION,
        state: this.state,
        taskId: this.current?.taskId ?? null,
        runId: this.current?.runId ?? null,
        tasksDone: this.tasksDone,
        gradientsPerSecond: this.gradients.perSecond(),
      }),
    );
  }

  private heartbeat(): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(
      this.subjects.heartbeat,
      encodeMessage(
        createMessage("worker.heartbeat", {
          workerId: this.options.id,
          instance: this.instance,
          state: this.state,
          taskId: this.current?.taskId ?? null,
          leaseId: this.current?.leaseId ?? null,
          runId: this.current?.runId ?? null,
          backend: this.backend?.backend ?? "",
          device: this.backend?.device ?? "",
        }),
      ),
    );
  }

  private async loop(): Promise<void> {
    const signal = this.stopPulling.signal;
    let waitingSaid = false;
    while (!signal.aborted) {
      const choice = this.runs.choose();
      if (choice.kind === "sleep") {
        if (choice.reason === "no-runs" && !waitingSaid) {
          this.log(`waiting for a coordinator (no run announced on ${this.subjects.runAnnounce})`);
          waitingSaid = true;
        }
        await Promise.race([sleep(choice.ms, signal), new Promise<void>((wake) => (this.wakeUp = wake))]);
        this.wakeUp = null;
        continue;
      }
      waitingSaid = false;
      const runId = choice.runId;
      const run = runSubjects(this.options.prefix, runId);
      let reply;
      try {
        const request = this.nc.request(run.pull, encodeMessage(createMessage("task.pull", { workerId: this.options.id, instance: this.instance, backend: this.backend!.backend })), { timeout: this.options.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS });
        const ended = new Promise<null>((stop) => (this.pulling = { runId, stop: () => stop(null) }));
        const msg = await Promise.race([request, ended]).finally(() => (this.pulling = null));
        if (msg === null) {
          // Its run ended while the pull was out: whatever it answers now is not wanted.
          request.catch(() => undefined);
          continue;
        }
        reply = decodeMessage(msg.data, ["task", "task.loss", "task.curvature", "task.none", "error"]);
        add(this.totals.receivedBytes, reply.type, msg.data.length);
      } catch (err) {
        if (isNoResponders(err)) {
          // Its coordinator is gone without a run.end (killed): nobody will answer.
          if (this.runs.drop(runId)) this.log(`run ${runId}: nobody answers on ${run.pull}; no more pulls to it`);
          continue;
        }
        if (err instanceof ProtocolVersionError) throw new WorkerFailure(`the coordinator speaks another protocol: ${err.message}`);
        if (err instanceof ProtocolError) {
          this.log(`ignored a malformed reply to task.pull from run ${runId}: ${err.message}`);
          this.runs.saidNone(runId, NO_COORDINATOR_RETRY_MS);
          continue;
        }
        if (signal.aborted || this.nc.isClosed()) break;
        if (!isNoAnswer(err)) this.log(`task.pull to run ${runId} failed: ${(err as Error).message}`);
        this.runs.saidNone(runId, NO_COORDINATOR_RETRY_MS);
        continue;
      }
      if (reply.type === "error") throw new WorkerFailure(`the coordinator refused this worker: ${reply.code}: ${reply.message}`);
      if (reply.type === "task.none") {
        // A run that is done hands out nothing more; its run.end follows.
        if (reply.done) this.runs.drop(runId, true);
        else this.runs.saidNone(runId, reply.retryMs);
        continue;
      }
      this.runs.gaveTask();
      await this.runTask(reply, run);
    }
    await this.replying;
  }

  private async runTask(task: TaskMessage | TaskLossMessage | TaskCurvatureMessage, run: RunSubjects): Promise<void> {
    this.current = { taskId: task.taskId, leaseId: task.leaseId, runId: task.runId, subjects: run };
    this.heartbeat();
    try {
      const blobs = (this.blobs ??= await BlobStore.open(this.nc, objectBucket(this.options.prefix), false));
      const source = (hash: string) => ({ hash, get: () => this.cache.get(hash, () => this.fetchBlob(blobs, hash, task.leaseMs)) });
      let request: JobRequest;
      let onVectors: VectorsHandler | undefined;
      if (task.type === "task") {
        request = { type: "pairs", pairs: task.pairs, labels: task.labels, labelSeed: task.labelSeed, metrics: task.metrics.map((m) => source(m.hash)) };
        const target = { nc: this.nc, subject: run.chunk, runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId: this.options.id };
        if (task.returns === "vectors") onVectors = async (pair, g1, g2, layout) => void add(this.totals.sentBytes, "task.chunk", (await sendPairVectors(target, pair, g1, g2, layout)).bytes);
      } else if (task.type === "task.loss") {
        request = { type: "loss", points: task.points, directions: task.directions.map((d) => source(d.hash)), indices: task.indices };
      } else {
        const { items, maxIterations, tolerance, probes, step, seed } = task;
        request = { type: "curvature", items, maxIterations, tolerance, probes, step, seed };
      }
      const done = await this.compute!.run(source(task.snapshot.hash), { ...source(task.dataset.hash), name: task.dataset.name }, request, onVectors);
      if (task.type === "task") this.totals.gradients += 2 * task.pairs.length;
      this.options.onComputed?.(request.type, done.computeMs);
      const bytes = encodeMessage(this.resultMessage(task, done.result, done.computeMs));
      const limit = this.nc.info?.max_payload ?? Infinity;
      if (bytes.length > limit) {
        // Never dropped silently: the coordinator hears why and can stop the run.
        throw new ResultTooLarge(`the result of task ${task.taskId} is ${bytes.length} bytes, over the server's max_payload of ${limit}; use fewer pairs.per_task`);
      }
      // The reply goes out while the next task is pulled and computed (at most one reply
      // in flight): the coordinator's decode, checks and journal fsync then cost no compute.
      await this.replying;
      const gradients = task.type === "task" ? 2 * task.pairs.length : 0;
      this.replying = this.send(run.result, bytes, task).then((ok) => {
        if (!ok) return;
        this.tasksDone++;
        if (gradients > 0) this.gradients.add(gradients);
      });
    } catch (err) {
      const code = err instanceof ComputeError ? err.code : err instanceof BlobError ? err.code : err instanceof ResultTooLarge ? "result_too_large" : "worker_failed";
      const message = (err as Error).message ?? String(err);
      this.log(`task ${task.taskId} failed (${code}): ${message}`);
      const body = createMessage("task.error", { runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId: this.options.id, code, message: message.slice(0, 4000) });
      this.totals.tasksFailed++;
      await this.send(run.error, encodeMessage(body), task);
    } finally {
      this.current = null;
    }
  }

  private resultMessage(task: { runId: string; taskId: string; leaseId: string }, result: JobResult, computeMs: number): Message {
    const head = { runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId: this.options.id, computeMs: Math.round(computeMs) };
    if (result.type === "pairs") return createMessage("task.result", { ...head, tensors: result.layout.tensors, tensorSizes: result.layout.tensorSizes, pairs: result.pairs });
    if (result.type === "loss") return createMessage("task.loss_result", { ...head, points: result.points });
    return createMessage("task.curvature_result", { ...head, items: result.items });
  }

  /**
   * A blob, retried while the store is unavailable (a restarted server, a cluster
   * electing a new stream leader takes ~10 s): that is no fault of the task, and each
   * failed attempt would count against it. Heartbeats keep the lease alive meanwhile.
   */
  private async fetchBlob(blobs: BlobStore, hash: string, leaseMs: number): Promise<Uint8Array> {
    const giveUp = Date.now() + Math.max(BLOB_RETRY_MS, leaseMs / 2);
    for (;;) {
      try {
        const bytes = await blobs.get(hash);
        add(this.totals.receivedBytes, "blob", bytes.length);
        return bytes;
      } catch (err) {
        if (!(err instanceof BlobError) || err.code !== "blob_store_unavailable" || Date.now() > giveUp || this.nc.isClosed()) throw err;
        this.log(`object store unavailable (${err.message}); retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Request with retries while the lease lasts; the coordinator dedupes by lease. */
  private async send(subject: string, data: Uint8Array, task: { runId: string; taskId: string; leaseMs: number }): Promise<boolean> {
    const giveUp = Date.now() + task.leaseMs;
    // Several tries within the lease: a reply lost in a reconnect must not wait out the lease.
    const timeout = Math.min(REPLY_TIMEOUT_MS, Math.max(500, task.leaseMs / 3));
    while (Date.now() < giveUp && !this.nc.isClosed()) {
      // A run that ended takes nothing more: its worker is free at once.
      if (this.runs.ended(task.runId)) {
        this.log(`task ${task.taskId}: run ${task.runId} is over; its reply is dropped`);
        return false;
      }
      try {
        // By kind (task.result, task.error): the run's subject ends in it.
        const kind = subject.split(".").slice(-2).join(".");
        add(this.totals.sentBytes, kind, data.length);
        const sent = performance.now();
        const ack = decodeAck((await this.nc.request(subject, data, { timeout })).data);
        if (kind === "task.result") this.options.onResultAck?.(performance.now() - sent, ack.accepted);
        if (!ack.accepted) this.log(`task ${task.taskId}: the coordinator did not take the reply (${ack.reason ?? "no reason"})`);
        return ack.accepted;
      } catch (err) {
        if (!isNoAnswer(err)) {
          this.log(`task ${task.taskId}: reply failed: ${(err as Error).message}`);
          return false;
        }
        await new Promise((r) => setTimeout(r, NO_COORDINATOR_RETRY_MS));
      }
    }
    this.log(`task ${task.taskId}: gave up returning the reply; the lease will expire and the task be redone`);
    return false;
  }

  /**
   * Stops pulling, lets the task in hand finish (or hands it back after the drain
   * timeout), then leaves NATS. Nothing is lost: a task not returned is redone elsewhere.
   */
  async drain(): Promise<void> {
    if (this.lifecycle === "stopped" || this.lifecycle === "draining") return this.loopDone.catch(() => undefined);
    if (this.lifecycle === "starting") {
      // Still loading the backend or waiting for the server: no task is in hand.
      this.log("stopping before it started: no task taken");
      this.stopPulling.abort();
      await this.startDone.catch(() => undefined);
      if ((this.lifecycle as Lifecycle) === "running") return this.drain();
      return this.shutdown();
    }
    if (this.lifecycle === "running") this.lifecycle = "draining";
    this.log("draining: finishing the task in hand, taking no new ones");
    this.stopPulling.abort();
    const timeout = this.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    const timedOut = await Promise.race([
      this.loopDone.then(() => false, () => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), timeout).unref()),
    ]);
    if (timedOut && this.current) {
      const { taskId, leaseId, runId, subjects: run } = this.current;
      this.log(`drain timeout: handing task ${taskId} back`);
      const body = createMessage("task.error", { runId, taskId, leaseId, workerId: this.options.id, code: "draining", message: "the worker is shutting down" });
      try {
        await this.nc.request(run.error, encodeMessage(body), { timeout: REPLY_TIMEOUT_MS });
      } catch {
        // the lease will expire instead
      }
    }
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
    await this.compute?.close();
    if (this.lifecycle !== "failed") this.lifecycle = "stopped";
  }

  /** Stops at once (after a failure). */
  async close(): Promise<void> {
    this.stopPulling.abort();
    await this.shutdown();
  }
}
