// The report's tables as HTML: the measures with their 95% CIs, and the invariance check
// (every quantity at θ and at each twin, its largest relative change, the verdict).

import type { Estimate } from "../estimators/types.js";
import { formatNumber } from "./figures/style.js";
import type { InvarianceRow } from "./invariance.js";

/** Text for HTML content or a quoted attribute. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function estimateCells(e: Estimate | number | null | undefined): string[] {
  if (e === null || e === undefined) return ["—", "", "", ""];
  if (typeof e === "number") return [formatNumber(e), "", "", ""];
  if (!e.resolved) return [`not resolved`, "", "", e.reason ?? ""];
  return [formatNumber(e.mean), formatNumber(e.stderr), `[${formatNumber(e.ci95![0])}, ${formatNumber(e.ci95![1])}]`, String(e.n)];
}

function table(cls: string, header: readonly string[], rows: readonly (readonly string[])[], rowClass?: (i: number) => string): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
  const body = rows.map((r, i) => `<tr${rowClass ? ` class="${rowClass(i)}"` : ""}>${r.map((c, j) => `<td${j === 0 ? ' class="name"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table class="${cls}">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** One row per measure: mean, standard error, 95% CI, pairs (or why it is not resolved). */
export function measuresTable(measures: Record<string, Estimate>): string {
  return table(
    "measures",
    ["measure", "mean", "stderr", "95% CI", "n"],
    Object.entries(measures).map(([name, e]) => {
      const [mean, se, ci, n] = estimateCells(e);
      return e.resolved ? [name, mean!, se!, ci!, n!] : [name, `${mean}: ${n}`, "", "", String(e.n)];
    }),
  );
}

export function invarianceTable(rows: readonly InvarianceRow[], alphas: readonly number[]): string {
  return table(
    "invariance",
    ["quantity", "θ", "θ: 95% CI", ...alphas.map((a) => `α=${a}`), "max |Δ|/|θ|", "verdict"],
    rows.map((r) => {
      const [mean, , ci] = estimateCells(r.theta);
      return [r.quantity, mean!, ci!, ...r.twins.map(formatNumber), formatNumber(r.max_rel_change), r.verdict];
    }),
    (i) => rows[i]!.verdict.replace(/ /g, "-"),
  );
}

/** θ's loss and accuracy on the training data and the held-out set, and the gap. */
export function generalizationTable(g: { train: { loss: number; accuracy: number; examples: number }; test: { loss: number; accuracy: number; examples: number }; gap: { loss: number; accuracy: number } }): string {
  return table(
    "generalization",
    ["", "loss", "accuracy", "examples"],
    [
      ["train", formatNumber(g.train.loss), formatNumber(g.train.accuracy), String(g.train.examples)],
      ["test", formatNumber(g.test.loss), formatNumber(g.test.accuracy), String(g.test.examples)],
      ["gap (test − train loss; train − test accuracy)", formatNumber(g.gap.loss), formatNumber(g.gap.accuracy), ""],
    ],
  );
}
