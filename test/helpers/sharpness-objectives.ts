// Exact objectives in float64 for the perturbation measures' tests
// (src/measures/sharpness/): a quadratic ½θᵀHθ + bᵀθ and a linear regression's
// (1/2n)‖Xθ − y‖², with counters of the evaluations they served.

import type { Objective } from "../../src/measures/sharpness/objective.js";

export interface CountingObjective extends Objective {
  calls: { value: number; gradient: number };
  /** f(θ) in float64, synchronously (for enumerations in the tests). */
  f(theta: Float64Array): number;
}

/** f(θ) = ½θᵀHθ + bᵀθ, H symmetric (given as rows). */
export function quadratic(h: Float64Array[], b: Float64Array): CountingObjective {
  const p = b.length;
  const hv = (t: Float64Array) => Float64Array.from({ length: p }, (_, i) => {
    let s = 0;
    for (let j = 0; j < p; j++) s += h[i]![j]! * t[j]!;
    return s;
  });
  const f = (t: Float64Array) => {
    const ht = hv(t);
    let s = 0;
    for (let i = 0; i < p; i++) s += 0.5 * t[i]! * ht[i]! + b[i]! * t[i]!;
    return s;
  };
  const calls = { value: 0, gradient: 0 };
  return {
    dimension: p,
    calls,
    f,
    value: async (t) => {
      calls.value++;
      return f(t);
    },
    valueAndGradient: async (t) => {
      calls.gradient++;
      const ht = hv(t);
      return { value: f(t), gradient: Float64Array.from(ht, (x, i) => x + b[i]!) };
    },
  };
}

/** f(θ) = (1/2n)‖Xθ − y‖², X given as n rows of length P. */
export function linearRegression(x: Float64Array[], y: Float64Array): CountingObjective {
  const n = x.length;
  const p = x[0]!.length;
  const residual = (t: Float64Array) => Float64Array.from(x, (row, r) => {
    let s = -y[r]!;
    for (let j = 0; j < p; j++) s += row[j]! * t[j]!;
    return s;
  });
  const f = (t: Float64Array) => {
    let s = 0;
    for (const e of residual(t)) s += e * e;
    return s / (2 * n);
  };
  const calls = { value: 0, gradient: 0 };
  return {
    dimension: p,
    calls,
    f,
    value: async (t) => {
      calls.value++;
      return f(t);
    },
    valueAndGradient: async (t) => {
      calls.gradient++;
      const e = residual(t);
      const g = new Float64Array(p);
      x.forEach((row, r) => {
        for (let j = 0; j < p; j++) g[j] = g[j]! + (row[j]! * e[r]!) / n;
      });
      let s = 0;
      for (const v of e) s += v * v;
      return { value: s / (2 * n), gradient: g };
    },
  };
}

/** Every corner of the box |δ_i| ≤ w_i, as sign patterns applied to w. */
export function* corners(w: Float64Array): Generator<Float64Array> {
  const p = w.length;
  for (let mask = 0; mask < 2 ** p; mask++) yield Float64Array.from(w, (wi, i) => ((mask >> i) & 1 ? wi : -wi));
}
