// The dispatcher's bookkeeping without NATS (injected clock): workers waited for and
// given up on after wait_s, what the registry keeps of each worker, credit and counts,
// refused messages logged once, chunks refused before any vector is read, and run()'s
// contract. Gaps that mutation testing (scripts/mutation.sh dispatcher) found.

import { describe, expect, it, vi } from "vitest";
import { Dispatcher, WORKER_SILENT_MS } from "../../src/coordinator/dispatcher.js";
import { RunFailure } from "../../src/coordinator/run-failure.js";
import { stallReport } from "../../src/coordinator/stall-report.js";
import { WorkerRegistry } from "../../src/coordinator/worker-registry.js";
import { createMessage } from "../../src/protocol/index.js";
import { beat, Clock, flush, LEASE_MS, leased, lossPhase, pull, result, setup } from "../helpers/dispatcher-fixture.js";

const chunk = (t: { taskId: string; leaseId: string }, workerId: string, runId = "run-1") =>
  createMessage("task.chunk", { runId, ...t, workerId, pair: 0, tensor: 0, offset: 0, g1: new Uint8Array(4), g2: new Uint8Array(4) });

describe("waiting for workers", () => {
  it("says once that it waits, after min(3 s, wait_s / 2), and gives up after wait_s naming it", async () => {
    const { d, clock, logs, settled } = setup(2, { waitMs: 8000 });
    clock.advance(3000);
    d.sweep();
    expect(logs).toEqual([]);
    clock.advance(1);
    d.sweep();
    clock.advance(1000);
    d.sweep();
    expect(logs).toEqual(["waiting for workers on t.task.pull (giving up after 8 s)"]);
    clock.advance(4000); // 8001 ms since the start
    d.sweep();
    await flush();
    expect(settled.error).toBeInstanceOf(RunFailure);
    expect(settled.error!.message).toBe("no worker was seen for 8 s (workers.wait_s is 8 s); 0 of 2 tasks of p done");
  });

  it("a short wait_s halves the notice delay and a worker heard from resets the notice", () => {
    const { d, clock, logs } = setup(2, { waitMs: 4000 });
    clock.advance(2001);
    d.sweep();
    expect(logs).toHaveLength(1);
    beat(d, "w1", null);
    d.sweep(); // live again: the next silence is announced anew
    clock.advance(3001 + 2001); // silent for min(10 s, max(4 s, 3 s)) = 4 s, then the notice delay
    d.sweep();
    expect(logs.filter((l) => l.startsWith("waiting for workers"))).toHaveLength(2);
  });

  it("a worker silent for less than min(10 s, max(wait_s, 3 s)) still counts as live", async () => {
    const { d, clock, settled } = setup(1, { waitMs: 60_000 });
    beat(d, "w1", null);
    for (let i = 0; i < 20; i++) {
      clock.advance(WORKER_SILENT_MS - 1);
      beat(d, "w1", null);
      d.sweep();
    }
    await flush();
    expect(settled.error).toBeNull();
    expect(d.registry.live(WORKER_SILENT_MS).map((w) => w.id)).toEqual(["w1"]);
  });
});

