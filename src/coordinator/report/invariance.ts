// Which measures moved under Dinh et al.'s function-preserving rescaling: every number
// the run reports at θ, against the same number at each twin, with a verdict. Nothing
// here assumes which measures are invariant: the verdict is what was measured.

import type { Estimate } from "../estimators/index.js";
import type { SubjectMeasurement } from "../measure-subject.js";

export interface InvarianceRow {
  quantity: string;
  theta: Estimate | number | null;
  twins: (number | null)[];
  /** Largest |twin − θ| / |θ| over the twins. */
  max_rel_change: number | null;
  verdict: "invariant" | "moved" | "not resolved";
}

function value(x: Estimate | number | null | undefined): number | null {
  if (x === null || x === undefined) return null;
  if (typeof x === "number") return Number.isFinite(x) ? x : null;
  return x.resolved ? x.mean : null;
}

/** Every reported quantity of a measurement, flattened to "group.name" → value. */
export function quantities(m: SubjectMeasurement): Map<string, Estimate | number | null> {
  const q = new Map<string, Estimate | number | null>();
  for (const [name, e] of Object.entries(m.reduction.measures)) q.set(`${name}`, e);
  for (const [layer, ms] of Object.entries(m.reduction.groups)) for (const [name, e] of Object.entries(ms)) q.set(`layers.${layer}.${name}`, e);
  for (const [tensor, ms] of Object.entries(m.tensorReduction.groups)) for (const [name, e] of Object.entries(ms)) q.set(`tensors.${tensor}.${name}`, e);
  for (const [kind, red] of Object.entries(m.metrics)) {
    if (!red) continue;
    for (const [name, e] of Object.entries(red.measures)) q.set(`fisher_${kind}.${name}`, e);
    for (const [layer, ms] of Object.entries(red.groups)) for (const [name, e] of Object.entries(ms)) q.set(`fisher_${kind}.layers.${layer}.${name}`, e);
  }
  if (m.vectorStats) {
    for (const [name, v] of Object.entries(m.vectorStats.overall)) if (typeof v === "number" || v === null) q.set(`vector_stats.${name}`, v);
    for (const [tensor, s] of Object.entries(m.vectorStats.layers)) for (const [name, v] of Object.entries(s)) if (typeof v === "number" || v === null) q.set(`vector_stats.tensors.${tensor}.${name}`, v);
  }
  if (m.curvature) {
    const c = m.curvature;
    q.set("curvature.curvature_contrast", c.curvature_contrast);
    q.set("curvature.minibatch_lambda_max", c.minibatch_lambda_max);
    q.set("curvature.full_lambda_max", c.full_lambda_max);
    q.set("curvature.minibatch_hessian_trace", c.minibatch_hessian_trace);
    q.set("curvature.full_hessian_trace", c.full_hessian_trace?.mean ?? null);
  }
  return q;
}

/** Counts and sizes are not measures: leave them out of the verdicts. */
const NOT_MEASURES = /(\.|^)(parameters|pairs|gsnr_defined)$/;

export function invarianceRows(theta: SubjectMeasurement, twins: readonly SubjectMeasurement[], tolerance: number): InvarianceRow[] {
  const base = quantities(theta);
  const others = twins.map(quantities);
  const rows: InvarianceRow[] = [];
  for (const [quantity, t] of base) {
    if (NOT_MEASURES.test(quantity)) continue;
    const tv = value(t);
    const twinValues = others.map((o) => value(o.get(quantity)));
    let maxRel: number | null = null;
    if (tv !== null && twinValues.every((v) => v !== null)) {
      maxRel = Math.max(0, ...twinValues.map((v) => Math.abs(v! - tv) / Math.max(Math.abs(tv), Number.MIN_VALUE)));
    }
    rows.push({
      quantity,
      theta: t,
      twins: twinValues,
      max_rel_change: maxRel,
      verdict: maxRel === null ? "not resolved" : maxRel > tolerance ? "moved" : "invariant",
    });
  }
  return rows;
}
