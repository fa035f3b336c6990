// The coordinator's NATS side: answers task.pull with leased tasks, takes results and
// errors (each counted once, under its live lease), renews leases from heartbeats,
// requeues expired leases, and keeps the list of workers. The truth about tasks lives in
// TaskTable; this file only translates between it and the wire.

import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  createMessage,
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolVersionError,
  subjects,
  type MessageType,
  type MessageOf,
  float32View,
  peekSender,
} from "../protocol/index.js";
import type { Phase } from "./phase.js";
import type { TaskExhaustedError } from "./task-table.js";
import { VectorReducer } from "./vector-reducer.js";

export const SWEEP_INTERVAL_MS = 250;
/** How soon an idle worker asks again while others hold the remaining tasks. */
export const RETRY_MS = 200;
/** A worker not heard from for this long is taken for gone. */
export const WORKER_SILENT_MS = 10_000;
const WAITING_NOTICE_MS = 3000;

export interface WorkerRecord {
  id: string;
  /** Results or chunks refused as bad (malformed, non-finite, inconsistent). */
  badResults: number;
  /** Set once the worker is refused work; says why. */
  quarantined: string | null;
  host: string;
  backend: string;
  device: string;
  version: string;
  firstSeen: number;
  lastSeen: number;
  pairsDone: number;
  tasksDone: number;
  /** Units (pairs, points, items) accepted per phase. */
  units: Record<string, number>;
}

export interface DispatcherOptions {
  nc: NatsConnection;
  prefix: string;
  runId: string;
  leaseMs: number;
  /** How long to go without any live worker before giving up. */
  waitMs: number;
  /** Bad results after which a worker gets no more work. */
  quarantineAfter: number;
  /** The phase whose accepted pairs count as a worker's `pairsDone` (the main pairs). */
  creditPhase: string;
  log: (line: string) => void;
  now?: () => number;
}

export class RunFailure extends Error {
  override name = "RunFailure";
}

export class Dispatcher {
  readonly workers = new Map<string, WorkerRecord>();
  private readonly subs: Subscription[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private settle: { resolve: () => void; reject: (err: Error) => void } | null = null;
  /** The phase being run, or null between phases. */
  private phase: Phase | null = null;
  /** Set by fail(): every later phase fails at once with it. */
  private failure: Error | null = null;
  private lastWorkerSeen: number;
  private waitingSaid = false;
  private readonly refusedKinds = new Set<string>();
  private readonly now: () => number;
  /** Faults seen, for the run record. */
  readonly counts = { expiredLeases: 0, taskErrors: 0, rejectedResults: 0, duplicateResults: 0, staleResults: 0, refusedMessages: 0, quarantinedWorkers: 0 };
  /** Per phase: when its first and last results were accepted, and the units after the first. */
  readonly spans = new Map<string, { first: number; last: number; unitsAfterFirst: number }>();
  /** Reduces gradient chunks (return: vectors). */
  readonly vectors = new VectorReducer();

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
    this.lastWorkerSeen = this.now();
  }

