// The coordinator's Prometheus metrics (README.md, "Metrics"). Counters of task steps
// come from the dispatcher's onTask hook; the fault counters, the queue and the live
// workers are read from Dispatcher.stats() and the wire's byte totals at each scrape.
// Before the dispatcher starts (while the run loads and puts its blobs) only the hook
// counters show, at nothing.

import { Counter, Gauge, Registry } from "prom-client";
import type { DispatcherStats, TaskEvent } from "../coordinator/dispatcher.js";
import { byLabel, syncedCounter } from "./synced-counter.js";

/** What the metrics read at a scrape: the run's dispatcher and wire, once they exist. */
export interface CoordinatorSources {
  stats(): DispatcherStats;
  bytes: { received: ReadonlyMap<string, number>; sent: ReadonlyMap<string, number> };
}

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private source: CoordinatorSources | null = null;
  private readonly tasksDone: Counter<"phase">;
  private readonly tasksFailed: Counter<"phase">;
  private readonly tasksRetried: Counter<"phase">;
  private readonly unitsDone: Counter<"phase">;
  private readonly gradients: Counter<"phase">;

  constructor() {
    const registry = this.registry;
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ["phase"] as const, registers: [registry] });
    this.tasksDone = counter("gradswarm_coordinator_tasks_done_total", "Tasks whose result was accepted (and journaled), per phase.");
    this.tasksFailed = counter("gradswarm_coordinator_tasks_failed_total", "Tasks a worker reported as failed (task.error, hand-backs of a draining worker not counted), per phase.");
    this.tasksRetried = counter("gradswarm_coordinator_tasks_retried_total", "Leases that went back to the queue (an error, an expired lease, a bad result, a hand-back, a restarted or quarantined worker), per phase.");
    this.unitsDone = counter("gradswarm_coordinator_units_done_total", "Units of accepted results (pairs, landscape points, curvature items), per phase.");
    this.gradients = counter("gradswarm_coordinator_gradients_total", "Minibatch gradients in accepted pair results (2 per pair), per phase; rate() of it is the gradients per second.");
    const stats = () => this.source?.stats() ?? null;
    const counts = (key: keyof DispatcherStats["counts"]) => () => {
      const s = stats();
      return s ? [[{}, s.counts[key]] as [Record<string, string>, number]] : [];
    };
    syncedCounter({ registry, name: "gradswarm_coordinator_leases_expired_total", help: "Leases that expired without a heartbeat (the task went to another worker).", read: counts("expiredLeases") });
    syncedCounter({
      registry,
      name: "gradswarm_coordinator_results_refused_total",
      help: "Results refused, by reason: bad (broke the contract: a strike against the worker), duplicate (the task was done already), stale (its lease had expired or been reassigned).",
      labelNames: ["reason"] as const,
      read: () => {
        const s = stats();
        return s ? [[{ reason: "bad" }, s.counts.rejectedResults], [{ reason: "duplicate" }, s.counts.duplicateResults], [{ reason: "stale" }, s.counts.staleResults]] : [];
      },
    });
    syncedCounter({ registry, name: "gradswarm_coordinator_messages_refused_total", help: "Messages that did not decode (malformed, another protocol version), on any subject.", read: counts("refusedMessages") });
    syncedCounter({ registry, name: "gradswarm_coordinator_workers_quarantined_total", help: "Workers quarantined after workers.quarantine_after bad results.", read: counts("quarantinedWorkers") });
    syncedCounter({ registry, name: "gradswarm_coordinator_stall_reports_total", help: "Stall reports (a phase without progress for max(2 × lease, 60 s)).", read: counts("stallReports") });
    syncedCounter({
      registry,
      name: "gradswarm_coordinator_received_bytes_total",
      help: "Bytes of the messages received from workers, by message type (task.result, task.chunk, task.pull, worker.heartbeat, …; undecodable).",
      labelNames: ["type"] as const,
      read: () => byLabel("type", this.source?.bytes.received),
    });
    syncedCounter({
      registry,
      name: "gradswarm_coordinator_sent_bytes_total",
      help: "Bytes of the replies sent to workers, by message type (task, task.loss, task.curvature, task.none, ack, error).",
      labelNames: ["type"] as const,
      read: () => byLabel("type", this.source?.bytes.sent),
    });
    new Gauge({
      name: "gradswarm_coordinator_phase_tasks",
      help: "Tasks of the phase running now, by state (pending: in the queue, leased: on a worker, done); none between phases.",
      labelNames: ["run", "phase", "state"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const p = stats()?.phase;
        if (!p) return;
        const run = stats()!.runId;
        this.set({ run, phase: p.name, state: "pending" }, p.total - p.done - p.leased);
        this.set({ run, phase: p.name, state: "leased" }, p.leased);
        this.set({ run, phase: p.name, state: "done" }, p.done);
      },
    });
    new Gauge({
      name: "gradswarm_coordinator_workers_live",
      help: "Workers heard from within the last 10 s.",
      registers: [registry],
      collect() {
        this.set(stats()?.liveWorkers ?? 0);
      },
    });
  }

  /** The run's dispatcher and wire, from when they start; they are read until the process ends (their last numbers stay). */
  attach(source: CoordinatorSources): void {
    this.source = source;
  }

  /** The dispatcher's onTask hook. */
  onTask(e: TaskEvent): void {
    const labels = { phase: e.phase };
    if (e.kind !== "done") return void (e.kind === "failed" ? this.tasksFailed : this.tasksRetried).inc(labels);
    this.tasksDone.inc(labels);
    this.unitsDone.inc(labels, e.units);
    // A pair result (the pairs and the Fisher passes) is two minibatch gradients per pair.
    if (e.resultType === "task.result") this.gradients.inc(labels, 2 * e.units);
  }
}
