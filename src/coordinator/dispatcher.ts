// The coordinator's side of the task protocol, without the wire: it answers pulls with
// leased tasks, takes results and errors (each counted once, under its live lease), renews
// leases from heartbeats, requeues expired leases, strikes and quarantines workers that
// send bad results, and notices when a run stops making progress. The truth about tasks
// lives in TaskTable, about workers in WorkerRegistry; dispatcher-wire.ts connects this to
// NATS. Time comes from an injected clock, so all of it is unit-tested without NATS.

import { createMessage, float32View, PROTOCOL_VERSION, type Message, type TaskChunkMessage, type TaskErrorMessage, type TaskPullMessage, type WorkerAnnounceMessage, type WorkerHeartbeatMessage } from "../protocol/index.js";
import { isResultOf, type AnyPhase, type Phase, type PhaseResult } from "./phase.js";
import { RunFailure } from "./run-failure.js";
import { stallReport } from "./stall-report.js";
import { VectorReducer } from "./vector-reducer.js";
import { WorkerRegistry, type Claim, type WorkerRecord } from "./worker-registry.js";

export const SWEEP_INTERVAL_MS = 250;
/** How soon an idle worker asks again while others hold the remaining tasks. */
export const RETRY_MS = 200;
/** A worker not heard from for this long is taken for gone. */
export const WORKER_SILENT_MS = 10_000;
const WAITING_NOTICE_MS = 3000;
/**
 * A worker id is held by the process heard under it within this long (three missed 1 s
 * heartbeats): a restart under the same id (systemd, a pod) is let in a few seconds after
 * the old process died, a second live process never.
 */
export const ID_HELD_MS = 3000;
/** The stall report comes after max(2 × lease, this) without progress, and again as often. */
export const STALL_NOTICE_MIN_MS = 60_000;

export interface DispatcherOptions {
  runId: string;
  leaseMs: number;
  /** How long to go without any live worker before giving up. */
  waitMs: number;
  /** How long a phase may go without progress before the run ends with the stall report (run.stall_timeout_s). */
  stallTimeoutMs: number;
  /** Bad results after which a worker gets no more work. */
  quarantineAfter: number;
  /** The phase whose accepted pairs count as a worker's `pairsDone` (the main pairs). */
  creditPhase: string;
  /** Where workers pull, for the messages that say what the run waits for. */
  pullSubject: string;
  log: (line: string) => void;
  /** Asks every worker to announce itself (worker.list): called on hearing a worker first by other means than its announce. */
  askWorkers?: () => void;
  /** Told of every task finished, failed or put back in the queue (src/metrics/coordinator.ts counts them). */
  onTask?: (event: TaskEvent) => void;
  now?: () => number;
}

/**
 * A task's step, per phase: "done" (a result accepted, with its units and result type),
 * "failed" (a worker reported an error), "retried" (its lease went back to the queue:
 * an error, an expired lease, a bad result, a hand-back, a restart or quarantine).
 */
export type TaskEvent = { kind: "done"; phase: string; resultType: PhaseResult["type"]; units: number } | { kind: "failed" | "retried"; phase: string };

/** What Dispatcher.stats() reads out, at the moment of the call. */
export interface DispatcherStats {
  runId: string;
  counts: Readonly<Dispatcher["counts"]>;
  /** The phase running now (null between phases and after the run). */
  phase: { name: string; total: number; done: number; leased: number } | null;
  liveWorkers: number;
}

/** The answer to a result, chunk or error. */
export interface Ack {
  accepted: boolean;
  reason: string | null;
}

/** A message the wire could not decode, and who seems to have sent it. */
export interface RefusedMessage {
  code: "protocol_version" | "bad_message";
  subject: string;
  message: string;
  /** Set when the message was meant as a result or chunk, from what could be read of it. */
  sender?: { workerId?: string; taskId?: string; leaseId?: string };
  /** What it was meant to be (the types the subject takes). */
  types: readonly string[];
}

/** The phase being run, with its result type matched once (no casts downstream). */
interface ActivePhase {
  phase: AnyPhase;
  /** Null, or why the result is refused; records it when not. */
  accept(result: PhaseResult): string | null;
  units(result: PhaseResult): number;
  settle: { resolve: () => void; reject: (err: Error) => void };
}

const ACCEPTED: Ack = { accepted: true, reason: null };
const refused = (reason: string): Ack => ({ accepted: false, reason });

