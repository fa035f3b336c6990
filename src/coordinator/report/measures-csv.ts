// measures.csv: every estimate of a run as one tidy row per (run, checkpoint, subject,
// metric, scope, part, measure), for spreadsheets and data frames. A single-θ run has one
// run and one checkpoint (θ's snapshot hash); the twins of the invariance check are
// subjects of that checkpoint.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Estimate } from "../estimators/types.js";
import type { ResultsFile, SubjectResults } from "./outputs.js";

export const MEASURES_CSV_COLUMNS = ["run", "checkpoint", "subject", "metric", "scope", "part", "measure", "estimate", "stderr", "ci_low", "ci_high", "n", "resolved"] as const;

export interface MeasureRow {
  run: string;
  checkpoint: string;
  /** "theta", or a twin's key ("twin-a0.5"). */
  subject: string;
  /** "euclidean", or "fisher_empirical" / "fisher_true". */
  metric: string;
  scope: "network" | "layer" | "tensor";
  /** The layer or tensor name; empty for the whole network. */
  part: string;
  measure: string;
  estimate: Estimate;
}

function subjectRows(base: Omit<MeasureRow, "metric" | "scope" | "part" | "measure" | "estimate">, s: SubjectResults): MeasureRow[] {
  const rows: MeasureRow[] = [];
  const add = (metric: string, scope: MeasureRow["scope"], part: string, measures: Record<string, Estimate>) => {
    for (const [measure, estimate] of Object.entries(measures)) rows.push({ ...base, metric, scope, part, measure, estimate });
  };
  // The headline fisher_regret_<kind> repeat metrics.<kind>.measures.regret: listed there only.
  add("euclidean", "network", "", Object.fromEntries(Object.entries(s.measures).filter(([name]) => !name.startsWith("fisher_regret_"))));
  for (const [layer, ms] of Object.entries(s.layers)) add("euclidean", "layer", layer, ms);
  for (const [tensor, ms] of Object.entries(s.tensors)) add("euclidean", "tensor", tensor, ms);
  for (const [kind, m] of Object.entries(s.metrics ?? {})) {
    add(`fisher_${kind}`, "network", "", m.measures);
    for (const [layer, ms] of Object.entries(m.layers)) add(`fisher_${kind}`, "layer", layer, ms);
    for (const [tensor, ms] of Object.entries(m.tensors)) add(`fisher_${kind}`, "tensor", tensor, ms);
  }
  return rows;
}

/** The rows of one run's results: θ, then each twin. */
export function measureRows(results: ResultsFile, checkpoint = results.run.snapshot.hash): MeasureRow[] {
  const run = results.run.run_id;
  const rows = subjectRows({ run, checkpoint, subject: "theta" }, results);
  for (const twin of results.twins ?? []) rows.push(...subjectRows({ run, checkpoint, subject: `twin-a${twin.alpha}` }, twin));
  return rows;
}

function cell(v: string | number | boolean | null): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function measuresCsv(rows: readonly MeasureRow[]): string {
  const lines = [MEASURES_CSV_COLUMNS.join(",")];
  for (const r of rows) {
    const e = r.estimate;
    // An unresolved estimate has no numbers (estimators/types.ts): empty cells, resolved false.
    lines.push([r.run, r.checkpoint, r.subject, r.metric, r.scope, r.part, r.measure, e.mean, e.stderr, e.ci95?.[0] ?? null, e.ci95?.[1] ?? null, e.n, e.resolved].map(cell).join(","));
  }
  return lines.join("\n") + "\n";
}

export async function writeMeasuresCsv(dir: string, rows: readonly MeasureRow[]): Promise<string> {
  const path = join(dir, "measures.csv");
  await writeFile(path, measuresCsv(rows));
  return path;
}
