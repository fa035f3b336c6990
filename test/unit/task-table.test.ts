// TaskTable: leases, dedupe, expiry, retries and exhaustion, with an injected clock.
// Pure logic: no NATS. The last test drives many tasks through several fake workers
// that crash and send late or repeated results, and checks each task is done once.
import { describe, expect, it } from "vitest";
import { TaskExhaustedError, TaskTable, type Lease, type TaskSpec, type TaskTableOptions } from "../../src/coordinator/task-table.js";
import { Rng } from "../../src/util/rng.js";

class FakeClock {
  t = 1_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

function specs(n: number): TaskSpec[] {
  return Array.from({ length: n }, (_, i) => ({ id: `t${i}`, pairIds: [2 * i, 2 * i + 1] }));
}

const OPTS: TaskTableOptions = { leaseMs: 1000, maxAttempts: 3, maxInFlight: 100 };

function table(n: number, opts: Partial<TaskTableOptions> = {}, clock = new FakeClock()): { tt: TaskTable; clock: FakeClock } {
  return { tt: new TaskTable(specs(n), { ...OPTS, ...opts }, clock.now), clock };
}

function mustLease(tt: TaskTable, worker: string): Lease {
  const l = tt.lease(worker);
  if (!l) throw new Error(`expected a lease for ${worker}`);
  return l;
}

describe("TaskTable: leasing", () => {
  it("hands tasks out in task order, up to maxInFlight", () => {
    const { tt, clock } = table(5, { maxInFlight: 3 });
    expect(tt.total).toBe(5);
    const ls = [mustLease(tt, "w1"), mustLease(tt, "w2"), mustLease(tt, "w1")];
    expect(ls.map((l) => l.task.id)).toEqual(["t0", "t1", "t2"]);
    expect(ls.map((l) => l.workerId)).toEqual(["w1", "w2", "w1"]);
    expect(ls[1]!.task.pairIds).toEqual([2, 3]);
    for (const l of ls) expect(l.deadline).toBe(clock.t + 1000);
    expect(new Set(ls.map((l) => l.leaseId)).size).toBe(3);
    expect(tt.leased).toBe(3);
    // Bound reached: nothing more until one comes back.
    expect(tt.lease("w3")).toBeNull();
    expect(tt.complete("t1", ls[1]!.leaseId)).toBe("accepted");
    expect(tt.leased).toBe(2);
    expect(mustLease(tt, "w3").task.id).toBe("t3");
    expect(tt.lease("w3")).toBeNull();
  });

  it("returns null when nothing is pending", () => {
    const { tt } = table(2);
    mustLease(tt, "w");
    mustLease(tt, "w");
    expect(tt.lease("w")).toBeNull();
    expect(tt.leased).toBe(2);
  });

  it("rejects duplicate task ids at construction", () => {
    expect(() => new TaskTable([{ id: "a", pairIds: [0] }, { id: "a", pairIds: [1] }], OPTS)).toThrow(/duplicate task id a/);
  });

  it("current() returns the live lease only for its own lease id", () => {
    const { tt } = table(2);
    const l = mustLease(tt, "w");
    expect(tt.current("t0", l.leaseId)).toBe(l);
    expect(tt.current("t0", "t0.999")).toBeNull();
    expect(tt.current("t1", l.leaseId)).toBeNull(); // pending
    expect(tt.current("nope", l.leaseId)).toBeNull();
  });

  it("leasesOf lists the live leases of one worker", () => {
    const { tt } = table(4);
    const a = mustLease(tt, "a");
    const b = mustLease(tt, "b");
    const a2 = mustLease(tt, "a");
    expect(tt.leasesOf("a").map((l) => l.leaseId).sort()).toEqual([a.leaseId, a2.leaseId].sort());
    expect(tt.leasesOf("b")).toEqual([b]);
    expect(tt.leasesOf("c")).toEqual([]);
    tt.complete("t0", a.leaseId);
    expect(tt.leasesOf("a")).toEqual([a2]);
  });
});

describe("TaskTable: results", () => {
  it("accepts a result under the live lease once; a second is a duplicate", () => {
    const { tt } = table(2);
    const l = mustLease(tt, "w");
    expect(tt.complete("t0", l.leaseId)).toBe("accepted");
    expect(tt.done).toBe(1);
    expect(tt.complete("t0", l.leaseId)).toBe("duplicate");
    expect(tt.done).toBe(1);
    expect(tt.leased).toBe(0);
    expect(tt.current("t0", l.leaseId)).toBeNull();
  });

  it("an unknown task id is 'unknown'; a made-up lease id on a leased task is 'stale'", () => {
    const { tt } = table(1);
    const l = mustLease(tt, "w");
    expect(tt.complete("zzz", l.leaseId)).toBe("unknown");
    expect(tt.complete("t0", "t0.42")).toBe("stale");
    expect(tt.done).toBe(0);
    expect(tt.current("t0", l.leaseId)).toBe(l);
  });

  it("a result under an expired lease is stale once the task was re-leased, and does not complete it", () => {
    const { tt, clock } = table(1);
    const old = mustLease(tt, "slow");
    clock.advance(1000);
    expect(tt.expire()).toEqual([old]);
    expect(tt.leased).toBe(0);
    // Expired but not yet re-leased: still stale.
    expect(tt.complete("t0", old.leaseId)).toBe("stale");
    const fresh = mustLease(tt, "fast");
    expect(fresh.task.id).toBe("t0");
    expect(fresh.leaseId).not.toBe(old.leaseId);
    expect(tt.complete("t0", old.leaseId)).toBe("stale");
    expect(tt.done).toBe(0);
    expect(tt.isFinished()).toBe(false);
    expect(tt.renew("t0", old.leaseId)).toBe(false);
    expect(tt.release("t0", old.leaseId, "late", true)).toBe(false);
    expect(tt.current("t0", fresh.leaseId)).toBe(fresh);
    expect(tt.complete("t0", fresh.leaseId)).toBe("accepted");
    // The old lease's result arriving after the task is done is a duplicate, counted nowhere.
    expect(tt.complete("t0", old.leaseId)).toBe("duplicate");
    expect(tt.done).toBe(1);
    expect(tt.isFinished()).toBe(true);
  });

  it("isFinished and done follow completions", () => {
    const { tt } = table(3);
    expect(tt.isFinished()).toBe(false);
    const ls = [mustLease(tt, "a"), mustLease(tt, "b"), mustLease(tt, "c")];
    expect(tt.complete("t2", ls[2]!.leaseId)).toBe("accepted");
    expect(tt.complete("t0", ls[0]!.leaseId)).toBe("accepted");
    expect(tt.done).toBe(2);
    expect(tt.isFinished()).toBe(false);
    expect(tt.complete("t1", ls[1]!.leaseId)).toBe("accepted");
    expect(tt.done).toBe(3);
    expect(tt.leased).toBe(0);
    expect(tt.isFinished()).toBe(true);
    expect(tt.lease("a")).toBeNull();
  });

  it("an empty table is finished from the start", () => {
    const tt = new TaskTable([], OPTS);
    expect(tt.isFinished()).toBe(true);
    expect(tt.lease("w")).toBeNull();
  });
});

describe("TaskTable: deadlines", () => {
  it("a heartbeat renew extends the deadline", () => {
    const { tt, clock } = table(1);
    const l = mustLease(tt, "w");
    const start = clock.t;
    expect(l.deadline).toBe(start + 1000);
    clock.advance(900);
    expect(tt.renew("t0", l.leaseId)).toBe(true);
    expect(tt.current("t0", l.leaseId)!.deadline).toBe(start + 1900);
    clock.advance(900); // 1800 ms since the lease: past the first deadline, not the renewed one
    expect(tt.expire()).toEqual([]);
    expect(tt.current("t0", l.leaseId)).toBe(l);
    clock.advance(100); // exactly on the renewed deadline
    expect(tt.expire()).toEqual([l]);
    expect(tt.current("t0", l.leaseId)).toBeNull();
    expect(tt.renew("t0", l.leaseId)).toBe(false);
  });

  it("without a renew the lease expires at its deadline, not before", () => {
    const { tt, clock } = table(1);
    const l = mustLease(tt, "w");
    clock.advance(999);
    expect(tt.expire()).toEqual([]);
    clock.advance(1);
    expect(tt.expire()).toEqual([l]);
    expect(tt.attemptsOf("t0")).toEqual([{ workerId: "w", cause: expect.stringMatching(/lease expired after 1000 ms/) }]);
  });

  it("renew of a wrong lease id or a pending/done task is refused", () => {
    const { tt } = table(2);
    const l = mustLease(tt, "w");
    expect(tt.renew("t0", "t0.77")).toBe(false);
    expect(tt.renew("t1", l.leaseId)).toBe(false);
    tt.complete("t0", l.leaseId);
    expect(tt.renew("t0", l.leaseId)).toBe(false);
  });

  it("expire() requeues expired tasks at the front of the queue", () => {
    const { tt, clock } = table(5);
    const l0 = mustLease(tt, "a");
    clock.advance(500);
    const l1 = mustLease(tt, "b");
    clock.advance(500); // t0 expires, t1 does not
    expect(tt.expire()).toEqual([l0]);
    const again = mustLease(tt, "c");
    expect(again.task.id).toBe("t0");
    expect(again.workerId).toBe("c");
    expect(mustLease(tt, "c").task.id).toBe("t2");
    expect(tt.current("t1", l1.leaseId)).toBe(l1);
  });

  it("expire() of several leases puts all of them ahead of never-leased tasks", () => {
    const { tt, clock } = table(6);
    const ls = [mustLease(tt, "a"), mustLease(tt, "b"), mustLease(tt, "c")];
    clock.advance(1000);
    expect(tt.expire().map((l) => l.task.id).sort()).toEqual(["t0", "t1", "t2"]);
    const next = [mustLease(tt, "d"), mustLease(tt, "d"), mustLease(tt, "d"), mustLease(tt, "d")].map((l) => l.task.id);
    expect(next.slice(0, 3).sort()).toEqual(["t0", "t1", "t2"]);
    expect(next[3]).toBe("t3");
    for (const l of ls) expect(tt.current(l.task.id, l.leaseId)).toBeNull();
  });
});

describe("TaskTable: release, attempts, exhaustion", () => {
  it("release with countAttempt=false requeues at the front without counting an attempt", () => {
    const { tt } = table(3, { maxAttempts: 1 });
    const l = mustLease(tt, "draining");
    mustLease(tt, "other");
    expect(tt.release("t0", l.leaseId, "draining", false)).toBe(true);
    expect(tt.attemptsOf("t0")).toEqual([]);
    expect(tt.exhausted).toBeNull();
    expect(tt.leased).toBe(1);
    expect(tt.current("t0", l.leaseId)).toBeNull();
    expect(tt.complete("t0", l.leaseId)).toBe("stale");
    expect(mustLease(tt, "x").task.id).toBe("t0");
  });

  it("release with countAttempt=true counts an attempt with its cause and worker", () => {
    const { tt } = table(2, { maxAttempts: 3 });
    const l = mustLease(tt, "w1");
    expect(tt.release("t0", l.leaseId, "compute_failed: OOM", true)).toBe(true);
    expect(tt.attemptsOf("t0")).toEqual([{ workerId: "w1", cause: "compute_failed: OOM" }]);
    expect(tt.exhausted).toBeNull();
    expect(mustLease(tt, "w2").task.id).toBe("t0");
    // A second release of the same (now stale) lease is refused and counts nothing.
    expect(tt.release("t0", l.leaseId, "again", true)).toBe(false);
    expect(tt.attemptsOf("t0")).toHaveLength(1);
  });

  it("after maxAttempts failures `exhausted` names the task and the last cause, and lease() returns null", () => {
    const { tt, clock } = table(3, { maxAttempts: 3 });
    const a = mustLease(tt, "w1");
    expect(a.task.id).toBe("t0");
    tt.release("t0", a.leaseId, "dataset_hash_mismatch", true);
    const b = mustLease(tt, "w2");
    expect(b.task.id).toBe("t0");
    clock.advance(1000);
    expect(tt.expire()).toEqual([b]); // second failure: an expired lease
    expect(tt.exhausted).toBeNull();
    const c = mustLease(tt, "w3");
    expect(c.task.id).toBe("t0");
    tt.release("t0", c.leaseId, "compute_failed: NaN in gradient", true);
    const err = tt.exhausted;
    expect(err).toBeInstanceOf(TaskExhaustedError);
    expect(err).toBeInstanceOf(Error);
    expect(err!.name).toBe("TaskExhaustedError");
    expect(err!.taskId).toBe("t0");
    expect(err!.attempts.map((x) => x.workerId)).toEqual(["w1", "w2", "w3"]);
    expect(err!.message).toContain("task t0");
    expect(err!.message).toContain("failed 3 times");
    expect(err!.message).toContain("compute_failed: NaN in gradient");
    expect(err!.message).toContain("w3");
    expect(tt.lease("w4")).toBeNull();
    expect(tt.lease("w4")).toBeNull();
    expect(tt.isFinished()).toBe(false);
  });

  it("attempts that do not count never exhaust a task", () => {
    const { tt } = table(1, { maxAttempts: 2 });
    for (let i = 0; i < 10; i++) {
      const l = mustLease(tt, `w${i}`);
      expect(tt.release("t0", l.leaseId, "draining", false)).toBe(true);
    }
    expect(tt.exhausted).toBeNull();
    expect(tt.attemptsOf("t0")).toEqual([]);
    expect(tt.complete("t0", mustLease(tt, "last").leaseId)).toBe("accepted");
  });

  it("attemptsOf a task the table does not hold is empty", () => {
    const { tt } = table(1);
    expect(tt.attemptsOf("t9")).toEqual([]);
  });

  it("a TaskExhaustedError without attempts says the cause and worker are unknown, rather than throwing", () => {
    const err = new TaskExhaustedError("t0", []);
    expect(err.message).toBe("task t0 failed 0 times; last cause: unknown (on worker ?)");
  });

  it("the first task to exhaust is the one reported, even if another exhausts later", () => {
    const { tt, clock } = table(2, { maxAttempts: 1 });
    const a = mustLease(tt, "w1");
    const b = mustLease(tt, "w2");
    tt.release("t1", b.leaseId, "first", true);
    clock.advance(1000);
    tt.expire(); // t0 also reaches maxAttempts
    expect(tt.exhausted!.taskId).toBe("t1");
    expect(tt.exhausted!.message).toContain("first");
    expect(tt.current("t0", a.leaseId)).toBeNull();
  });
});

describe("TaskTable: simulation with crashes, late and repeated results", () => {
  interface WorkerState {
    id: string;
    lease: Lease | null;
    finishAt: number;
    crashed: boolean;
    restartAt: number;
  }

  function simulate(seed: number): void {
    const rng = new Rng(seed);
    const clock = new FakeClock();
    const nTasks = 300;
    const opts: TaskTableOptions = { leaseMs: 200, maxAttempts: 40, maxInFlight: 5 };
    const tt = new TaskTable(specs(nTasks), opts, clock.now);
    const workers: WorkerState[] = Array.from({ length: 8 }, (_, i) => ({ id: `w${i}`, lease: null, finishAt: 0, crashed: false, restartAt: 0 }));
    /** Results a crashed or slow worker sends later: [deliverAt, lease]. */
    const late: { at: number; lease: Lease }[] = [];
    const accepted = new Map<string, number>();
    const acceptedPairs: number[] = [];
    const outcomes = { accepted: 0, duplicate: 0, stale: 0, unknown: 0 };
    let crashes = 0;

    const deliver = (l: Lease): void => {
      const live = tt.current(l.task.id, l.leaseId) !== null;
      const outcome = tt.complete(l.task.id, l.leaseId);
      outcomes[outcome]++;
      if (outcome === "accepted") {
        expect(live).toBe(true);
        accepted.set(l.task.id, (accepted.get(l.task.id) ?? 0) + 1);
        acceptedPairs.push(...l.task.pairIds);
      } else {
        expect(live).toBe(false);
      }
    };

    let steps = 0;
    while (!tt.isFinished()) {
      if (++steps > 100_000) throw new Error("simulation did not finish");
      clock.advance(10);
      for (const w of workers) {
        if (w.crashed) {
          if (clock.t >= w.restartAt) w.crashed = false;
          continue;
        }
        if (w.lease) {
          const l = w.lease;
          if (rng.nextFloat() < 0.01) {
            // Crash: the lease is never completed. Sometimes the result surfaces much later
            // (a partitioned worker that comes back), after expiry and re-lease.
            crashes++;
            if (rng.nextFloat() < 0.5) late.push({ at: clock.t + 100 + rng.nextInt(1000), lease: l });
            w.lease = null;
            w.crashed = true;
            w.restartAt = clock.t + 50 + rng.nextInt(500);
            continue;
          }
          if (clock.t >= w.finishAt) {
            deliver(l);
            // A retried publish: the same result again, now or a bit later.
            if (rng.nextFloat() < 0.1) deliver(l);
            if (rng.nextFloat() < 0.1) late.push({ at: clock.t + rng.nextInt(300), lease: l });
            w.lease = null;
          } else if (rng.nextFloat() < 0.5) {
            tt.renew(l.task.id, l.leaseId); // heartbeat (fails harmlessly if already expired)
          }
        }
        if (!w.lease) {
          const l = tt.lease(w.id);
          if (l) {
            w.lease = l;
            // Mostly fast; some tasks take longer than a lease, kept alive only by heartbeats.
            w.finishAt = clock.t + 10 + rng.nextInt(rng.nextFloat() < 0.1 ? 600 : 150);
          }
        }
      }
      expect(tt.leased).toBeLessThanOrEqual(opts.maxInFlight);
      for (let i = late.length - 1; i >= 0; i--) {
        if (late[i]!.at <= clock.t) {
          deliver(late[i]!.lease);
          late.splice(i, 1);
        }
      }
      tt.expire();
      expect(tt.exhausted).toBeNull();
    }
    for (const x of late) deliver(x.lease);

    expect(tt.done).toBe(nTasks);
    expect(outcomes.accepted).toBe(nTasks);
    expect(outcomes.unknown).toBe(0);
    expect(accepted.size).toBe(nTasks);
    for (const [, n] of accepted) expect(n).toBe(1);
    expect(acceptedPairs.sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * nTasks }, (_, i) => i));
    expect(tt.leased).toBe(0);
    expect(tt.lease("anyone")).toBeNull();
    // The scenario really exercised the faults it is about.
    expect(crashes).toBeGreaterThan(5);
    expect(outcomes.duplicate).toBeGreaterThan(5);
    expect(outcomes.stale).toBeGreaterThan(0);
  }