  /** Runs a phase to its end: resolves when all its tasks are done, rejects if the run fails. */
  run(phase: Phase): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.phase) throw new Error(`phase ${this.phase.name} is still running`);
    this.phase = phase;
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    if (phase.table.isFinished()) this.finish();
    return done;
  }

  start(): void {
    const s = subjects(this.o.prefix);
    this.listen(s.pull, (m) => this.onPull(m));
    this.listen(s.result, (m) => this.onResult(m));
    this.listen(s.chunk, (m) => this.onChunk(m));
    this.listen(s.error, (m) => this.onError(m));
    this.listen(s.heartbeat, (m) => this.onHeartbeat(m));
    this.listen(s.announce, (m) => this.onAnnounce(m));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
  }

  private listen(subject: string, handler: (msg: Msg) => void): void {
    this.subs.push(
      this.o.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            handler(msg);
          } catch (e) {
            // A handler bug must not take the subscription down; report it and go on.
            this.o.log(`internal error handling ${subject}: ${(e as Error).stack ?? String(e)}`);
          }
        },
      }),
    );
  }

  /** Decodes a request; on a bad message replies with an error (if it can) and returns null. */
  private decode<T extends MessageType>(msg: Msg, types: readonly T[]): MessageOf<T> | null {
    try {
      return decodeMessage(msg.data, types);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const code = err instanceof ProtocolVersionError ? "protocol_version" : "bad_message";
      this.counts.refusedMessages++;
      // One line per kind of refusal and subject: a misbehaving peer must not flood the log.
      const key = `${code}:${msg.subject}`;
      if (!this.refusedKinds.has(key)) {
        this.refusedKinds.add(key);
        this.o.log(`refused a message on ${msg.subject} (further ones of this kind are only counted): ${err.message}`);
      }
      if (code === "bad_message" && (types as readonly string[]).some((t) => t === "task.result" || t === "task.chunk")) {
        // A malformed result (NaN, wrong lengths, …) still names its worker and lease.
        const who = peekSender(msg.data);
        if (who.workerId) this.strike(who.workerId, who.taskId, who.leaseId, `malformed ${types.join("/")}: ${err.message}`);
      }
      if (msg.reply) {
        msg.respond(encodeMessage(createMessage("error", { code, message: `coordinator (protocol v${PROTOCOL_VERSION}) refused the message: ${err.message}` })));
      }
      return null;
    }
  }

  private ack(msg: Msg, accepted: boolean, reason: string | null): void {
    if (msg.reply) msg.respond(encodeMessage(createMessage("ack", { accepted, reason })));
  }

  private seen(id: string, info?: Partial<WorkerRecord>): WorkerRecord {
    const t = this.now();
    this.lastWorkerSeen = t;
    let w = this.workers.get(id);
    if (!w) {
      w = { id, host: "", backend: "", device: "", version: "", firstSeen: t, lastSeen: t, pairsDone: 0, tasksDone: 0, units: {}, badResults: 0, quarantined: null };
      this.workers.set(id, w);
    }
    w.lastSeen = t;
    for (const [k, v] of Object.entries(info ?? {})) if (v !== undefined && v !== "") (w as unknown as Record<string, unknown>)[k] = v;
    return w;
  }

  private onPull(msg: Msg): void {
    const pull = this.decode(msg, ["task.pull"]);
    if (!pull) return;
    const worker = this.seen(pull.workerId, { backend: pull.backend });
    if (worker.quarantined) {
      return void msg.respond(encodeMessage(createMessage("error", { code: "quarantined", message: `this coordinator gives worker ${worker.id} no more work: ${worker.quarantined}` })));
    }
    const phase = this.phase;
    const none = (done: boolean): void => void msg.respond(encodeMessage(createMessage("task.none", { runId: this.o.runId, retryMs: done ? 1000 : RETRY_MS, done })));
    // Between phases (or when the run is over) there is nothing to hand out.
    if (!phase || this.failure || phase.table.isFinished()) return none(this.failure !== null);
    const lease = phase.table.lease(pull.workerId);
    if (!lease) return none(false);
    msg.respond(encodeMessage(phase.message(lease, this.o.runId)));
  }

  private onResult(msg: Msg): void {
    const result = this.decode(msg, ["task.result", "task.loss_result", "task.curvature_result"]);
    if (!result) return;
    const worker = this.seen(result.workerId);
    if (result.runId !== this.o.runId) return this.ack(msg, false, `result for run ${result.runId}, this is run ${this.o.runId}`);
    const phase = this.phase;
    const live = phase?.table.current(result.taskId, result.leaseId);
    if (!phase || !live) {
      const outcome = phase?.table.complete(result.taskId, result.leaseId); // classifies only: the lease is not live
      if (outcome === "duplicate") this.counts.duplicateResults++;
      else this.counts.staleResults++;
      return this.ack(msg, false, outcome === "duplicate" ? "task already done" : "lease no longer valid (expired, released or reassigned)");
    }
    if (live.workerId !== result.workerId) return this.ack(msg, false, `lease ${result.leaseId} belongs to another worker`);
    let refusal: string | null = null;
    if (result.type !== phase.resultType) refusal = `a ${result.type} for a task that wants a ${phase.resultType}`;
    if (!refusal && phase.vectors && result.type === "task.result") {
      // The worker's statistics must agree with those of the vectors it sent (to 1e-9);
      // then its own are kept: they do not depend on how the vectors were chunked, so a
      // vectors run and a stats run give the same numbers bit for bit.
      const computed = this.vectors.commit(result);
      if (typeof computed === "string") refusal = computed;
    }
    refusal ??= phase.accept(result);
    if (refusal) {
      this.counts.rejectedResults++;
      this.strike(result.workerId, result.taskId, result.leaseId, refusal);
      this.ack(msg, false, refusal);
      return;
    }
    phase.vectorStats?.commit(result.leaseId);
    phase.table.complete(result.taskId, result.leaseId);
    worker.tasksDone++;
    const units = phase.units(result);
    worker.units[phase.name] = (worker.units[phase.name] ?? 0) + units;
    const t = this.now();
    const span = this.spans.get(phase.name);
    if (span) {
      span.last = t;
      span.unitsAfterFirst += units;
    } else {
      this.spans.set(phase.name, { first: t, last: t, unitsAfterFirst: 0 });
    }
    if (phase.name === this.o.creditPhase) worker.pairsDone += units;
    // "Accepted" only once the journal line is on disk: a coordinator killed before that
    // resumes without the result, and the worker, unanswered, is no worse off.
    phase.durable().then(
      () => this.ack(msg, true, null),
      (err: Error) => this.fail(new RunFailure(`the run stops: ${err.message}`, { cause: err })),
    );
    if (phase.table.isFinished()) this.finish();
  }

  private onChunk(msg: Msg): void {
    const chunk = this.decode(msg, ["task.chunk"]);
    if (!chunk) return;
    this.seen(chunk.workerId);
    const phase = this.phase;
    if (chunk.runId !== this.o.runId) return this.ack(msg, false, `chunk for run ${chunk.runId}, this is run ${this.o.runId}`);
    const live = phase?.table.current(chunk.taskId, chunk.leaseId);
    if (!phase || !live || live.workerId !== chunk.workerId) return this.ack(msg, false, "lease no longer valid (expired, released or reassigned)");
    if (!phase.vectors) return this.ack(msg, false, "this phase takes statistics, not vectors");
    const refusal = this.vectors.add(chunk, live.task.pairIds);
    if (refusal) {
      this.strike(chunk.workerId, chunk.taskId, chunk.leaseId, refusal);
      return this.ack(msg, false, refusal);
    }
    phase.vectorStats?.add(chunk.leaseId, chunk.pair, chunk.layer, chunk.offset, float32View(chunk.g1), float32View(chunk.g2));
    // Chunks flowing are progress: the lease lives as long as they come.
    phase.table.renew(chunk.taskId, chunk.leaseId);
    this.ack(msg, true, null);
  }

  /**
   * A bad result or chunk: the task (if its lease is live and the worker's) goes back with
   * an attempt counted, and the worker is quarantined after quarantineAfter strikes.
   */
  private strike(workerId: string, taskId: string | undefined, leaseId: string | undefined, reason: string): void {
    // Only a bad result under the worker's own live lease counts, once per lease (the
    // lease is released here): junk after that, or naming someone else's lease, is
    // refused without blaming anyone.
    const phase = this.phase;
    const live = phase && taskId && leaseId ? phase.table.current(taskId, leaseId) : null;
    if (!phase || !live || live.workerId !== workerId) return;
    const worker = this.seen(workerId);
    worker.badResults++;
    this.o.log(`refused a result of worker ${workerId} for task ${live.task.id}: ${reason}`);
    this.dropLease(live.leaseId);
    phase.table.release(live.task.id, live.leaseId, `bad result from ${workerId}: ${reason}`, true);
    if (!worker.quarantined && worker.badResults >= this.o.quarantineAfter) {
      worker.quarantined = `${worker.badResults} bad results; the last: ${reason}`;
      this.counts.quarantinedWorkers++;
      this.o.log(`worker ${workerId} is quarantined (${worker.quarantined})`);
      for (const lease of phase.table.leasesOf(workerId)) {
        this.dropLease(lease.leaseId);
        phase.table.release(lease.task.id, lease.leaseId, `worker ${workerId} quarantined`, false);
      }
    }
    this.checkExhausted();
  }

  private onError(msg: Msg): void {
    const error = this.decode(msg, ["task.error"]);
    if (!error) return;
    this.seen(error.workerId);
    const handBack = error.code === "draining";
    if (!this.phase?.table.release(error.taskId, error.leaseId, `${error.code}: ${error.message}`, !handBack)) {
      return this.ack(msg, false, "lease no longer valid");
    }
    this.dropLease(error.leaseId);
    if (!handBack) {
      this.counts.taskErrors++;
      this.o.log(`task ${error.taskId} failed on ${error.workerId} (${error.code}): ${error.message}`);
    }
    this.ack(msg, true, null);
    this.checkExhausted();
  }

  private onHeartbeat(msg: Msg): void {
    const hb = this.decode(msg, ["worker.heartbeat"]);
    if (!hb) return;
    this.seen(hb.workerId, { backend: hb.backend, device: hb.device });
    if (hb.taskId && hb.leaseId) this.phase?.table.renew(hb.taskId, hb.leaseId);
  }

  private onAnnounce(msg: Msg): void {
    const a = this.decode(msg, ["worker.announce"]);
    if (!a) return;
    this.seen(a.workerId, { host: a.host, backend: a.backend, device: a.device, version: a.version });
  }

  /** Forgets what a lease sent of its vectors (it expired, was refused or handed back). */
  private dropLease(leaseId: string): void {
    this.vectors.drop(leaseId);
    this.phase?.vectorStats?.drop(leaseId);
  }

  private sweep(): void {
    const phase = this.phase;
    if (!phase || this.failure) return;
    for (const lease of phase.table.expire()) {
      this.counts.expiredLeases++;
      this.dropLease(lease.leaseId);
      this.o.log(`lease of task ${lease.task.id} on worker ${lease.workerId} expired; the task goes back to the queue`);
    }
    this.checkExhausted();
    const t = this.now();
    // A short wait_s asks for a quick give-up: a worker counts as gone sooner too (but
    // never before it missed a few 1 s heartbeats).
    const silentMs = Math.min(WORKER_SILENT_MS, Math.max(this.o.waitMs, 3000));
    const live = [...this.workers.values()].some((w) => t - w.lastSeen < silentMs);
    if (!live) {
      // Workers take a few seconds to start; say we wait only when it is worth saying.
      if (!this.waitingSaid && t - this.lastWorkerSeen > Math.min(WAITING_NOTICE_MS, this.o.waitMs / 2)) {
        this.o.log(`waiting for workers on ${subjects(this.o.prefix).pull} (giving up after ${Math.round(this.o.waitMs / 1000)} s)`);
        this.waitingSaid = true;
      }
      if (t - this.lastWorkerSeen > this.o.waitMs) {
        const silent = Math.round((t - this.lastWorkerSeen) / 1000);
        this.fail(new RunFailure(`no worker was seen for ${silent} s (workers.wait_s is ${this.o.waitMs / 1000} s); ${phase.table.done} of ${phase.table.total} tasks of ${phase.name} done`));
      }
    } else {
      this.waitingSaid = false;
    }
  }

  private checkExhausted(): void {
    const ex: TaskExhaustedError | null | undefined = this.phase?.table.exhausted;
    if (ex) this.fail(new RunFailure(`the run stops: ${ex.message}`, { cause: ex }));
  }

  private finish(): void {
    const settle = this.settle;
    this.phase = null;
    this.settle = null;
    settle?.resolve();
  }

  /** Stops the run: the phase in progress (and any later one) rejects with `err`. */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const settle = this.settle;
    this.phase = null;
    this.settle = null;
    settle?.reject(err);
  }
}