export class Dispatcher {
  readonly registry: WorkerRegistry;
  private active: ActivePhase | null = null;
  /** Set by fail(): every later phase fails at once with it. */
  private failure: Error | null = null;
  private waitingSaid = false;
  private lastProgress: number;
  private stallNoticedAt: number | null = null;
  private readonly refusedKinds = new Set<string>();
  /** Instances refused as duplicates, each logged once ("workerId instance"). */
  private readonly duplicatesSaid = new Set<string>();
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Faults seen, for the run record. */
  readonly counts = { expiredLeases: 0, taskErrors: 0, rejectedResults: 0, duplicateResults: 0, staleResults: 0, refusedMessages: 0, quarantinedWorkers: 0, stallReports: 0 };
  /** Per phase: when its first and last results were accepted, and the units after the first. */
  readonly spans = new Map<string, { first: number; last: number; unitsAfterFirst: number }>();
  /** Reduces gradient chunks (return: vectors). */
  readonly vectors = new VectorReducer();

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
    this.registry = new WorkerRegistry(o.quarantineAfter, this.now);
    this.lastProgress = this.now();
  }

  get runId(): string {
    return this.o.runId;
  }

  /** A read-only snapshot of the counts, the phase's queue and the live workers. */
  stats(): DispatcherStats {
    const t = this.active?.phase;
    return {
      runId: this.o.runId,
      counts: { ...this.counts },
      phase: t ? { name: t.name, total: t.table.total, done: t.table.done, leased: t.table.leased } : null,
      liveWorkers: this.registry.live(WORKER_SILENT_MS).length,
    };
  }

  /** Every worker heard from during the run. */
  get workers(): WorkerRecord[] {
    return this.registry.all();
  }

  /** The phase running now, if any. */
  get phase(): AnyPhase | null {
    return this.active?.phase ?? null;
  }

  /** Runs a phase to its end: resolves when all its tasks are done, rejects if the run fails. */
  run<R extends PhaseResult>(phase: Phase<R>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.active) throw new Error(`phase ${this.active.phase.name} is still running`);
    const done = new Promise<void>((resolve, reject) => {
      this.active = {
        phase,
        accept: (r) => (isResultOf(phase, r) ? phase.accept(r) : `a ${r.type} for a task that wants a ${phase.resultType}`),
        units: (r) => (isResultOf(phase, r) ? phase.units(r) : 0),
        settle: { resolve, reject },
      };
    });
    this.lastProgress = this.now();
    this.stallNoticedAt = null;
    if (phase.table.isFinished()) this.finish();
    return done;
  }

  /** Starts the sweep (lease expiry, worker wait, stall watch) on a timer. */
  start(): void {
    this.sweepTimer ??= setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** A message the wire could not decode: counted, logged once per kind, and a strike if it was a worker's result. */
  refuse(m: RefusedMessage): void {
    this.counts.refusedMessages++;
    // One line per kind of refusal and subject: a misbehaving peer must not flood the log.
    const key = `${m.code}:${m.subject}`;
    if (!this.refusedKinds.has(key)) {
      this.refusedKinds.add(key);
      this.o.log(`refused a message on ${m.subject} (further ones of this kind are only counted): ${m.message}`);
    }
    if (m.code === "bad_message" && m.sender?.workerId && m.types.some((t) => t === "task.result" || t === "task.chunk")) {
      // A malformed result (NaN, wrong lengths, …) still names its worker and lease.
      this.strike(m.sender.workerId, m.sender.taskId, m.sender.leaseId, `malformed ${m.types.join("/")}: ${m.message}`);
    }
  }

  /** The error a peer gets for a message it sent that was refused. */
  static refusal(m: RefusedMessage): Message {
    return createMessage("error", { code: m.code, message: `coordinator (protocol v${PROTOCOL_VERSION}) refused the message: ${m.message}` });
  }

  /** A worker asks for work: a task under a new lease, "none" (ask again later), or an error (quarantined). */
  pull(pull: TaskPullMessage): Message {
    if (this.claim(pull.workerId, pull.instance) === "conflict") {
      return createMessage("error", { code: "duplicate_worker_id", message: this.duplicateMessage(pull.workerId) });
    }
    const worker = this.registry.seen(pull.workerId, { backend: pull.backend });
    worker.pulls++;
    worker.lastPull = this.now();
    if (worker.quarantined) {
      return createMessage("error", { code: "quarantined", message: `this coordinator gives worker ${worker.id} no more work: ${worker.quarantined}` });
    }
    const phase = this.active?.phase;
    const none = (done: boolean): Message => createMessage("task.none", { runId: this.o.runId, retryMs: done ? 1000 : RETRY_MS, done });
    // Between phases (or when the run is over) there is nothing to hand out.
    if (!phase || this.failure || phase.table.isFinished()) return none(this.failure !== null);
    const lease = phase.table.lease(pull.workerId);
    if (!lease) return none(false);
    return phase.message(lease, this.o.runId);
  }

  /** A result: accepted (the ack waits until it is journaled) or refused with the reason. */
  result(result: PhaseResult): Ack | Promise<Ack> {
    const worker = this.registry.seen(result.workerId);
    if (result.runId !== this.o.runId) return refused(`result for run ${result.runId}, this is run ${this.o.runId}`);
    const active = this.active;
    const phase = active?.phase;
    const live = phase?.table.current(result.taskId, result.leaseId);
    if (!active || !phase || !live) {
      const outcome = phase?.table.complete(result.taskId, result.leaseId); // classifies only: the lease is not live
      if (outcome === "duplicate") this.counts.duplicateResults++;
      else this.counts.staleResults++;
      return refused(outcome === "duplicate" ? "task already done" : "lease no longer valid (expired, released or reassigned)");
    }
    if (live.workerId !== result.workerId) return refused(`lease ${result.leaseId} belongs to another worker`);
    let refusal: string | null = null;
    if (phase.vectors && result.type === "task.result") {
      // The worker's statistics must agree with those of the vectors it sent (to 1e-9);
      // then its own are kept: they do not depend on how the vectors were chunked, so a
      // vectors run and a stats run give the same numbers bit for bit.
      const computed = this.vectors.commit(result);
      if (typeof computed === "string") refusal = computed;
    }
    refusal ??= active.accept(result);
    if (refusal) {
      this.counts.rejectedResults++;
      this.strike(result.workerId, result.taskId, result.leaseId, refusal);
      return refused(refusal);
    }
    phase.vectorStats?.commit(result.leaseId);
    phase.table.complete(result.taskId, result.leaseId);
    worker.tasksDone++;
    const units = active.units(result);
    this.o.onTask?.({ kind: "done", phase: phase.name, resultType: result.type, units });
    worker.units[phase.name] = (worker.units[phase.name] ?? 0) + units;
    const t = this.now();
    this.progressed(t);
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
    const durable = phase.durable().then(
      () => ACCEPTED,
      (err: Error) => {
        this.fail(new RunFailure(`the run stops: ${err.message}`, { cause: err }));
        return refused(`the coordinator could not record the result: ${err.message}`);
      },
    );
    if (phase.table.isFinished()) this.finish();
    return durable;
  }

  /** Part of a result's gradient vectors (return: vectors). */
  chunk(chunk: TaskChunkMessage): Ack {
    this.registry.seen(chunk.workerId);
    const phase = this.active?.phase;
    if (chunk.runId !== this.o.runId) return refused(`chunk for run ${chunk.runId}, this is run ${this.o.runId}`);
    const live = phase?.table.current(chunk.taskId, chunk.leaseId);
    if (!phase || !live || live.workerId !== chunk.workerId) return refused("lease no longer valid (expired, released or reassigned)");
    if (!phase.vectors) return refused("this phase takes statistics, not vectors");
    const refusal = this.vectors.add(chunk, live.task.pairIds);
    if (refusal) {
      this.strike(chunk.workerId, chunk.taskId, chunk.leaseId, refusal);
      return refused(refusal);
    }
    phase.vectorStats?.add(chunk.leaseId, chunk.pair, chunk.tensor, chunk.offset, float32View(chunk.g1), float32View(chunk.g2));
    // Chunks flowing are progress: the lease lives as long as they come.
    phase.table.renew(chunk.taskId, chunk.leaseId);
    this.progressed(this.now());
    return ACCEPTED;
  }

  /** A worker reports that a task failed, or (draining) hands it back. */
  error(error: TaskErrorMessage): Ack {
    this.registry.seen(error.workerId);
    const handBack = error.code === "draining";
    if (!this.active?.phase.table.release(error.taskId, error.leaseId, `${error.code}: ${error.message}`, !handBack)) return refused("lease no longer valid");
    this.dropLease(error.leaseId);
    this.retried();
    if (!handBack) {
      this.counts.taskErrors++;
      this.o.onTask?.({ kind: "failed", phase: this.active.phase.name });
      this.o.log(`task ${error.taskId} failed on ${error.workerId} (${error.code}): ${error.message}`);
    }
    this.checkExhausted();
    return ACCEPTED;
  }

  heartbeat(hb: WorkerHeartbeatMessage): void {
    if (this.claim(hb.workerId, hb.instance) === "conflict") return;
    this.registry.seen(hb.workerId, { backend: hb.backend, device: hb.device }).servingRun = hb.runId;
    // Task and lease ids repeat from run to run: only a heartbeat for this run renews a lease.
    if (hb.runId === this.o.runId && hb.taskId && hb.leaseId) this.active?.phase.table.renew(hb.taskId, hb.leaseId);
  }

  announce(a: WorkerAnnounceMessage): void {
    if (this.claim(a.workerId, a.instance, true) === "conflict") return;
    this.registry.seen(a.workerId, { host: a.host, pid: a.pid, backend: a.backend, device: a.device, version: a.version }).servingRun = a.runId;
  }

  /**
   * Whether this process may speak for the worker id (WorkerRegistry.claim). A second live
   * process under one id is refused (its pull gets duplicate_worker_id, its heartbeats and
   * announces are ignored), logged once; a process that takes over an id whose holder went
   * silent is a restart: the holder's leases go back to the queue at once, no attempt
   * counted. A worker first heard by other means than its announce (it started before this
   * coordinator, or its announce was lost) is asked to announce itself.
   */
  private claim(workerId: string, instance: string, announcing = false): Claim {
    const claim = this.registry.claim(workerId, instance, ID_HELD_MS);
    if (claim === "conflict") {
      const key = `${workerId} ${instance}`;
      if (!this.duplicatesSaid.has(key)) {
        this.duplicatesSaid.add(key);
        this.o.log(`refused a second worker process under the id ${workerId}: ${this.duplicateMessage(workerId)}`);
      }
    } else if (claim === "replaced") {
      this.o.log(`worker ${workerId} restarted (a new process under the same id); the leases of the old one go back to the queue`);
      const phase = this.active?.phase;
      for (const lease of phase?.table.leasesOf(workerId) ?? []) {
        this.dropLease(lease.leaseId);
        if (phase!.table.release(lease.task.id, lease.leaseId, `worker ${workerId} restarted`, false)) this.retried();
      }
    }
    if ((claim === "new" || claim === "replaced") && !announcing) this.o.askWorkers?.();
    return claim;
  }

  /** What the refused newcomer hears: which process holds the id. */
  private duplicateMessage(workerId: string): string {
    const w = this.registry.get(workerId)!;
    const where = w.host ? `on host ${w.host}${w.pid !== null ? ` (pid ${w.pid})` : ""}` : "on a host not yet known (its announce has not come)";
    const ago = Math.round((this.now() - w.lastSeen) / 100) / 10;
    return `the worker id ${workerId} is in use by another live worker ${where}, heard from ${ago} s ago; give each worker its own --id (a worker that stopped may come back under its id once it has been silent for ${ID_HELD_MS / 1000} s)`;
  }

  /**
   * A bad result or chunk: the task (if its lease is live and the worker's) goes back with
   * an attempt counted, and the worker is quarantined after quarantineAfter strikes.
   */
  private strike(workerId: string, taskId: string | undefined, leaseId: string | undefined, reason: string): void {
    // Only a bad result under the worker's own live lease counts, once per lease (the
    // lease is released here): junk after that, or naming someone else's lease, is
    // refused without blaming anyone.
    const phase = this.active?.phase;
    const live = phase && taskId && leaseId ? phase.table.current(taskId, leaseId) : null;
    if (!phase || !live || live.workerId !== workerId) return;
    this.o.log(`refused a result of worker ${workerId} for task ${live.task.id}: ${reason}`);
    this.dropLease(live.leaseId);
    phase.table.release(live.task.id, live.leaseId, `bad result from ${workerId}: ${reason}`, true);
    this.retried();
    const quarantined = this.registry.strike(workerId, reason);
    if (quarantined) {
      this.counts.quarantinedWorkers++;
      this.o.log(`worker ${workerId} is quarantined (${quarantined})`);
      for (const lease of phase.table.leasesOf(workerId)) {
        this.dropLease(lease.leaseId);
        if (phase.table.release(lease.task.id, lease.leaseId, `worker ${workerId} quarantined`, false)) this.retried();
      }
    }
    this.checkExhausted();
  }

  /** A lease of the phase running now went back to the queue. */
  private retried(): void {
    const phase = this.active?.phase;
    if (phase) this.o.onTask?.({ kind: "retried", phase: phase.name });
  }

  /** Forgets what a lease sent of its vectors (it expired, was refused or handed back). */
  private dropLease(leaseId: string): void {
    this.vectors.drop(leaseId);
    this.active?.phase.vectorStats?.drop(leaseId);
  }

  private progressed(t: number): void {
    this.lastProgress = t;
    if (this.stallNoticedAt !== null) this.o.log(`progress again after the stall reported at ${new Date(this.stallNoticedAt).toISOString()}`);
    this.stallNoticedAt = null;
  }

  /** A worker not heard from for this long is gone (a short wait_s asks for a quick give-up, never before a few missed 1 s heartbeats). */
  private silentMs(): number {
    return Math.min(WORKER_SILENT_MS, Math.max(this.o.waitMs, 3000));
  }

  /** What the timer does: expire leases, watch for workers, watch for a stall. Public for tests with an injected clock. */
  sweep(): void {
    const phase = this.active?.phase;
    if (!phase || this.failure) return;
    for (const lease of phase.table.expire()) {
      this.counts.expiredLeases++;
      this.dropLease(lease.leaseId);
      this.retried();
      this.o.log(`lease of task ${lease.task.id} on worker ${lease.workerId} expired; the task goes back to the queue`);
    }
    this.checkExhausted();
    if (this.failure) return;
    const t = this.now();
    const live = this.registry.live(this.silentMs()).length > 0;
    const lastSeen = this.registry.lastSeenAny;
    if (!live) {
      // Workers take a few seconds to start; say we wait only when it is worth saying.
      if (!this.waitingSaid && t - lastSeen > Math.min(WAITING_NOTICE_MS, this.o.waitMs / 2)) {
        this.o.log(`waiting for workers on ${this.o.pullSubject} (giving up after ${Math.round(this.o.waitMs / 1000)} s)`);
        this.waitingSaid = true;
      }
      if (t - lastSeen > this.o.waitMs) {
        const silent = Math.round((t - lastSeen) / 1000);
        return this.fail(new RunFailure(`no worker was seen for ${silent} s (workers.wait_s is ${this.o.waitMs / 1000} s); ${phase.table.done} of ${phase.table.total} tasks of ${phase.name} done`));
      }
    } else {
      this.waitingSaid = false;
    }
    this.watchStall(phase, t);
  }

  /** The stall report after max(2 × lease, 60 s) without progress (and as often again); the run ends after stallTimeoutMs. */
  private watchStall(phase: AnyPhase, t: number): void {
    const quiet = t - this.lastProgress;
    const noticeMs = Math.max(2 * this.o.leaseMs, STALL_NOTICE_MIN_MS);
    const timedOut = quiet >= this.o.stallTimeoutMs;
    const due = quiet >= noticeMs && (this.stallNoticedAt === null || t - this.stallNoticedAt >= noticeMs);
    if (!timedOut && !due) return;
    const report = this.stallReport(phase, t);
    if (timedOut) {
      this.counts.stallReports++;
      return this.fail(new RunFailure(`the run made no progress for ${Math.round(quiet / 1000)} s (run.stall_timeout_s is ${this.o.stallTimeoutMs / 1000} s)\n${report}`));
    }
    this.stallNoticedAt = t;
    this.counts.stallReports++;
    this.o.log(report);
  }

  /** The state of every unfinished task of the phase running now, and what the run waits for. */
  stallReport(phase: AnyPhase, t = this.now()): string {
    return stallReport({
      runId: this.o.runId,
      phase: phase.name,
      now: t,
      lastProgress: this.lastProgress,
      total: phase.table.total,
      unfinished: phase.table.unfinished(),
      workers: this.registry.all(),
      leaseMs: this.o.leaseMs,
      silentMs: this.silentMs(),
      atInFlightBound: phase.table.atInFlightBound(),
    });
  }

  private checkExhausted(): void {
    const ex = this.active?.phase.table.exhausted;
    if (ex) this.fail(new RunFailure(`the run stops: ${ex.message}`, { cause: ex }));
  }

  private finish(): void {
    const settle = this.active?.settle;
    this.active = null;
    settle?.resolve();
  }

  /** Stops the run: the phase in progress (and any later one) rejects with `err`. */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const settle = this.active?.settle;
    this.active = null;
    settle?.reject(err);
  }
}
