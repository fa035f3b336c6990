// A seeded random k-dimensional subspace of parameter space for ε-sharpness in a subspace
// (Keskar et al. 2017 take a random P × k matrix A). Here A's columns are Gaussian draws
// made exactly orthonormal by modified Gram–Schmidt, applied twice (float64), so that the
// pseudo-inverse in Keskar's box is simply A⁺ = Aᵀ and ‖A y‖ = ‖y‖.

import { Rng } from "../../util/rng.js";
import { checkCount } from "./objective.js";

export interface Subspace {
  readonly parameters: number;
  /** k columns of length P, orthonormal. */
  readonly columns: Float64Array[];
}

/** Columns drawn in order, coordinate by coordinate, from Rng(seed, stream): same arguments → same subspace. */
export function randomSubspace(parameters: number, k: number, seed: number, stream = 0): Subspace {
  checkCount(parameters, 1, "randomSubspace: parameters");
  checkCount(k, 1, "randomSubspace: k");
  if (k > parameters) throw new RangeError(`randomSubspace: k = ${k} exceeds the ${parameters} parameters`);
  const rng = new Rng(seed, stream);
  const columns: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const c = new Float64Array(parameters);
    for (let i = 0; i < parameters; i++) c[i] = rng.nextNormal();
    for (let pass = 0; pass < 2; pass++) {
      for (const q of columns) {
        let dot = 0;
        for (let i = 0; i < parameters; i++) dot += q[i]! * c[i]!;
        for (let i = 0; i < parameters; i++) c[i] = c[i]! - dot * q[i]!;
      }
    }
    let sq = 0;
    for (let i = 0; i < parameters; i++) sq += c[i]! * c[i]!;
    const n = Math.sqrt(sq);
    // A Gaussian column in the span of the previous ones has probability 0; guard anyway.
    if (!(n > 1e-8)) throw new Error(`randomSubspace: column ${j} fell in the span of the earlier ones (seed ${seed}, stream ${stream})`);
    for (let i = 0; i < parameters; i++) c[i] = c[i]! / n;
    columns.push(c);
  }
  return { parameters, columns };
}

/** Aᵀ v (length k). */
export function project(a: Subspace, v: ArrayLike<number>): Float64Array {
  if (v.length !== a.parameters) throw new RangeError(`project: a vector of ${v.length} values for a subspace of ℝ^${a.parameters}`);
  return Float64Array.from(a.columns, (col) => {
    let s = 0;
    for (let i = 0; i < col.length; i++) s += col[i]! * v[i]!;
    return s;
  });
}
