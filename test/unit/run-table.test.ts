// The worker's table of runs (src/worker/run-table.ts): the round-robin choice of the run
// to pull from, task.none passing a run over until every run has said it, and a run's
// expiry after three missed announces; with an injected clock. Also the gradients/s window.

import { describe, expect, it } from "vitest";
import { RateWindow } from "../../src/worker/rate-window.js";
import { MISSED_ANNOUNCES, RunTable } from "../../src/worker/run-table.js";

function table() {
  let t = 0;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  return { runs: new RunTable(1000, clock.now), clock };
}

/** The next `n` choices, a task handed out by each run pulled (so none is passed over). */
function pulls(runs: RunTable, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = runs.choose();
    out.push(c.kind === "pull" ? c.runId : `sleep ${c.ms}`);
    runs.gaveTask();
  }
  return out;
}

describe("RunTable: which run a worker pulls next", () => {
  it("with no run, sleeps the idle time", () => {
    const { runs } = table();
    expect(runs.choose()).toEqual({ kind: "sleep", ms: 1000, reason: "no-runs" });
  });

  it("goes round the runs in the order first heard, each pull to the next", () => {
    const { runs } = table();
    runs.announced("a", "A", 1000);
    runs.announced("b", "B", 1000);
    runs.announced("c", "C", 1000);
    expect(pulls(runs, 7)).toEqual(["a", "b", "c", "a", "b", "c", "a"]);
    // A re-announce changes nothing of the order.
    runs.announced("a", "A", 1000);
    expect(pulls(runs, 3)).toEqual(["b", "c", "a"]);
  });

  it("a run heard later joins the round after the runs before it", () => {
    const { runs } = table();
    runs.announced("a", "A", 1000);
    expect(pulls(runs, 2)).toEqual(["a", "a"]);
    runs.announced("b", "B", 1000);
    expect(pulls(runs, 4)).toEqual(["b", "a", "b", "a"]);
  });

  it("task.none passes a run over; only when every run said none does it sleep, the shortest retry", () => {
    const { runs } = table();
    runs.announced("a", "A", 1000);
    runs.announced("b", "B", 1000);
    expect(runs.choose()).toEqual({ kind: "pull", runId: "a" });
    runs.saidNone("a", 200);
    expect(runs.choose()).toEqual({ kind: "pull", runId: "b" });
    // b gives a task: a is asked again before any sleep.
    runs.gaveTask();
    expect(runs.choose()).toEqual({ kind: "pull", runId: "a" });
    runs.saidNone("a", 200);
    expect(runs.choose()).toEqual({ kind: "pull", runId: "b" });
    runs.saidNone("b", 50);
    expect(runs.choose()).toEqual({ kind: "sleep", ms: 50, reason: "all-none" });
    // After the sleep, a new round from where it was.
    expect(runs.choose()).toEqual({ kind: "pull", runId: "a" });
  });

  it("a run announced while the others said none is pulled before any sleep", () => {
    const { runs } = table();
    runs.announced("a", "A", 1000);
    runs.choose();
    runs.saidNone("a", 200);
    runs.announced("b", "B", 1000);
    expect(runs.choose()).toEqual({ kind: "pull", runId: "b" });
  });

  it("a busy run is never starved by an idle one: with one run handing out tasks and one saying none, every other pull goes to the busy one", () => {
    const { runs } = table();
    runs.announced("idle", "", 1000);
    runs.announced("busy", "", 1000);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const c = runs.choose();
      if (c.kind !== "pull") throw new Error("no sleep expected: a run hands out tasks");
      seen.push(c.runId);
      if (c.runId === "idle") runs.saidNone("idle", 200);
      else runs.gaveTask();
    }
    expect(seen).toEqual(["idle", "busy", "idle", "busy", "idle", "busy", "idle", "busy", "idle", "busy"]);
  });

  it("a run dropped (run.end) is pulled no more and a late announce does not bring it back; the round goes on where it was", () => {
    const { runs } = table();
    for (const id of ["a", "b", "c"]) runs.announced(id, id, 1000);
    expect(pulls(runs, 2)).toEqual(["a", "b"]);
    expect(runs.drop("b", true)).toBe(true);
    expect(runs.ended("b")).toBe(true);
    runs.announced("b", "b", 1000);
    expect(runs.has("b")).toBe(false);
    expect(pulls(runs, 4)).toEqual(["c", "a", "c", "a"]);
    expect(runs.drop("b", true)).toBe(false);
  });

  it("dropping the run pulled last, the first of the table, goes on with the next", () => {
    const { runs } = table();
    for (const id of ["a", "b", "c"]) runs.announced(id, id, 1000);
    expect(pulls(runs, 1)).toEqual(["a"]);
    runs.drop("a", true);
    expect(pulls(runs, 3)).toEqual(["b", "c", "b"]);
  });

  it("a run dropped for no responders comes back with its next announce (a coordinator cut off by a server restart)", () => {
    const { runs } = table();
    runs.announced("a", "A", 1000);
    runs.drop("a");
    expect(runs.ended("a")).toBe(false);
    expect(runs.choose().kind).toBe("sleep");
    runs.announced("a", "A", 1000);
    expect(runs.choose()).toEqual({ kind: "pull", runId: "a" });
  });

  it(`drops a run not announced for ${MISSED_ANNOUNCES} of its intervals, and only then`, () => {
    const { runs, clock } = table();
    runs.announced("a", "A", 1000);
    runs.announced("b", "B", 500);
    clock.advance(1500);
    expect(runs.active().map((r) => r.runId)).toEqual(["a", "b"]);
    clock.advance(1);
    expect(runs.active().map((r) => r.runId)).toEqual(["a"]);
    clock.advance(1399);
    runs.announced("a", "A", 1000); // heard at 2900
    clock.advance(3000);
    expect(runs.has("a")).toBe(true);
    clock.advance(1);
    expect(runs.has("a")).toBe(false);
    expect(runs.choose()).toEqual({ kind: "sleep", ms: 1000, reason: "no-runs" });
  });
});

describe("RateWindow: gradients per second over the last minute", () => {
  it("counts over the window, a young worker over its life so far", () => {
    let t = 0;
    const w = new RateWindow(60_000, () => t);
    expect(w.perSecond()).toBe(0);
    t = 10_000;
    w.add(40);
    expect(w.perSecond()).toBe(4);
    t = 60_000;
    w.add(80);
    expect(w.perSecond()).toBe(2);
    // The first 40 leave the window at 70 s.
    t = 70_000;
    expect(w.perSecond()).toBeCloseTo(80 / 60, 12);
    t = 200_000;
    expect(w.perSecond()).toBe(0);
  });
});
