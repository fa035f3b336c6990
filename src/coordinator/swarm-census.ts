// Who is on a prefix, for `coordinator workers` and `coordinator status`: asks every worker
// (worker.list) or every coordinator (run.list) to announce itself, and collects what is
// heard for a while (the answers, and the heartbeats and run announces that come anyway).
// The rows are plain data; report/swarm-tables.ts prints them.

import { isNoResponders } from "../nats/server-status.js";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { createMessage, decodeMessage, encodeMessage, subjects, type RunAnnounceMessage, type WorkerAnnounceMessage, type WorkerState } from "../protocol/index.js";

/** How long the census listens: a heartbeat and a run announce come every second. */
export const CENSUS_MS = 1200;

export interface WorkerRow {
  id: string;
  host: string;
  pid: number | null;
  backend: string;
  device: string;
  version: string;
  state: WorkerState;
  /** The run of the task in hand, null when idle. */
  run: string | null;
  tasks_done: number | null;
  gradients_per_s: number | null;
  /** Seconds since its last heartbeat when the census ended; null if none was heard. */
  last_heartbeat_s: number | null;
}

export interface RunRow {
  run_id: string;
  label: string;
  owner: string;
  host: string;
  phase: string;
  done: number;
  total: number;
  eta_s: number | null;
  workers: number;
  retries: number;
  quarantines: number;
  started: string;
}

/** What a census of workers gathers; `rows` gives them sorted by id. */
export class WorkerCensus {
  private readonly announces = new Map<string, WorkerAnnounceMessage>();
  private readonly beats = new Map<string, { at: number; state: WorkerState; runId: string | null; backend: string; device: string }>();

  announce(a: WorkerAnnounceMessage): void {
    this.announces.set(a.workerId, a);
  }

  heartbeat(id: string, at: number, hb: { state: WorkerState; runId: string | null; backend: string; device: string }): void {
    this.beats.set(id, { at, ...hb });
  }

  /** One row per worker heard; the latest heartbeat's state and run over the announce's. */
  rows(now: number): WorkerRow[] {
    const ids = [...new Set([...this.announces.keys(), ...this.beats.keys()])].sort();
    return ids.map((id) => {
      const a = this.announces.get(id);
      const b = this.beats.get(id);
      return {
        id,
        host: a?.host ?? "",
        pid: a?.pid ?? null,
        backend: b?.backend || a?.backend || "",
        device: b?.device || a?.device || "",
        version: a?.version ?? "",
        state: b?.state ?? a!.state,
        run: b ? b.runId : a!.runId,
        tasks_done: a?.tasksDone ?? null,
        gradients_per_s: a ? a.gradientsPerSecond : null,
        last_heartbeat_s: b ? Math.max(0, now - b.at) / 1000 : null,
      };
    });
  }
}

/** The run rows of the announces heard (the last per run), sorted by start then id. */
export function runRows(announces: Iterable<RunAnnounceMessage>): RunRow[] {
  return [...announces]
    .sort((x, y) => x.startedAt - y.startedAt || (x.runId < y.runId ? -1 : 1))
    .map((a) => ({
      run_id: a.runId,
      label: a.label,
      owner: a.owner,
      host: a.host,
      phase: a.phase,
      done: a.done,
      total: a.total,
      eta_s: a.etaMs === null ? null : a.etaMs / 1000,
      workers: a.workers,
      retries: a.retries,
      quarantines: a.quarantines,
      started: new Date(a.startedAt).toISOString(),
    }));
}

/** Called for a message heard that did not decode (another protocol version, garbage). */
type OnBad = (what: string, err: Error) => void;

/** The live workers of `prefix`: each answers worker.list with its announce; heartbeats add state and age. */
export async function censusWorkers(nc: NatsConnection, prefix: string, onBad: OnBad, ms = CENSUS_MS): Promise<WorkerRow[]> {
  const s = subjects(prefix);
  const census = new WorkerCensus();
  const inbox = nc.subscribe(createInbox(), {
    callback: (err, msg) => {
      if (err || isNoResponders(msg)) return;
      try {
        census.announce(decodeMessage(msg.data, ["worker.announce"]));
      } catch (e) {
        onBad("worker.announce", e as Error);
      }
    },
  });
  const beats = nc.subscribe(s.heartbeat, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const hb = decodeMessage(msg.data, ["worker.heartbeat"]);
        census.heartbeat(hb.workerId, Date.now(), hb);
      } catch (e) {
        onBad("worker.heartbeat", e as Error);
      }
    },
  });
  try {
    // The answers come to this census's own inbox: the coordinators' registries are not
    // disturbed, and nothing but the asker hears them.
    nc.publish(s.list, encodeMessage(createMessage("worker.list", { runId: "census" })), { reply: inbox.getSubject() });
    await nc.flush();
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    inbox.unsubscribe();
    beats.unsubscribe();
  }
  return census.rows(Date.now());
}

/** The runs in progress on `prefix`: each coordinator answers run.list with its announce, and announces every second anyway. */
export async function censusRuns(nc: NatsConnection, prefix: string, onBad: OnBad, ms = CENSUS_MS): Promise<RunRow[]> {
  const s = subjects(prefix);
  const heard = new Map<string, RunAnnounceMessage>();
  const ended = new Set<string>();
  const take = (data: Uint8Array) => {
    try {
      const a = decodeMessage(data, ["run.announce"]);
      heard.set(a.runId, a);
    } catch (e) {
      onBad("run.announce", e as Error);
    }
  };
  const inbox = nc.subscribe(createInbox(), { callback: (err, msg) => void (!err && !isNoResponders(msg) && take(msg.data)) });
  const announces = nc.subscribe(s.runAnnounce, { callback: (err, msg) => void (!err && take(msg.data)) });
  const ends = nc.subscribe(s.runEnd, {
    callback: (err, msg) => {
      if (err) return;
      try {
        ended.add(decodeMessage(msg.data, ["run.end"]).runId);
      } catch (e) {
        onBad("run.end", e as Error);
      }
    },
  });
  try {
    nc.publish(s.runList, encodeMessage(createMessage("run.list", {})), { reply: inbox.getSubject() });
    await nc.flush();
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    inbox.unsubscribe();
    announces.unsubscribe();
    ends.unsubscribe();
  }
  return runRows([...heard.values()].filter((a) => !ended.has(a.runId)));
}
