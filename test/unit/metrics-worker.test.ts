// The worker's metrics from SwarmWorker.stats() (here a plain object standing in for it:
// the mapping from stats to samples is pure logic): the one-hot state, readiness and its
// reasons, the totals as counters, the compute histogram.

import { describe, expect, it } from "vitest";
import { WorkerMetrics, workerNotReady } from "../../src/metrics/worker.js";
import type { WorkerStats } from "../../src/worker/serve.js";
import { parsePrometheusText, sampleValue, samples } from "../helpers/prometheus-text.js";

const BACKEND = { backend: "wasm", device: "cpu (4 threads)", skipped: [] } as unknown as NonNullable<WorkerStats["backend"]>;

function stats(): WorkerStats {
  return { lifecycle: "starting", state: "idle", backend: null, tasksDone: 0, tasksFailed: 0, gradients: 0, receivedBytes: new Map(), sentBytes: new Map() };
}

describe("worker metrics", () => {
  it("says why it is not ready until it runs, and what state it is in", async () => {
    const s = stats();
    const m = new WorkerMetrics("w-1", () => s);
    const read = async () => parsePrometheusText(await m.registry.metrics());
    const state = (all: ReturnType<typeof parsePrometheusText>) => samples(all, "gradswarm_worker_state").filter((x) => x.value === 1).map((x) => x.labels.state);

    expect(workerNotReady(s)).toBe("loading the compute backend");
    let all = await read();
    expect(sampleValue(all, "gradswarm_worker_ready")).toBe(0);
    expect(sampleValue(all, "gradswarm_worker_up")).toBe(1);
    expect(state(all)).toEqual(["starting"]);
    expect(samples(all, "gradswarm_worker_state")).toHaveLength(6);
    expect(samples(all, "gradswarm_worker_info")).toMatchObject([{ labels: { id: "w-1", backend: "", device: "" }, value: 1 }]);

    s.backend = BACKEND;
    expect(workerNotReady(s)).toBe("waiting for the NATS server");
    s.lifecycle = "running";
    s.state = "busy";
    expect(workerNotReady(s)).toBeNull();
    all = await read();
    expect(sampleValue(all, "gradswarm_worker_ready")).toBe(1);
    expect(state(all)).toEqual(["busy"]);
    expect(samples(all, "gradswarm_worker_info")).toMatchObject([{ labels: { id: "w-1", backend: "wasm", device: "cpu (4 threads)" } }]);

    s.lifecycle = "draining";
    s.state = "draining";
    expect(workerNotReady(s)).toBe("draining");
    all = await read();
    expect(sampleValue(all, "gradswarm_worker_ready")).toBe(0);
    expect(state(all)).toEqual(["draining"]);
  });

  it("counts the totals and the compute time of each task", async () => {
    const s = stats();
    const m = new WorkerMetrics("w-1", () => s);
    s.tasksDone = 3;
    s.tasksFailed = 1;
    s.gradients = 12;
    (s.receivedBytes as Map<string, number>).set("task", 900).set("blob", 5000);
    (s.sentBytes as Map<string, number>).set("task.result", 700);
    m.onComputed("pairs", 40);
    m.onComputed("pairs", 3000);
    m.onComputed("loss", 2);
    const all = parsePrometheusText(await m.registry.metrics());
    expect(sampleValue(all, "gradswarm_worker_tasks_done_total")).toBe(3);
    expect(sampleValue(all, "gradswarm_worker_tasks_failed_total")).toBe(1);
    expect(sampleValue(all, "gradswarm_worker_gradients_total")).toBe(12);
    expect(sampleValue(all, "gradswarm_worker_received_bytes_total", { kind: "blob" })).toBe(5000);
    expect(sampleValue(all, "gradswarm_worker_received_bytes_total", { kind: "task" })).toBe(900);
    expect(sampleValue(all, "gradswarm_worker_sent_bytes_total", { kind: "task.result" })).toBe(700);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_count", { job: "pairs" })).toBe(2);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_sum", { job: "pairs" })).toBeCloseTo(3.04, 12);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_bucket", { job: "pairs", le: "0.05" })).toBe(1);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_bucket", { job: "pairs", le: "2.5" })).toBe(1);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_bucket", { job: "pairs", le: "5" })).toBe(2);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_bucket", { job: "pairs", le: "+Inf" })).toBe(2);
    expect(sampleValue(all, "gradswarm_worker_compute_seconds_count", { job: "loss" })).toBe(1);
  });
});
