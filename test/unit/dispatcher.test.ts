// The dispatcher without NATS, on an injected clock: leases handed out and expired, late
// and duplicate results refused, bad results striking a worker into quarantine, the
// stall report after max(2 × lease, 60 s) without progress and the stall timeout.

import { describe, expect, it } from "vitest";
import { STALL_NOTICE_MIN_MS } from "../../src/coordinator/dispatcher.js";
import { RunFailure } from "../../src/coordinator/run-failure.js";
import { createMessage } from "../../src/protocol/index.js";
import { beat, flush, LEASE_MS, leased, pull, result, setup } from "../helpers/dispatcher-fixture.js";

describe("Dispatcher (no NATS, injected clock)", () => {
  it("hands out each task once, accepts its result under the live lease, and finishes", async () => {
    const { d, phase, settled } = setup(2);
    const a = leased(pull(d, "w1"));
    const b = leased(pull(d, "w2"));
    expect(pull(d, "w3").type).toBe("task.none");
    expect(await d.result(result(a, "w1"))).toEqual({ accepted: true, reason: null });
    expect(await d.result(result(b, "w2"))).toEqual({ accepted: true, reason: null });
    await flush();
    expect(settled.done).toBe(true);
    expect(phase.accepted).toEqual([0, 1]);
    expect(d.workers.map((w) => [w.id, w.tasksDone, w.pairsDone])).toEqual([
      ["w1", 1, 1],
      ["w2", 1, 1],
      ["w3", 0, 0],
    ]);
  });

  it("expires a lease nobody heartbeats, refuses its late result, and the task goes to another worker", async () => {
    const { d, clock, logs, phase, settled } = setup(1);
    const first = leased(pull(d, "w1"));
    clock.advance(LEASE_MS - 1);
    d.sweep();
    expect(d.counts.expiredLeases).toBe(0);
    clock.advance(1);
    d.sweep();
    expect(d.counts.expiredLeases).toBe(1);
    expect(logs.at(-1)).toMatch(/lease of task p#0 on worker w1 expired/);
    const second = leased(pull(d, "w2"));
    expect(second.leaseId).not.toBe(first.leaseId);
    expect(await d.result(result(first, "w1"))).toEqual({ accepted: false, reason: "lease no longer valid (expired, released or reassigned)" });
    expect(d.counts.staleResults).toBe(1);
    expect((await d.result(result(second, "w2"))).accepted).toBe(true);
    await flush();
    expect(settled.done).toBe(true);
    expect(phase.accepted).toEqual([0]);
  });

  it("a heartbeat naming the lease keeps it alive past its first deadline", () => {
    const { d, clock } = setup(1);
    const t = leased(pull(d, "w1"));
    for (let i = 0; i < 5; i++) {
      clock.advance(LEASE_MS - 100);
      beat(d, "w1", t);
      d.sweep();
    }
    expect(d.counts.expiredLeases).toBe(0);
    expect(d.phase?.table.current(t.taskId, t.leaseId)).not.toBeNull();
  });

  it("refuses a duplicate result, one under another worker's lease, and one of another run", async () => {
    const { d } = setup(2);
    const a = leased(pull(d, "w1"));
    leased(pull(d, "w2"));
    expect(await d.result(result(a, "w2"))).toEqual({ accepted: false, reason: `lease ${a.leaseId} belongs to another worker` });
    expect(await d.result(result(a, "w1", 1, "run-0"))).toEqual({ accepted: false, reason: "result for run run-0, this is run run-1" });
    expect((await d.result(result(a, "w1"))).accepted).toBe(true);
    expect(await d.result(result(a, "w1"))).toEqual({ accepted: false, reason: "task already done" });
    expect(d.counts.duplicateResults).toBe(1);
  });

  it("strikes bad results under the worker's own lease and quarantines it after quarantine_after", async () => {
    const { d, logs, phase } = setup(3);
    for (let strike = 1; strike <= 2; strike++) {
      const t = leased(pull(d, "bad"));
      const ack = await d.result(result(t, "bad", -1));
      expect(ack).toEqual({ accepted: false, reason: "a negative loss" });
      expect(d.registry.get("bad")!.badResults).toBe(strike);
      // The task went back with an attempt counted.
      expect(phase.table.attemptsOf(t.taskId).at(-1)?.cause).toBe("bad result from bad: a negative loss");
    }
    expect(d.registry.get("bad")!.quarantined).toBe("2 bad results; the last: a negative loss");
    expect(d.counts.quarantinedWorkers).toBe(1);
    expect(logs).toContain("worker bad is quarantined (2 bad results; the last: a negative loss)");
    const refusal = pull(d, "bad");
    expect(refusal.type).toBe("error");
    // A good worker takes all three tasks.
    for (let i = 0; i < 3; i++) expect((await d.result(result(leased(pull(d, "good")), "good"))).accepted).toBe(true);
    expect(phase.accepted.sort()).toEqual([0, 1, 2]);
  });

  it("a malformed result that names the worker's live lease is a strike; one naming nobody's is only counted", () => {
    const { d, phase } = setup(1);
    const t = leased(pull(d, "w1"));
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "pairs[0].norm: not finite", sender: { workerId: "w2", ...t }, types: ["task.result"] });
    expect(d.counts.refusedMessages).toBe(1);
    expect(d.registry.get("w1")!.badResults).toBe(0);
    expect(phase.table.current(t.taskId, t.leaseId)).not.toBeNull();
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "pairs[0].norm: not finite", sender: { workerId: "w1", ...t }, types: ["task.result"] });
    expect(d.registry.get("w1")!.badResults).toBe(1);
    expect(phase.table.current(t.taskId, t.leaseId)).toBeNull();
  });

  it("a draining worker hands a task back without an attempt counted", () => {
    const { d, phase } = setup(1);
    const t = leased(pull(d, "w1"));
    const ack = d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: "w1", code: "draining", message: "bye" }));
    expect(ack.accepted).toBe(true);
    expect(phase.table.attemptsOf(t.taskId)).toEqual([]);
    expect(d.counts.taskErrors).toBe(0);
  });

  it("a task failing max_attempts times stops the run naming it", async () => {
    const { d, settled } = setup(1);
    for (let i = 0; i < 3; i++) {
      const t = leased(pull(d, `w${i}`));
      d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: `w${i}`, code: "compute_failed", message: "boom" }));
    }
    await flush();
    expect(settled.error).toBeInstanceOf(RunFailure);
    expect(settled.error!.message).toMatch(/task p#0 failed 3 times; last cause: compute_failed: boom/);
  });

  describe("the stall", () => {
    it("after max(2 × lease, 60 s) without a finished task, reports every unfinished task and what the run waits for", async () => {
      const { d, clock, logs } = setup(4);
      const held = leased(pull(d, "slow")); // heartbeats forever, never returns
      const done = leased(pull(d, "w2"));
      expect((await d.result(result(done, "w2"))).accepted).toBe(true);
      const failed = leased(pull(d, "w2"));
      d.error(createMessage("task.error", { runId: "run-1", ...failed, workerId: "w2", code: "blob_store_unavailable", message: "no data for 10000 ms" }));
      // w2 goes quiet; "slow" keeps its lease alive.
      const step = 1000;
      let reportAt = -1;
      for (let ms = 0; ms <= STALL_NOTICE_MIN_MS + step; ms += step) {
        clock.advance(step);
        beat(d, "slow", held);
        d.sweep();
        if (reportAt < 0 && logs.some((l) => l.startsWith("stall:"))) reportAt = ms + step;
      }
      // 2 × lease = 6 s < 60 s: the notice comes at 60 s after the last accepted result.
      expect(reportAt).toBe(STALL_NOTICE_MIN_MS);
      const report = logs.find((l) => l.startsWith("stall:"))!;
      const lines = report.split("\n");
      expect(lines[0]).toBe("stall: no task of p has finished for 60 s; 3 of 4 tasks unfinished (1 leased, 2 pending); 1 live worker: slow");
      expect(lines).toContain(`  p#0: leased to worker slow for 60 s (lease renewed 0.0 s ago, expires in 3.0 s; worker last heard from 0.0 s ago); attempts 0`);
      expect(lines).toContain("  p#2: pending; attempts 1; last error: blob_store_unavailable: no data for 10000 ms (on worker w2)");
      expect(lines).toContain("  pending, never tried (1): p#3");
      expect(lines.at(-1)).toBe(
        "the run waits for: worker slow to return p#0 (it keeps the lease alive with heartbeats but returns nothing); a worker to pull the 2 pending tasks (1 live worker not pulling)",
      );
      expect(d.counts.stallReports).toBe(1);
      // Not again until another notice interval has passed.
      clock.advance(step);
      d.sweep();
      expect(logs.filter((l) => l.startsWith("stall:"))).toHaveLength(1);
    });

    it("the notice waits 2 × lease when that is longer than 60 s, and progress ends the stall", async () => {
      const lease = 45_000;
      const { d, clock, logs } = setup(2, { leaseMs: lease });
      const t = leased(pull(d, "w1"));
      clock.advance(2 * lease - 1);
      beat(d, "w1", t);
      d.sweep();
      expect(logs.some((l) => l.startsWith("stall:"))).toBe(false);
      clock.advance(1);
      d.sweep();
      expect(logs.some((l) => l.startsWith("stall:"))).toBe(true);
      expect((await d.result(result(t, "w1"))).accepted).toBe(true);
      expect(logs.at(-1)).toMatch(/^progress again after the stall reported at /);
    });

    it("names the in-flight bound when it holds pending tasks back", () => {
      const { d, clock, logs } = setup(3, {}, 1);
      const t = leased(pull(d, "w1"));
      expect(pull(d, "w2").type).toBe("task.none"); // max_in_flight 1
      for (let ms = 0; ms < STALL_NOTICE_MIN_MS; ms += 1000) {
        clock.advance(1000);
        beat(d, "w1", t);
        d.sweep();
      }
      const report = logs.find((l) => l.startsWith("stall:"))!;
      expect(report.split("\n").at(-1)).toMatch(/a free lease: 1 tasks are in flight, the max_in_flight bound$/);
    });

    it("says when no worker is left to pull", () => {
      const { d, clock, logs } = setup(2);
      const t = leased(pull(d, "w1"));
      d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: "w1", code: "compute_failed", message: "oom" }));
      clock.advance(STALL_NOTICE_MIN_MS);
      d.sweep();
      const report = logs.find((l) => l.startsWith("stall:"))!;
      expect(report.split("\n")[0]).toMatch(/; 0 live workers$/);
      expect(report.split("\n").at(-1)).toBe("the run waits for: a worker to pull the 2 pending tasks (no live worker)");
    });

    it("run.stall_timeout ends the run with the report (runJob keeps the journal when anything was recorded)", async () => {
      const { d, clock, settled } = setup(2, { stallTimeoutMs: 90_000 });
      const t = leased(pull(d, "w1"));
      for (let ms = 0; ms < 90_000; ms += 1000) {
        clock.advance(1000);
        beat(d, "w1", t);
        d.sweep();
      }
      await flush();
      expect(settled.error).toBeInstanceOf(RunFailure);
      const lines = settled.error!.message.split("\n");
      expect(lines[0]).toBe("the run made no progress for 90 s (run.stall_timeout_s is 90 s)");
      expect(lines[1]).toMatch(/^stall: no task of p has finished for 90 s; 2 of 2 tasks unfinished/);
      expect(lines).toContain("  p#0: leased to worker w1 for 90 s (lease renewed 0.0 s ago, expires in 3.0 s; worker last heard from 0.0 s ago); attempts 0");
      // Later pulls hear that the run is over.
      const none = pull(d, "w1");
      expect(none.type === "task.none" && none.done).toBe(true);
    });
  });
});
