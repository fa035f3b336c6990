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

/** Eigenvalues (ascending) and unit eigenvectors (columns of the returned rows' transpose: vectors[k] is the k-th) of a symmetric matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(input: Float64Array[]): { values: number[]; vectors: Float64Array[] } {
  const n = input.length;
  const a = input.map((r) => Float64Array.from(r));
  const v = Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i]![j]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[x]![x]! - a[y]![y]!);
  return { values: order.map((i) => a[i]![i]!), vectors: order.map((i) => Float64Array.from(v, (row) => row[i]!)) };
}

/**
 * max over ‖η‖₂ ≤ 1 of bᵀη + ½ηᵀAη (the trust-region subproblem, A symmetric), from A's
 * eigen-decomposition: η(μ) = (μI − A)⁻¹ b with μ ≥ max(λ_max, 0) and ‖η(μ)‖ = 1 unless
 * the unconstrained maximum (A negative definite) lies inside. Not for the "hard case"
 * (b orthogonal to the top eigenvector), which random problems avoid almost surely.
 */
export function trustRegionMax(a: Float64Array[], b: Float64Array): number {
  const { values, vectors } = symmetricEigen(a);
  const beta = vectors.map((q) => q.reduce((s, x, i) => s + x * b[i]!, 0));
  const normAt = (mu: number) => Math.sqrt(beta.reduce((s, bi, i) => s + (bi / (mu - values[i]!)) ** 2, 0));
  const top = values[values.length - 1]!;
  let mu: number;
  if (top < 0 && normAt(0) <= 1) mu = 0;
  else {
    let lo = Math.max(top, 0);
    let hi = lo + 1;
    while (normAt(hi) > 1) hi = lo + 2 * (hi - lo);
    for (let it = 0; it < 200; it++) {
      const mid = (lo + hi) / 2;
      if (normAt(mid) > 1) lo = mid;
      else hi = mid;
    }
    mu = hi;
  }
  const eta = beta.map((bi, i) => bi / (mu - values[i]!));
  return eta.reduce((s, e, i) => s + beta[i]! * e + 0.5 * values[i]! * e * e, 0);
}