describe("what the registry keeps of each worker", () => {
  it("merges what a worker says about itself; empty strings say nothing", () => {
    const clock = new Clock();
    const r = new WorkerRegistry(3, clock.now);
    r.seen("w", { host: "h1", backend: "wasm", device: "", version: "0.1.0" });
    clock.advance(5);
    const w = r.seen("w", { backend: "", device: "cpu x2" });
    expect([w.host, w.backend, w.device, w.version, w.firstSeen, w.lastSeen]).toEqual(["h1", "wasm", "cpu x2", "0.1.0", 1_000_000, 1_000_005]);
    expect(r.seen("fresh")).toMatchObject({ host: "", backend: "", device: "", version: "", badResults: 0, quarantined: null, tasksDone: 0, pairsDone: 0, units: {} });
    expect(r.lastSeenAny).toBe(1_000_005);
  });

  it("live() is strict at the silence bound; strike() quarantines once, at quarantine_after", () => {
    const clock = new Clock();
    const r = new WorkerRegistry(2, clock.now);
    r.seen("a");
    clock.advance(100);
    r.seen("b");
    expect(r.live(100).map((w) => w.id)).toEqual(["b"]);
    expect(r.live(101).map((w) => w.id)).toEqual(["a", "b"]);
    expect(r.strike("a", "x")).toBeNull();
    expect(r.strike("a", "y")).toBe("2 bad results; the last: y");
    expect(r.strike("a", "z")).toBeNull(); // already quarantined
    expect(r.get("a")!.badResults).toBe(3);
    expect(r.quarantinedCount).toBe(1);
  });

  it("announce and heartbeat fill in host, backend, device and version", () => {
    const { d } = setup(1);
    d.announce(createMessage("worker.announce", { workerId: "w", instance: "w", host: "gpu-01", pid: 7, backend: "webgpu", device: "H200", version: "0.1.0", state: "idle", taskId: null, runId: null, tasksDone: 0, gradientsPerSecond: 0 }));
    d.heartbeat(createMessage("worker.heartbeat", { workerId: "w", instance: "w", state: "idle", taskId: null, leaseId: null, runId: null, backend: "webgpu", device: "H200 (2)" }));
    expect(d.workers.map((w) => [w.id, w.host, w.backend, w.device, w.version])).toEqual([["w", "gpu-01", "webgpu", "H200 (2)", "0.1.0"]]);
    pull(d, "w"); // a pull names the backend it computes on
    expect(d.registry.get("w")!.backend).toBe("cpu");
  });
});

describe("credit and counts", () => {
  it("credits units per phase, pairs only for the credit phase, and keeps each phase's span", async () => {
    const { d, clock } = setup(3, { creditPhase: "other" });
    const a = leased(pull(d, "w"));
    await d.result(result(a, "w"));
    clock.advance(500);
    const b = leased(pull(d, "w"));
    await d.result(result(b, "w"));
    const w = d.registry.get("w")!;
    expect([w.tasksDone, w.pairsDone, w.units]).toEqual([2, 0, { p: 2 }]);
    expect(d.spans.get("p")).toEqual({ first: 1_000_000, last: 1_000_500, unitsAfterFirst: 1 });
  });

  it("counts refused results, task errors and stall reports", async () => {
    const { d } = setup(2);
    const t = leased(pull(d, "w"));
    await d.result(result(t, "w", -1));
    const u = leased(pull(d, "w"));
    d.error(createMessage("task.error", { runId: "run-1", ...u, workerId: "w", code: "compute_failed", message: "x" }));
    expect([d.counts.rejectedResults, d.counts.taskErrors]).toEqual([1, 1]);
    expect(d.error(createMessage("task.error", { runId: "run-1", ...u, workerId: "w", code: "compute_failed", message: "again" }))).toEqual({ accepted: false, reason: "lease no longer valid" });
  });

  it("a quarantine releases the worker's other leases without counting attempts against them", async () => {
    const { d, phase } = setup(3, { quarantineAfter: 1 });
    const held = leased(pull(d, "bad"));
    const bad = leased(pull(d, "bad"));
    await d.result(result(bad, "bad", -1));
    expect(d.registry.get("bad")!.quarantined).not.toBeNull();
    expect(phase.table.current(held.taskId, held.leaseId)).toBeNull();
    expect(phase.table.attemptsOf(held.taskId)).toEqual([]);
    expect(phase.table.attemptsOf(bad.taskId)).toHaveLength(1);
  });

  it("a heartbeat renews only the lease it names, and only its worker's live one", () => {
    const { d, clock, phase } = setup(2);
    const t = leased(pull(d, "w"));
    clock.advance(LEASE_MS - 1);
    d.heartbeat(createMessage("worker.heartbeat", { workerId: "w", instance: "w", state: "busy", taskId: t.taskId, leaseId: null, runId: null, backend: "cpu", device: "x" }));
    clock.advance(1);
    d.sweep();
    expect(phase.table.current(t.taskId, t.leaseId)).toBeNull();
    expect(d.counts.expiredLeases).toBe(1);
  });
});

