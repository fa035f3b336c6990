// The table printed at the end of a run: every headline measure with its mean and 95% CI
// at θ, and — with invariance twins — each twin's mean and whether the measure moved.
// results.json holds every row (per layer, per tensor, per metric); this is the digest.

import { textTable } from "./text-table.js";
import type { Estimate } from "../estimators/index.js";
import type { SubjectMeasurement } from "../measure-subject.js";
import { quantities, type InvarianceRow } from "./invariance.js";

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? x.toPrecision(5) : x.toExponential(3);
}

/** The rows shown: whole-network measures, the Fisher-metric regrets, curvature, GSNR, and per-layer/tensor flatness ratios. */
function shown(quantity: string): boolean {
  if (!quantity.includes(".")) return true;
  if (/^fisher_(empirical|true)\.(regret|cos_disagreement|contrastive_flatness)$/.test(quantity)) return true;
  if (/^curvature\.(curvature_contrast|full_lambda_max|full_hessian_trace)$/.test(quantity)) return true;
  if (/^vector_stats\.(gsnr_mean|gsnr_median|gradient_diversity_per_example)$/.test(quantity)) return true;
  if (/^(layers|tensors)\.[^.]+\.(contrastive_flatness|regret)$/.test(quantity)) return true;
  return false;
}

function cells(e: Estimate | number | null | undefined): [string, string, string] {
  if (e === null || e === undefined) return ["—", "", ""];
  if (typeof e === "number") return [fmt(e), "", ""];
  if (!e.resolved) return ["not resolved", "", e.reason ?? ""];
  return [fmt(e.mean), `[${fmt(e.ci95![0])}, ${fmt(e.ci95![1])}]`, ""];
}

export function summaryTable(theta: SubjectMeasurement, invariance: InvarianceRow[] | null, alphas: readonly number[]): string {
  const header = ["quantity", "θ: mean", "95% CI", ...alphas.map((a) => `α=${a}`), ...(invariance ? ["verdict"] : []), ""];
  const rows: string[][] = [header];
  if (invariance) {
    for (const r of invariance) {
      if (!shown(r.quantity)) continue;
      const [mean, ci, note] = cells(r.theta);
      rows.push([r.quantity, mean, ci, ...r.twins.map(fmt), r.verdict, note]);
    }
  } else {
    for (const [quantity, e] of quantities(theta)) {
      if (!shown(quantity) || quantity.startsWith("tensors.")) continue;
      const [mean, ci, note] = cells(e);
      rows.push([quantity, mean, ci, note]);
    }
  }
  return textTable(rows, (c, r) => c === 0 || c === r.length - 1);
}
