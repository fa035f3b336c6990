// The coordinator's metrics over a real Dispatcher on an injected clock (the dispatcher
// unit tests' fixture): each fault and step it counts shows in the scrape, by phase.

import { describe, expect, it } from "vitest";
import { CoordinatorMetrics } from "../../src/metrics/coordinator.js";
import { createMessage } from "../../src/protocol/index.js";
import { beat, leased, LEASE_MS, pull, result, setup } from "../helpers/dispatcher-fixture.js";
import { parsePrometheusText, sampleValue, valueOr0 } from "../helpers/prometheus-text.js";

function withMetrics(n: number) {
  const metrics = new CoordinatorMetrics();
  const f = setup(n, { onTask: (e) => metrics.onTask(e) });
  const bytes = { received: new Map([["task.result", 100]]), sent: new Map([["task.loss", 40]]) };
  metrics.attach({ stats: () => f.d.stats(), bytes });
  return { ...f, metrics, bytes, scrape: async () => parsePrometheusText(await metrics.registry.metrics()) };
}

const P = { phase: "p" };

describe("coordinator metrics", () => {
  it("count done, failed, retried, expired, refused and quarantined as the dispatcher sees them", async () => {
    const { d, clock, scrape, bytes } = withMetrics(6);
    let s = await scrape();
    expect(sampleValue(s, "gradswarm_coordinator_phase_tasks", { run: "run-1", phase: "p", state: "pending" })).toBe(6);
    expect(sampleValue(s, "gradswarm_coordinator_workers_live")).toBe(0);

    // Done: two results. A retried task goes to the front of the queue: each fault below
    // is followed by a good result for it, so that no task runs out of attempts.
    const good = async () => expect((await d.result(result(leased(pull(d, "w2")), "w2"))).accepted).toBe(true);
    await good();
    await good();
    // Failed: a task.error (a retry too); a hand-back is a retry only.
    const failing = leased(pull(d, "w1"));
    d.error(createMessage("task.error", { runId: "run-1", taskId: failing.taskId, leaseId: failing.leaseId, workerId: "w1", code: "compute_failed", message: "boom" }));
    await good();
    const handed = leased(pull(d, "w1"));
    d.error(createMessage("task.error", { runId: "run-1", taskId: handed.taskId, leaseId: handed.leaseId, workerId: "w1", code: "draining", message: "bye" }));
    await good();
    // Expired: a lease without heartbeats (w1 and w2 beat meanwhile).
    const silent = leased(pull(d, "w3"));
    clock.advance(LEASE_MS);
    beat(d, "w1", null);
    beat(d, "w2", null);
    d.sweep();
    // Refused: late (stale) under the expired lease, and a bad one (a strike: a retry).
    expect((await d.result(result(silent, "w3"))).reason).toMatch(/lease no longer valid/);
    const bad = leased(pull(d, "w2"));
    expect((await d.result(result(bad, "w2", -1))).accepted).toBe(false);
    // Held: one leased task, one pending.
    leased(pull(d, "w1"));

    s = await scrape();
    expect(sampleValue(s, "gradswarm_coordinator_tasks_done_total", P)).toBe(4);
    expect(sampleValue(s, "gradswarm_coordinator_units_done_total", P)).toBe(4);
    // Loss points are no gradients.
    expect(valueOr0(s, "gradswarm_coordinator_gradients_total", P)).toBe(0);
    expect(sampleValue(s, "gradswarm_coordinator_tasks_failed_total", P)).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_tasks_retried_total", P)).toBe(4); // error, hand-back, expiry, bad result
    expect(sampleValue(s, "gradswarm_coordinator_leases_expired_total")).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_results_refused_total", { reason: "stale" })).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_results_refused_total", { reason: "bad" })).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_results_refused_total", { reason: "duplicate" })).toBe(0);
    expect(sampleValue(s, "gradswarm_coordinator_workers_quarantined_total")).toBe(0);
    expect(sampleValue(s, "gradswarm_coordinator_phase_tasks", { phase: "p", state: "done" })).toBe(4);
    expect(sampleValue(s, "gradswarm_coordinator_phase_tasks", { phase: "p", state: "leased" })).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_phase_tasks", { phase: "p", state: "pending" })).toBe(1);
    // All three heard within 10 s (w3 by its late result).
    expect(sampleValue(s, "gradswarm_coordinator_workers_live")).toBe(3);
    expect(sampleValue(s, "gradswarm_coordinator_received_bytes_total", { type: "task.result" })).toBe(100);
    bytes.received.set("task.result", 250);
    expect(sampleValue(await scrape(), "gradswarm_coordinator_received_bytes_total", { type: "task.result" })).toBe(250);
    expect(sampleValue(s, "gradswarm_coordinator_sent_bytes_total", { type: "task.loss" })).toBe(40);
  });

  it("quarantine shows, and the queue goes when the phase ends", async () => {
    const { d, scrape } = withMetrics(3);
    for (let i = 0; i < 2; i++) await d.result(result(leased(pull(d, "bad")), "bad", -1));
    let s = await scrape();
    expect(sampleValue(s, "gradswarm_coordinator_workers_quarantined_total")).toBe(1);
    expect(sampleValue(s, "gradswarm_coordinator_results_refused_total", { reason: "bad" })).toBe(2);
    for (let i = 0; i < 3; i++) expect((await d.result(result(leased(pull(d, "good")), "good"))).accepted).toBe(true);
    s = await scrape();
    expect(sampleValue(s, "gradswarm_coordinator_tasks_done_total", P)).toBe(3);
    expect(s.filter((x) => x.name === "gradswarm_coordinator_phase_tasks")).toEqual([]);
  });
});