describe("refused messages", () => {
  it("logs one line per kind and subject, and counts every one", () => {
    const { d, logs } = setup(1);
    const m = { code: "bad_message" as const, subject: "t.task.pull", message: "v: missing", types: ["task.pull"] };
    d.refuse(m);
    d.refuse(m);
    d.refuse({ ...m, subject: "t.task.error" });
    d.refuse({ ...m, code: "protocol_version" });
    expect(d.counts.refusedMessages).toBe(4);
    expect(logs).toEqual([
      "refused a message on t.task.pull (further ones of this kind are only counted): v: missing",
      "refused a message on t.task.error (further ones of this kind are only counted): v: missing",
      "refused a message on t.task.pull (further ones of this kind are only counted): v: missing",
    ]);
    expect(Dispatcher.refusal(m)).toMatchObject({ type: "error", code: "bad_message", message: expect.stringMatching(/^coordinator \(protocol v\d+\) refused the message: v: missing$/) });
  });

  it("strikes only a malformed result or chunk, never another message or a version mismatch", () => {
    const { d, logs } = setup(1);
    const t = leased(pull(d, "w"));
    d.refuse({ code: "bad_message", subject: "t.task.error", message: "bad", sender: { workerId: "w", ...t }, types: ["task.error"] });
    d.refuse({ code: "protocol_version", subject: "t.task.result", message: "v2", sender: { workerId: "w", ...t }, types: ["task.result"] });
    expect(d.registry.get("w")!.badResults).toBe(0);
    d.refuse({ code: "bad_message", subject: "t.task.chunk", message: "g1: NaN", sender: { workerId: "w", ...t }, types: ["task.chunk"] });
    expect(d.registry.get("w")!.badResults).toBe(1);
    expect(logs).toContain(`refused a result of worker w for task ${t.taskId}: malformed task.chunk: g1: NaN`);
  });

  it("a quarantined worker's pull is an error naming why", () => {
    const { d } = setup(2, { quarantineAfter: 1 });
    const t = leased(pull(d, "w"));
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "NaN", sender: { workerId: "w", ...t }, types: ["task.result"] });
    expect(pull(d, "w")).toMatchObject({ type: "error", code: "quarantined", message: "this coordinator gives worker w no more work: 1 bad results; the last: malformed task.result: NaN" });
  });
});

describe("chunks (return: vectors), refused before any vector is read", () => {
  it("another run's, a dead lease's, another worker's, and any in a phase that takes statistics", () => {
    const { d } = setup(1);
    const t = leased(pull(d, "w"));
    expect(d.chunk(chunk(t, "w", "run-0"))).toEqual({ accepted: false, reason: "chunk for run run-0, this is run run-1" });
    expect(d.chunk(chunk({ ...t, leaseId: "p#0.99" }, "w"))).toEqual({ accepted: false, reason: "lease no longer valid (expired, released or reassigned)" });
    expect(d.chunk(chunk(t, "x"))).toEqual({ accepted: false, reason: "lease no longer valid (expired, released or reassigned)" });
    expect(d.chunk(chunk(t, "w"))).toEqual({ accepted: false, reason: "this phase takes statistics, not vectors" });
  });
});

describe("run()", () => {
  it("rejects at once after a failure, refuses a second phase while one runs, and resolves a finished one at once", async () => {
    const { d, clock } = setup(1);
    await expect(Promise.resolve().then(() => d.run(lossPhase(1, clock)))).rejects.toThrow("phase p is still running");
    const done = lossPhase(1, clock);
    const t = leased(pull(d, "w"));
    await d.result(result(t, "w"));
    // The first phase finished; a phase whose table is already finished resolves at once.
    const finished = lossPhase(1, clock);
    finished.table.complete(finished.table.lease("w")!.task.id, "p#0.1");
    await expect(d.run(finished)).resolves.toBeUndefined();
    expect(d.phase).toBeNull();
    d.fail(new RunFailure("stop"));
    await expect(d.run(done)).rejects.toThrow("stop");
    expect(pull(d, "w")).toMatchObject({ type: "task.none", done: true, retryMs: 1000 });
  });

  it("between phases a pull hears 'none, ask again soon'", async () => {
    const { d } = setup(1);
    const t = leased(pull(d, "w"));
    await d.result(result(t, "w"));
    expect(d.phase).toBeNull();
    expect(pull(d, "w")).toMatchObject({ type: "task.none", done: false, retryMs: 200 });
  });
});

