// Where an ascent's variables live. The worst-case measures maximize f(θ + δ) over δ in a
// set that, after a linear change of variables δ = M z, is the unit ball of ℓ∞ (a box)
// or ℓ₂ in z ∈ ℝᵏ:
//   - ε-sharpness in the full space (Keskar et al. 2017): δ = s ∘ z, s_i = ε(|θ_i| + 1), ℓ∞;
//   - ε-sharpness in a random subspace: δ = A (s ∘ z), s_j = ε(|(A⁺θ)_j| + 1), ℓ∞;
//   - adaptive sharpness (Kwon et al. 2021): δ = s ∘ z, s_i = ρ(|θ_i| + ξ), ℓ₂ or ℓ∞.
// The ascent works on z and needs δ from z and the z-gradient Mᵀ∇f from the θ-gradient.

import type { Subspace } from "./subspace.js";

export interface PerturbationMap {
  /** k, the number of ascent variables. */
  readonly dimension: number;
  /** P, the number of parameters. */
  readonly parameters: number;
  /** δ = M z (length P). */
  toDelta(z: Float64Array): Float64Array;
  /** Mᵀ g (length k): the gradient in z of f(θ + M z) from the gradient g in θ. */
  pullBack(g: Float64Array): Float64Array;
}

/** δ_i = scale_i · z_i. */
export function diagonalMap(scale: Float64Array): PerturbationMap {
  for (let i = 0; i < scale.length; i++) {
    if (!(Number.isFinite(scale[i]!) && scale[i]! >= 0)) throw new RangeError(`diagonalMap: scale[${i}] is ${scale[i]}, not a finite number ≥ 0`);
  }
  return {
    dimension: scale.length,
    parameters: scale.length,
    toDelta: (z) => {
      const d = new Float64Array(scale.length);
      for (let i = 0; i < d.length; i++) d[i] = scale[i]! * z[i]!;
      return d;
    },
    pullBack: (g) => {
      const out = new Float64Array(scale.length);
      for (let i = 0; i < out.length; i++) out[i] = scale[i]! * g[i]!;
      return out;
    },
  };
}

/** δ = Σ_j a_j · scale_j · z_j over the subspace's columns a_j. */
export function subspaceMap(a: Subspace, scale: Float64Array): PerturbationMap {
  if (scale.length !== a.columns.length) throw new RangeError(`subspaceMap: ${scale.length} scales for ${a.columns.length} columns`);
  const p = a.parameters;
  return {
    dimension: scale.length,
    parameters: p,
    toDelta: (z) => {
      const d = new Float64Array(p);
      a.columns.forEach((col, j) => {
        const c = scale[j]! * z[j]!;
        if (c !== 0) for (let i = 0; i < p; i++) d[i] = d[i]! + c * col[i]!;
      });
      return d;
    },
    pullBack: (g) => {
      const out = new Float64Array(scale.length);
      a.columns.forEach((col, j) => {
        let s = 0;
        for (let i = 0; i < p; i++) s += col[i]! * g[i]!;
        out[j] = scale[j]! * s;
      });
      return out;
    },
  };
}
