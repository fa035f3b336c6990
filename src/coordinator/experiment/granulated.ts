// Jiang et al. (2019), "Fantastic Generalization Measures and Where to Find Them": the
// granulated Kendall coefficient. For each swept hyperparameter i, ψ_i is the mean, over
// every setting of the other hyperparameters, of τ between the indicator and the gap over
// the runs that differ only in i; Ψ is the mean of the ψ_i. It asks whether the indicator
// follows the gap when one thing changes at a time, which a τ over all runs cannot tell
// apart from a shared trend. Groups with fewer than 2 runs, or a constant indicator or
// gap, are left out (counted in `groups_skipped`).
import { kendallTauB } from "./rank-correlation.js";

export interface SweptRun {
  /** The swept hyperparameters' values of the run, by name (the same names for every run). */
  hyper: Record<string, string | number>;
  indicator: number;
  gap: number;
}

export interface GranulatedTau {
  /** Ψ = mean of per_hyperparameter's ψ (over those that have one); null when none does. */
  psi: number | null;
  per_hyperparameter: Record<string, { psi: number | null; groups: number; groups_skipped: number }>;
}

export function granulatedKendall(runs: readonly SweptRun[]): GranulatedTau {
  if (runs.length === 0) throw new RangeError("granulatedKendall: no runs");
  const names = Object.keys(runs[0]!.hyper).sort();
  for (const r of runs) {
    const have = Object.keys(r.hyper).sort();
    if (have.join("\u0000") !== names.join("\u0000")) throw new RangeError(`granulatedKendall: a run has hyperparameters [${have}], another [${names}]`);
  }
  const per: GranulatedTau["per_hyperparameter"] = {};
  for (const name of names) {
    const groups = new Map<string, SweptRun[]>();
    for (const r of runs) {
      const key = JSON.stringify(names.filter((o) => o !== name).map((o) => r.hyper[o]));
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const taus: number[] = [];
    let skipped = 0;
    for (const g of groups.values()) {
      const tau = g.length >= 2 ? kendallTauB(g.map((r) => r.indicator), g.map((r) => r.gap)) : null;
      if (tau === null) skipped++;
      else taus.push(tau);
    }
    per[name] = { psi: taus.length ? taus.reduce((s, t) => s + t, 0) / taus.length : null, groups: taus.length, groups_skipped: skipped };
  }
  const psis = Object.values(per).flatMap((p) => (p.psi === null ? [] : [p.psi]));
  return { psi: psis.length ? psis.reduce((s, t) => s + t, 0) / psis.length : null, per_hyperparameter: per };
}
