// A dispatcher on an injected clock with a phase of one-point loss tasks, and the
// messages a worker would send: what the dispatcher unit tests share.

import { Dispatcher, type DispatcherOptions } from "../../src/coordinator/dispatcher.js";
import type { Phase } from "../../src/coordinator/phase.js";
import { TaskTable } from "../../src/coordinator/task-table.js";
import { createMessage, type Message, type TaskLossResultMessage } from "../../src/protocol/index.js";

export const LEASE_MS = 3000;

export class Clock {
  t = 1_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A phase of `n` one-point tasks: a result is accepted unless its loss is negative. */
export function lossPhase(n: number, clock: Clock, maxInFlight = 100): Phase<TaskLossResultMessage> & { accepted: number[] } {
  const tasks = Array.from({ length: n }, (_, i) => ({ id: `p#${i}`, pairIds: [i] }));
  const accepted: number[] = [];
  return {
    name: "p",
    table: new TaskTable(tasks, { leaseMs: LEASE_MS, maxAttempts: 3, maxInFlight }, clock.now),
    resultType: "task.loss_result",
    vectors: false,
    message: (lease, runId) =>
      createMessage("task.loss", {
        runId,
        taskId: lease.task.id,
        leaseId: lease.leaseId,
        leaseMs: LEASE_MS,
        snapshot: { hash: "a".repeat(64), bytes: 4 },
        dataset: { hash: "b".repeat(64), bytes: 4, name: "d" },
        points: lease.task.pairIds.map((id) => ({ id, alpha: 0, beta: 0 })),
        directions: [],
        indices: [0],
      }),
    accept: (r) => {
      if (r.points.some((p) => p.loss < 0)) return "a negative loss";
      accepted.push(...r.points.map((p) => p.id));
      return null;
    },
    durable: () => Promise.resolve(),
    units: (r) => r.points.length,
    accepted,
  };
}

export function setup(n: number, o: Partial<DispatcherOptions> = {}, maxInFlight?: number) {
  const clock = new Clock();
  const logs: string[] = [];
  const d = new Dispatcher({
    runId: "run-1",
    leaseMs: LEASE_MS,
    waitMs: 300_000,
    stallTimeoutMs: 600_000,
    quarantineAfter: 2,
    creditPhase: "p",
    pullSubject: "t.task.pull",
    log: (l) => logs.push(l),
    now: clock.now,
    ...o,
  });
  const phase = lossPhase(n, clock, maxInFlight);
  const settled = { done: false, error: null as Error | null };
  d.run(phase).then(
    () => (settled.done = true),
    (e: Error) => (settled.error = e),
  );
  return { d, clock, logs, phase, settled };
}

/** A pull; `instance` tells two processes under one id apart (default: one process per id). */
export const pull = (d: Dispatcher, workerId: string, instance = workerId): Message => d.pull(createMessage("task.pull", { workerId, instance, backend: "cpu" }));
export function leased(m: Message): { taskId: string; leaseId: string } {
  if (m.type !== "task.loss") throw new Error(`expected a task, got ${m.type}`);
  return { taskId: m.taskId, leaseId: m.leaseId };
}
export const result = (t: { taskId: string; leaseId: string }, workerId: string, loss = 1, runId = "run-1"): TaskLossResultMessage =>
  createMessage("task.loss_result", { runId, taskId: t.taskId, leaseId: t.leaseId, workerId, computeMs: 1, points: [{ id: Number(t.taskId.split("#")[1]), loss, accuracy: 0.5 }] });
/** A heartbeat; a task in hand is of run `runId` (default: the dispatcher's own). */
export const beat = (d: Dispatcher, workerId: string, t: { taskId: string; leaseId: string } | null, instance = workerId, runId = d.runId) =>
  d.heartbeat(createMessage("worker.heartbeat", { workerId, instance, state: t ? "busy" : "idle", taskId: t?.taskId ?? null, leaseId: t?.leaseId ?? null, runId: t ? runId : null, backend: "cpu", device: "x" }));
export const flush = () => new Promise((r) => setImmediate(r));
