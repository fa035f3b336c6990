// The tables `coordinator workers` and `coordinator status` print: plain text, one row per
// worker or run, columns padded (the same on a terminal and in a pipe; --json gives the
// rows as data instead).

import { textTable } from "./text-table.js";
import type { RunRow, WorkerRow } from "../swarm-census.js";

function table(header: string[], rows: string[][]): string {
  return textTable([header, ...rows]);
}

function seconds(s: number | null): string {
  if (s === null) return "-";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.round(s)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

function rate(x: number | null): string {
  return x === null ? "-" : x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

export function workersTable(rows: readonly WorkerRow[]): string {
  if (rows.length === 0) return "no live worker";
  return table(
    ["worker", "host", "backend", "device", "version", "state", "run", "tasks", "grad/s", "last heartbeat"],
    rows.map((w) => [w.id, w.host || "-", w.backend || "-", w.device || "-", w.version || "-", w.state, w.run ?? "-", w.tasks_done === null ? "-" : String(w.tasks_done), rate(w.gradients_per_s), w.last_heartbeat_s === null ? "-" : `${seconds(w.last_heartbeat_s)} ago`]),
  );
}

export function runsTable(rows: readonly RunRow[]): string {
  if (rows.length === 0) return "no run in progress";
  return table(
    ["run", "label", "owner", "phase", "progress", "eta", "workers", "retries", "quarantines"],
    rows.map((r) => [
      r.run_id,
      r.label || "-",
      r.owner || "-",
      r.phase || "-",
      `${r.done}/${r.total}${r.total > 0 ? ` (${Math.floor((100 * r.done) / r.total)}%)` : ""}`,
      seconds(r.eta_s),
      String(r.workers),
      String(r.retries),
      String(r.quarantines),
    ]),
  );
}