describe("the stall report's wording", () => {
  const task = (id: string) => ({ id, pairIds: [0] });
  const worker = (id: string, lastSeen: number, quarantined: string | null = null, servingRun: string | null = null) => ({ id, lastSeen, quarantined, servingRun, pulls: 0, lastPull: null, badResults: 0, host: "", pid: null, instance: "", backend: "", device: "", version: "", firstSeen: 0, pairsDone: 0, tasksDone: 0, units: {} });

  it("names a silent worker whose lease will expire, and a swarm of only quarantined workers", () => {
    const text = stallReport({
      runId: "r",
      phase: "p",
      now: 100_000,
      lastProgress: 30_000,
      total: 3,
      unfinished: [
        { task: task("p#0"), lease: { task: task("p#0"), leaseId: "p#0.1", workerId: "gone", leasedAt: 40_000, deadline: 95_000 + 60_000 }, attempts: [] },
        { task: task("p#1"), lease: null, attempts: [] },
      ],
      workers: [worker("gone", 80_000), worker("q", 99_000, "3 bad results")],
      leaseMs: 60_000,
      silentMs: 10_000,
      atInFlightBound: false,
    });
    const lines = text.split("\n");
    expect(lines[0]).toBe("stall: no task of p has finished for 70 s; 2 of 3 tasks unfinished (1 leased, 1 pending); 1 live worker: q (quarantined)");
    expect(lines[1]).toBe("  p#0: leased to worker gone for 60 s (lease renewed 5.0 s ago, expires in 55 s; worker last heard from 20 s ago); attempts 0");
    expect(lines[2]).toBe("  pending, never tried (1): p#1");
    expect(lines[3]).toBe("the run waits for: worker gone, silent, whose lease on p#0 will expire; a worker that is not quarantined, to take the 1 pending task");
  });

  it("bounds the task lines and the ids, and says when it can name nothing", () => {
    const many = Array.from({ length: 105 }, (_, i) => ({ task: task(`p#${i}`), lease: null, attempts: i < 45 ? [{ workerId: "w", cause: "boom" }] : [] }));
    const text = stallReport({ runId: "r", phase: "p", now: 1000, lastProgress: 0, total: 105, unfinished: many, workers: [worker("w", 1000)], leaseMs: 60_000, silentMs: 10_000, atInFlightBound: false });
    const lines = text.split("\n");
    expect(lines.filter((l) => / pending; attempts 1/.test(l))).toHaveLength(40);
    expect(lines).toContain("  … and 5 more leased or retried tasks");
    expect(lines.find((l) => l.startsWith("  pending, never tried"))).toMatch(/^  pending, never tried \(60\): p#45, .*, p#104$/);
    const none = stallReport({ runId: "r", phase: "p", now: 1000, lastProgress: 0, total: 1, unfinished: [], workers: [], leaseMs: 60_000, silentMs: 10_000, atInFlightBound: false });
    expect(none.split("\n")).toEqual(["stall: no task of p has finished for 1.0 s; 0 of 1 tasks unfinished (0 leased, 0 pending); 0 live workers", "the run waits for: nothing it can name"]);
    const more = Array.from({ length: 61 }, (_, i) => ({ task: task(`q#${i}`), lease: null, attempts: [] }));
    expect(stallReport({ runId: "r", phase: "q", now: 10_000, lastProgress: 0, total: 61, unfinished: more, workers: [], leaseMs: 1, silentMs: 1, atInFlightBound: false })).toMatch(/pending, never tried \(61\): q#0, .*, q#59, … 1 more\n/);
  });
});

describe("between phases, and the paths a loss phase never takes", () => {
  it("heartbeats, errors, results and chunks that arrive between phases are refused or ignored, never a crash", async () => {
    const { d, logs } = setup(1);
    const t = leased(pull(d, "w"));
    await d.result(result(t, "w"));
    expect(d.phase).toBeNull();
    beat(d, "w", t);
    d.sweep();
    expect(d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: "w", code: "compute_failed", message: "late" }))).toEqual({ accepted: false, reason: "lease no longer valid" });
    expect(await d.result(result(t, "w"))).toEqual({ accepted: false, reason: "lease no longer valid (expired, released or reassigned)" });
    expect(d.chunk(chunk(t, "w"))).toEqual({ accepted: false, reason: "lease no longer valid (expired, released or reassigned)" });
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "NaN", sender: { workerId: "w", ...t }, types: ["task.result"] });
    expect(d.registry.get("w")!.badResults).toBe(0);
    expect(logs.some((l) => l.startsWith("progress again"))).toBe(false);
  });

  it("a task error is logged with its worker and cause; a strike without a lease named blames no one", () => {
    const { d, logs } = setup(1);
    const t = leased(pull(d, "w"));
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "NaN", sender: { workerId: "w" }, types: ["task.result"] });
    d.refuse({ code: "bad_message", subject: "t.task.result", message: "NaN", sender: { workerId: "w", taskId: t.taskId }, types: ["task.result"] });
    expect(d.registry.get("w")!.badResults).toBe(0);
    d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: "w", code: "compute_failed", message: "out of memory" }));
    expect(logs).toContain(`task ${t.taskId} failed on w (compute_failed): out of memory`);
  });

  it("a vectors phase whose results are not task.result takes them without the vector check", async () => {
    const clock = new Clock();
    const d = new Dispatcher({ runId: "run-1", leaseMs: LEASE_MS, waitMs: 300_000, stallTimeoutMs: 600_000, quarantineAfter: 2, creditPhase: "p", pullSubject: "t.task.pull", log: () => undefined, now: clock.now });
    const phase = { ...lossPhase(1, clock), vectors: true };
    const done = d.run(phase);
    const t = leased(pull(d, "w"));
    expect(await d.result(result(t, "w"))).toEqual({ accepted: true, reason: null });
    await done;
  });

  it("a journal that cannot be made durable fails the run, and the worker hears why", async () => {
    const clock = new Clock();
    const d = new Dispatcher({ runId: "run-1", leaseMs: LEASE_MS, waitMs: 300_000, stallTimeoutMs: 600_000, quarantineAfter: 2, creditPhase: "p", pullSubject: "t.task.pull", log: () => undefined, now: clock.now });
    const phase = { ...lossPhase(2, clock), durable: () => Promise.reject(new Error("fdatasync: EIO")) };
    const done = d.run(phase).catch((e: Error) => e);
    const t = leased(pull(d, "w"));
    expect(await d.result(result(t, "w"))).toEqual({ accepted: false, reason: "the coordinator could not record the result: fdatasync: EIO" });
    const err = (await done) as Error;
    expect(err).toBeInstanceOf(RunFailure);
    expect(err.message).toBe("the run stops: fdatasync: EIO");
    expect((err as Error & { cause?: Error }).cause?.message).toBe("fdatasync: EIO");
  });

  it("the exhausted task's error is the run failure's cause", async () => {
    const { d, settled } = setup(1);
    for (let i = 0; i < 3; i++) {
      const t = leased(pull(d, "w"));
      d.error(createMessage("task.error", { runId: "run-1", ...t, workerId: "w", code: "compute_failed", message: "boom" }));
    }
    await flush();
    expect((settled.error as Error & { cause?: Error }).cause?.name).toBe("TaskExhaustedError");
  });

  it("at the in-flight bound a pull hears 'none, not done'", () => {
    const { d } = setup(2, {}, 1);
    leased(pull(d, "w1"));
    expect(pull(d, "w2")).toMatchObject({ type: "task.none", done: false, retryMs: 200 });
  });
});

