// What `coordinator workers` and `coordinator status` make of what they hear: the rows
// (WorkerCensus, runRows) and the tables, without NATS.

import { describe, expect, it } from "vitest";
import { runsTable, workersTable } from "../../src/coordinator/report/swarm-tables.js";
import { runRows, WorkerCensus } from "../../src/coordinator/swarm-census.js";
import { createMessage } from "../../src/protocol/index.js";

const announce = (workerId: string, over: Partial<Parameters<typeof createMessage<"worker.announce">>[1]> = {}) =>
  createMessage("worker.announce", { workerId, instance: "i", host: "h1", pid: 42, backend: "wasm", device: "cpu x4", version: "0.1.0", state: "idle", taskId: null, runId: null, tasksDone: 7, gradientsPerSecond: 12.345, ...over });

describe("WorkerCensus", () => {
  it("one row per worker, sorted by id; the heartbeat's state and run over the announce's, and its age", () => {
    const c = new WorkerCensus();
    c.announce(announce("w2", { state: "busy", runId: "r1" }));
    c.announce(announce("w1"));
    c.heartbeat("w2", 1000, { state: "idle", runId: null, backend: "wasm", device: "cpu x4" });
    c.heartbeat("w3", 1500, { state: "busy", runId: "r2", backend: "webgpu", device: "H200" });
    expect(c.rows(2000)).toEqual([
      { id: "w1", host: "h1", pid: 42, backend: "wasm", device: "cpu x4", version: "0.1.0", state: "idle", run: null, tasks_done: 7, gradients_per_s: 12.345, last_heartbeat_s: null },
      { id: "w2", host: "h1", pid: 42, backend: "wasm", device: "cpu x4", version: "0.1.0", state: "idle", run: null, tasks_done: 7, gradients_per_s: 12.345, last_heartbeat_s: 1 },
      // Heard only by its heartbeat (its announce was lost): what the heartbeat says, the rest unknown.
      { id: "w3", host: "", pid: null, backend: "webgpu", device: "H200", version: "", state: "busy", run: "r2", tasks_done: null, gradients_per_s: null, last_heartbeat_s: 0.5 },
    ]);
  });
});

describe("runRows and the tables", () => {
  const run = (runId: string, startedAt: number, over: Partial<Parameters<typeof createMessage<"run.announce">>[1]> = {}) =>
    createMessage("run.announce", { runId, label: `${runId}.yaml`, owner: "alice", host: "h", phase: "theta/pairs", done: 30, total: 120, etaMs: 45_000, workers: 3, retries: 1, quarantines: 0, startedAt, intervalMs: 1000, ...over });

  it("runs sorted by start; ETA in seconds, start as ISO time", () => {
    const rows = runRows([run("b", 2000, { etaMs: null }), run("a", 1000)]);
    expect(rows.map((r) => r.run_id)).toEqual(["a", "b"]);
    expect(rows[0]).toEqual({ run_id: "a", label: "a.yaml", owner: "alice", host: "h", phase: "theta/pairs", done: 30, total: 120, eta_s: 45, workers: 3, retries: 1, quarantines: 0, started: "1970-01-01T00:00:01.000Z" });
    expect(rows[1]!.eta_s).toBeNull();
  });

  it("prints padded columns, a dash for what is unknown", () => {
    expect(runsTable(runRows([run("a", 1000), run("bb", 2000, { etaMs: null, phase: "", done: 0, total: 0, owner: "" })])).split("\n")).toEqual([
      "run  label    owner  phase        progress      eta   workers  retries  quarantines",
      "a    a.yaml   alice  theta/pairs  30/120 (25%)  45 s  3        1        0",
      "bb   bb.yaml  -      -            0/0           -     3        1        0",
    ]);
    expect(runsTable([])).toBe("no run in progress");
    const c = new WorkerCensus();
    c.announce(announce("w1", { state: "busy", runId: "a" }));
    c.heartbeat("w1", 0, { state: "busy", runId: "a", backend: "wasm", device: "cpu x4" });
    expect(workersTable(c.rows(300)).split("\n")).toEqual([
      "worker  host  backend  device  version  state  run  tasks  grad/s  last heartbeat",
      "w1      h1    wasm     cpu x4  0.1.0    busy   a    7      12.3    0.3 s ago",
    ]);
    expect(workersTable([])).toBe("no live worker");
  });
});
