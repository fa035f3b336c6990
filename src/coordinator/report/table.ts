// The short table of measures printed on stdout at the end of a run.

import { textTable } from "./text-table.js";
import { MEASURE_NAMES, type Estimate } from "../estimators/index.js";
import type { Measures } from "../reduce.js";

function fmt(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? x.toPrecision(5) : x.toExponential(3);
}

function row(name: string, e: Estimate): string[] {
  if (!e.resolved || e.mean === null || e.stderr === null || e.ci95 === null) return [name, "not resolved", "", "", String(e.n), e.reason ?? ""];
  return [name, fmt(e.mean), fmt(e.stderr), `[${fmt(e.ci95[0])}, ${fmt(e.ci95[1])}]`, String(e.n), ""];
}

export function measureTable(measures: Measures): string {
  const rows = [["measure", "mean", "stderr", "95% CI", "n", ""], ...MEASURE_NAMES.map((m) => row(m, measures[m]))];
  return textTable(rows, (c) => c === 0 || c === 5);
}