describe("timing edges", () => {
  it("wait_s is a strict bound: at exactly wait_s the run still waits", async () => {
    const { d, clock, settled } = setup(1, { waitMs: 8000 });
    clock.advance(8000);
    d.sweep();
    await flush();
    expect(settled.error).toBeNull();
    clock.advance(1);
    d.sweep();
    await flush();
    expect(settled.error).toBeInstanceOf(RunFailure);
  });

  it("a worker 9.9 s silent is not yet waited for when wait_s is long", () => {
    const { d, clock, logs } = setup(1, { waitMs: 60_000 });
    beat(d, "w", null);
    clock.advance(WORKER_SILENT_MS - 100);
    d.sweep();
    expect(logs.filter((l) => l.startsWith("waiting for workers"))).toEqual([]);
  });

  it("the stall report repeats every notice interval, counted, and progress ends it", async () => {
    const { d, clock, logs } = setup(2);
    const t = leased(pull(d, "w"));
    for (let s = 1; s <= 120; s++) {
      clock.advance(1000);
      beat(d, "w", t);
      d.sweep();
    }
    expect(logs.filter((l) => l.startsWith("stall:"))).toHaveLength(2);
    expect(d.counts.stallReports).toBe(2);
    await d.result(result(t, "w"));
    expect(logs.filter((l) => l.startsWith("progress again after the stall reported at"))).toHaveLength(1);
  });

  it("start() sweeps on a timer and stop() ends it", async () => {
    vi.useFakeTimers();
    try {
      const { d, clock } = setup(1);
      leased(pull(d, "w"));
      d.start();
      d.start(); // a second start keeps one timer
      clock.advance(LEASE_MS);
      await vi.advanceTimersByTimeAsync(300);
      expect(d.counts.expiredLeases).toBe(1);
      d.stop();
      leased(pull(d, "w"));
      clock.advance(LEASE_MS);
      await vi.advanceTimersByTimeAsync(1000);
      expect(d.counts.expiredLeases).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("runs that share a swarm (task and lease ids repeat from run to run)", () => {
  it("a heartbeat for the same task and lease ids in another run renews nothing here; one for this run does", () => {
    const { d, clock, phase } = setup(2);
    const t = leased(pull(d, "w"));
    clock.advance(LEASE_MS - 1);
    beat(d, "w", t, "w", "other-run");
    clock.advance(1);
    d.sweep();
    expect(phase.table.current(t.taskId, t.leaseId)).toBeNull();
    const u = leased(pull(d, "w"));
    clock.advance(LEASE_MS - 1);
    beat(d, "w", u);
    clock.advance(1);
    d.sweep();
    expect(phase.table.current(u.taskId, u.leaseId)).not.toBeNull();
  });

  it("the registry tells the workers that served this run from the others of the prefix", () => {
    const { d, clock } = setup(2);
    pull(d, "mine");
    beat(d, "elsewhere", { taskId: "p#0", leaseId: "p#0.1" }, "elsewhere", "other-run");
    expect(d.registry.all().map((w) => w.id)).toEqual(["mine", "elsewhere"]);
    expect(d.registry.served().map((w) => w.id)).toEqual(["mine"]);
    expect(d.registry.get("elsewhere")!.servingRun).toBe("other-run");
    expect(d.registry.pulling(1000).map((w) => w.id)).toEqual(["mine"]);
    clock.advance(1000);
    expect(d.registry.pulling(1000)).toEqual([]);
  });

  it("the stall report says which live workers are busy with another run, apart from those not pulling", () => {
    const task = (id: string) => ({ id, pairIds: [0] });
    const worker = (id: string, servingRun: string | null) => ({ id, lastSeen: 999, quarantined: null, servingRun, pulls: 0, lastPull: null, badResults: 0, host: "", pid: null, instance: "", backend: "", device: "", version: "", firstSeen: 0, pairsDone: 0, tasksDone: 0, units: {} });
    const report = (workers: ReturnType<typeof worker>[]) =>
      stallReport({ runId: "mine", phase: "p", now: 1000, lastProgress: 0, total: 1, unfinished: [{ task: task("p#0"), lease: null, attempts: [] }], workers, leaseMs: 60_000, silentMs: 10_000, atInFlightBound: false }).split("\n").at(-1);
    expect(report([worker("a", "other"), worker("b", "other"), worker("c", null), worker("d", "mine")])).toBe(
      "the run waits for: a worker to pull the 1 pending task (2 live workers not pulling; a, b busy with run other)",
    );
    expect(report([worker("a", "other")])).toBe("the run waits for: a worker to pull the 1 pending task (a busy with run other)");
  });
});
