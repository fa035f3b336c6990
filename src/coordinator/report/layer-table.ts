// The per-layer view printed after the table of measures: where in the network the
// regret sits. Layers in model order, each with its regret (mean and 95% CI), its share of
// E‖g_b‖² (which layers carry the gradient) and its 1 − cos (how much its minibatches
// disagree). Every number is in results.json `layers` too.

import { textTable } from "./text-table.js";
import type { Estimate } from "../estimators/index.js";
import type { Measures } from "../reduce.js";

function fmt(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? x.toPrecision(4) : x.toExponential(2);
}

function interval(e: Estimate): string {
  return e.resolved && e.ci95 ? `[${fmt(e.ci95[0])}, ${fmt(e.ci95[1])}]` : "";
}

function mean(e: Estimate): string {
  return e.resolved && e.mean !== null ? fmt(e.mean) : "not resolved";
}

/** The table, or null for a network of one layer (its row would repeat the whole network's). */
export function layerTable(layers: readonly string[], groups: Record<string, Measures>, whole: Measures): string | null {
  if (layers.length < 2) return null;
  const total = whole.grad_sq_norm_mean.mean;
  const rows = [["layer", "regret", "95% CI", "share of E‖g‖²", "1 − cos"]];
  for (const name of layers) {
    const m = groups[name];
    if (!m) continue;
    const sq = m.grad_sq_norm_mean.mean;
    const share = total !== null && total > 0 && sq !== null ? `${((100 * sq) / total).toFixed(1)}%` : "";
    rows.push([name, mean(m.regret), interval(m.regret), share, mean(m.cos_disagreement)]);
  }
  return textTable(rows, (c) => c === 0);
}
