// Stiffness by class (Fort et al. 2019): with per-example gradients (pairs.batch_size 1)
// each pair joins an example of class y₁ to one of class y₂, so the pairs give the class ×
// class matrices of E[cos(g₁, g₂)] and E[sign(g₁·g₂)], and their same-class and
// different-class averages with t-intervals. Fort et al. find that stiffness between
// classes falls towards 0 as a network overfits, while within a class it stays. Minibatches
// of B > 1 mix classes: no matrix then. See docs/measures.md.
import type { Estimate, PairSample } from "./types.js";
import { cosine } from "./pair.js";
import { meanEstimate } from "./sample-mean.js";

export interface ClassPair extends PairSample {
  /** The two examples' classes. */
  y: [number, number];
}

export interface StiffnessByClass {
  classes: number;
  /** [y₁][y₂]: mean over the pairs of those classes (either order); null without a pair. */
  cos: (number | null)[][];
  sign: (number | null)[][];
  pairs: number[][];
  same_class: { cos: Estimate; sign: Estimate };
  different_class: { cos: Estimate; sign: Estimate };
}

export function stiffnessByClass(pairs: readonly ClassPair[], classes: number): StiffnessByClass {
  if (!Number.isSafeInteger(classes) || classes < 1) throw new RangeError(`stiffnessByClass: classes must be a positive integer, got ${classes}`);
  const grid = <T>(f: () => T): T[][] => Array.from({ length: classes }, () => Array.from({ length: classes }, f));
  const cosSum = grid(() => 0);
  const signSum = grid(() => 0);
  const count = grid(() => 0);
  const same = { cos: [] as number[], sign: [] as number[] };
  const different = { cos: [] as number[], sign: [] as number[] };
  for (const p of pairs) {
    const [a, b] = p.y;
    if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && a >= 0 && b >= 0 && a < classes && b < classes)) {
      throw new RangeError(`stiffnessByClass: a pair's classes [${p.y}] are not in 0..${classes - 1}`);
    }
    const cos = cosine(p.a, p.b, p.c);
    const sign = Math.sign(p.c);
    // The matrix is symmetric: a pair counts in [a][b] and [b][a] (once on the diagonal).
    for (const [i, j] of a === b ? [[a, b]] : [[a, b], [b, a]]) {
      cosSum[i!]![j!]! += cos;
      signSum[i!]![j!]! += sign;
      count[i!]![j!]!++;
    }
    const bucket = a === b ? same : different;
    bucket.cos.push(cos);
    bucket.sign.push(sign);
  }
  const mean = (sum: number[][]) => sum.map((row, i) => row.map((s, j) => (count[i]![j]! > 0 ? s / count[i]![j]! : null)));
  return {
    classes,
    cos: mean(cosSum),
    sign: mean(signSum),
    pairs: count,
    same_class: { cos: meanEstimate(same.cos), sign: meanEstimate(same.sign) },
    different_class: { cos: meanEstimate(different.cos), sign: meanEstimate(different.sign) },
  };
}
