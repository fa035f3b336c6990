// The Takeuchi information criterion's trace form (Thomas et al. 2020, "On the interplay
// between noise and curvature and its effect on optimization and generalization"), as
// Cockpit computes it: TIC ≈ tr C / tr H with C = (1/N) Σ g_i g_iᵀ (uncentered, so
// tr C = tr F̂ = fisher_trace_per_example) and H the full-data Hessian (tr H̄ by Hutchinson
// in the curvature pass, §8 of docs/measures.md). tr(H⁻¹C) itself needs H⁻¹; the trace
// ratio is exact when H ∝ I and a heuristic otherwise. The two traces come from
// independent draws (pairs; probes), so Fieller's interval takes no covariance; its t has
// the smaller of their degrees of freedom.
import type { Estimate } from "./types.js";
import { deltaStderr, fiellerInterval, finish, unresolved } from "./ratio.js";
import { t95 } from "./student-t.js";

export interface HessianTrace {
  mean: number;
  stderr: number;
  probes: number;
}

export function ticTrace(fisherTrace: Estimate, hessianTrace: HessianTrace | null): Estimate {
  const n = fisherTrace.n;
  if (!fisherTrace.resolved) return unresolved(n, `tr C (fisher_trace_per_example) is not resolved: ${fisherTrace.reason ?? "unknown"}`);
  if (!hessianTrace) return unresolved(n, "tr H is not measured: its Hessian-vector products crossed a kink of the loss");
  if (hessianTrace.probes < 2 || !Number.isFinite(hessianTrace.stderr)) return unresolved(n, `tr H needs curvature.probes ≥ 2 for an interval (have ${hessianTrace.probes})`);
  const t = t95(Math.min(n - 1, hessianTrace.probes - 1));
  const mF = fisherTrace.mean!;
  const vF = fisherTrace.stderr! ** 2;
  const mH = hessianTrace.mean;
  const vH = hessianTrace.stderr ** 2;
  if (!(mH - t * hessianTrace.stderr > 0)) {
    return unresolved(n, `tr H = ${mH.toExponential(2)} ± ${(t * hessianTrace.stderr).toExponential(1)} (95% CI) is not resolved above zero: no TIC where the curvature is not positive`);
  }
  const ci = fiellerInterval(mF, mH, vF, 0, vH, t);
  if (ci === null) return unresolved(n, "Fieller's interval for tr C / tr H is unbounded");
  const r = mF / mH;
  return finish(n, r, deltaStderr([1 / mH, -r / mH], (j, k) => (j !== k ? 0 : j === 0 ? vF : vH)), ci);
}
