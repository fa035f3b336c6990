// What a run that stopped making progress is waiting for, in words: every unfinished task
// (pending, or leased to which worker since when, its attempts and last error) and a
// verdict on what would unblock it. Pure: it formats what the task table and the worker
// registry know, so it is unit-tested with an injected clock.

import type { UnfinishedTask } from "./task-table.js";
import type { WorkerRecord } from "./worker-registry.js";

export interface StallFacts {
  /** This run: a worker whose task in hand is for another run is busy there, not idle. */
  runId: string;
  phase: string;
  now: number;
  /** When the phase last made progress (a task finished, a chunk arrived), or began. */
  lastProgress: number;
  total: number;
  unfinished: readonly UnfinishedTask[];
  workers: readonly WorkerRecord[];
  leaseMs: number;
  /** A worker not heard from for this long is taken for gone. */
  silentMs: number;
  /** The in-flight bound keeps pending tasks from being leased. */
  atInFlightBound: boolean;
}

/** Task lines printed one by one; pending tasks never tried are listed by id after these. */
const MAX_TASK_LINES = 40;
const MAX_IDS = 60;

function secs(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

function lastError(t: UnfinishedTask): string {
  const a = t.attempts.at(-1);
  return a ? `; last error: ${a.cause} (on worker ${a.workerId})` : "";
}

/** The live workers that take no task of this run: those busy with another run (by run), and the rest. */
function notPulling(serving: readonly WorkerRecord[], runId: string): string {
  const elsewhere = new Map<string, string[]>();
  let idle = 0;
  for (const w of serving) {
    if (w.servingRun !== null && w.servingRun !== runId) elsewhere.set(w.servingRun, [...(elsewhere.get(w.servingRun) ?? []), w.id]);
    else idle++;
  }
  const parts: string[] = [];
  if (idle > 0) parts.push(`${idle} live worker${idle === 1 ? "" : "s"} not pulling`);
  for (const [run, ids] of elsewhere) parts.push(`${ids.join(", ")} busy with run ${run}`);
  return parts.join("; ");
}

/** The report, one line per unfinished task (bounded), and a last line: what the run waits for. */
export function stallReport(f: StallFacts): string {
  const byId = new Map(f.workers.map((w) => [w.id, w]));
  const live = f.workers.filter((w) => f.now - w.lastSeen < f.silentMs);
  const serving = live.filter((w) => !w.quarantined);
  const leased = f.unfinished.filter((t) => t.lease);
  const pending = f.unfinished.filter((t) => !t.lease);
  const lines: string[] = [
    `stall: no task of ${f.phase} has finished for ${secs(f.now - f.lastProgress)}; ${f.unfinished.length} of ${f.total} tasks unfinished ` +
      `(${leased.length} leased, ${pending.length} pending); ${live.length} live worker${live.length === 1 ? "" : "s"}` +
      (live.length ? `: ${live.map((w) => w.id + (w.quarantined ? " (quarantined)" : "")).join(", ")}` : ""),
  ];

  const detailed = [...leased, ...pending.filter((t) => t.attempts.length > 0)];
  for (const t of detailed.slice(0, MAX_TASK_LINES)) {
    if (t.lease) {
      const w = byId.get(t.lease.workerId);
      const heard = w ? `last heard from ${secs(f.now - w.lastSeen)} ago` : "never heard from";
      const renewed = t.lease.deadline - f.leaseMs;
      lines.push(
        `  ${t.task.id}: leased to worker ${t.lease.workerId} for ${secs(f.now - t.lease.leasedAt)} (lease renewed ${secs(Math.max(0, f.now - renewed))} ago, ` +
          `expires in ${secs(Math.max(0, t.lease.deadline - f.now))}; worker ${heard}); attempts ${t.attempts.length}${lastError(t)}`,
      );
    } else {
      lines.push(`  ${t.task.id}: pending; attempts ${t.attempts.length}${lastError(t)}`);
    }
  }
  if (detailed.length > MAX_TASK_LINES) lines.push(`  … and ${detailed.length - MAX_TASK_LINES} more leased or retried tasks`);
  const fresh = pending.filter((t) => t.attempts.length === 0);
  if (fresh.length > 0) {
    const ids = fresh.slice(0, MAX_IDS).map((t) => t.task.id);
    lines.push(`  pending, never tried (${fresh.length}): ${ids.join(", ")}${fresh.length > MAX_IDS ? `, … ${fresh.length - MAX_IDS} more` : ""}`);
  }

  const waits: string[] = [];
  const holders = new Map<string, string[]>();
  for (const t of leased) holders.set(t.lease!.workerId, [...(holders.get(t.lease!.workerId) ?? []), t.task.id]);
  for (const [id, tasks] of holders) {
    const w = byId.get(id);
    const silent = !w || f.now - w.lastSeen >= f.silentMs;
    waits.push(
      silent
        ? `worker ${id}, silent, whose lease${tasks.length === 1 ? "" : "s"} on ${tasks.join(", ")} will expire`
        : `worker ${id} to return ${tasks.join(", ")} (it keeps the lease alive with heartbeats but returns nothing)`,
    );
  }
  if (pending.length > 0) {
    if (f.atInFlightBound) waits.push(`a free lease: ${leased.length} tasks are in flight, the max_in_flight bound`);
    else if (live.length === 0) waits.push(`a worker to pull the ${pending.length} pending task${pending.length === 1 ? "" : "s"} (no live worker)`);
    else if (serving.length === 0) waits.push(`a worker that is not quarantined, to take the ${pending.length} pending task${pending.length === 1 ? "" : "s"}`);
    else waits.push(`a worker to pull the ${pending.length} pending task${pending.length === 1 ? "" : "s"} (${notPulling(serving, f.runId)})`);
  }
  lines.push(`the run waits for: ${waits.length > 0 ? waits.join("; ") : "nothing it can name"}`);
  return lines.join("\n");
}
