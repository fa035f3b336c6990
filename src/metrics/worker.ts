// A worker's Prometheus metrics (README.md, "Metrics"), read from SwarmWorker.stats() at
// each scrape, and the compute-time histogram from its onComputed hook.

import { Gauge, Histogram, Registry } from "prom-client";
import type { JobRequest } from "../worker/compute-client.js";
import type { WorkerStats } from "../worker/serve.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { byLabel, syncedCounter } from "./synced-counter.js";

const STATES = ["starting", "idle", "busy", "draining", "stopped", "failed"] as const;

/** Seconds, from a small MLP's task on a GPU to a large model's on a CPU core. */
const COMPUTE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Ready: connected, with its backend, pulling; not while it starts, waits for its server or drains. */
export function workerNotReady(s: WorkerStats): string | null {
  if (s.lifecycle === "running") return null;
  if (s.lifecycle === "starting") return s.backend ? "waiting for the NATS server" : "loading the compute backend";
  return s.lifecycle;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly compute: Histogram<"job">;

  constructor(id: string, stats: () => WorkerStats) {
    const registry = this.registry;
    this.compute = new Histogram({ name: "gradswarm_worker_compute_seconds", help: "Compute time of each task on the compute threads, by job (pairs, loss, curvature).", labelNames: ["job"] as const, buckets: COMPUTE_BUCKETS, registers: [registry] });
    syncedCounter({ registry, name: "gradswarm_worker_tasks_done_total", help: "Tasks whose result the coordinator took.", read: () => [[{}, stats().tasksDone]] });
    syncedCounter({ registry, name: "gradswarm_worker_tasks_failed_total", help: "Tasks this worker reported as failed (task.error).", read: () => [[{}, stats().tasksFailed]] });
    syncedCounter({ registry, name: "gradswarm_worker_gradients_total", help: "Minibatch gradients computed for pair tasks (2 per pair); rate() of it is the gradients per second.", read: () => [[{}, stats().gradients]] });
    syncedCounter({
      registry,
      name: "gradswarm_worker_received_bytes_total",
      help: "Bytes received: replies to task.pull by message type (task, task.loss, task.curvature, task.none), and blob for θ, datasets and directions from the object store.",
      labelNames: ["kind"] as const,
      read: () => byLabel("kind", stats().receivedBytes),
    });
    syncedCounter({
      registry,
      name: "gradswarm_worker_sent_bytes_total",
      help: "Bytes sent, by subject: task.result (every kind of result), task.error, and task.chunk (the gradient floats of return: vectors, without envelopes); a retried send counts each time.",
      labelNames: ["kind"] as const,
      read: () => byLabel("kind", stats().sentBytes),
    });
    new Gauge({
      name: "gradswarm_worker_state",
      help: "1 for the state the worker is in (starting, idle, busy, draining, stopped, failed), 0 for the others.",
      labelNames: ["state"] as const,
      registers: [registry],
      collect() {
        const s = stats();
        const now = s.lifecycle === "running" ? s.state : s.lifecycle;
        for (const state of STATES) this.set({ state }, state === now ? 1 : 0);
      },
    });
    new Gauge({ name: "gradswarm_worker_up", help: "1 while the worker process serves its metrics.", registers: [registry] }).set(1);
    new Gauge({
      name: "gradswarm_worker_ready",
      help: "1 once the worker has its backend, is connected and pulls tasks (what /ready answers 200 for), else 0.",
      registers: [registry],
      collect() {
        this.set(workerNotReady(stats()) === null ? 1 : 0);
      },
    });
    new Gauge({
      name: "gradswarm_worker_info",
      help: "1, labelled with the worker's id, version, backend and device (empty until the backend is loaded).",
      labelNames: ["id", "version", "backend", "device"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const b = stats().backend;
        this.set({ id, version: PACKAGE_VERSION, backend: b?.backend ?? "", device: b?.device ?? "" }, 1);
      },
    });
  }

  /** The worker's onComputed hook. */
  onComputed(job: JobRequest["type"], computeMs: number): void {
    this.compute.observe({ job }, computeMs / 1000);
  }
}