  it.each([1, 2, 3, 12345])("seed %i: every task done exactly once", (seed) => {
    simulate(seed);
  });
});

describe("TaskTable.unfinished (what the stall report lists)", () => {
  it("every task not done, in plan order, with its live lease or null, its attempts, and when it was leased", () => {
    const { tt, clock } = table(4, { maxInFlight: 2 });
    const a = tt.lease("w1")!;
    clock.advance(10);
    const b = tt.lease("w2")!;
    expect(tt.atInFlightBound()).toBe(true);
    tt.complete(a.task.id, a.leaseId);
    expect(tt.atInFlightBound()).toBe(false);
    tt.release(b.task.id, b.leaseId, "boom", true);
    const c = tt.lease("w3")!;
    expect(c.task.id).toBe(b.task.id);
    const u = tt.unfinished();
    expect(u.map((t) => t.task.id)).toEqual(["t1", "t2", "t3"]);
    expect(u[0]!.lease).toEqual({ task: c.task, leaseId: c.leaseId, workerId: "w3", leasedAt: c.leasedAt, deadline: c.leasedAt + 1000 });
    expect(u[0]!.attempts).toEqual([{ workerId: "w2", cause: "boom" }]);
    expect(u[1]!.lease).toBeNull();
    expect(u[2]!.lease).toBeNull();
    expect(u[1]!.attempts).toEqual([]);
  });
});
