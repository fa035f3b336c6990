// Rank correlations between an indicator and the generalization gap across runs, with a
// permutation p-value, honest at the small n of a sweep (a dozen networks): Kendall's τ-b
// and Spearman's ρ, both with ties handled; the p-value is exact (all n! orderings) up to
// EXACT_MAX_N runs and a seeded Monte-Carlo estimate above. See docs/measures.md.
import { Rng } from "../../util/rng.js";

/** All n! orderings are tried up to this n (8! = 40,320); above, PERMUTATIONS random ones. */
export const EXACT_MAX_N = 8;
export const PERMUTATIONS = 20_000;

export interface RankCorrelation {
  /** τ-b or ρ; null when either variable is constant (no ranking to compare). */
  value: number | null;
  /** Two-sided: P(|statistic| ≥ |observed|) under exchangeability; null with value. */
  p_value: number | null;
  /** "exact" (every ordering) or "monte-carlo" (PERMUTATIONS seeded orderings, (k + 1)/(m + 1)). */
  p_method: "exact" | "monte-carlo";
  n: number;
  /** True when p < 0.05: the correlation is distinguishable from zero at that level. */
  significant: boolean;
}

function check(x: readonly number[], y: readonly number[], what: string): void {
  if (x.length !== y.length) throw new RangeError(`${what}: ${x.length} indicator values but ${y.length} gaps`);
  for (const v of [...x, ...y]) if (!Number.isFinite(v)) throw new RangeError(`${what}: values must be finite, got ${v}`);
}

/** Kendall's τ-b = (concordant − discordant) / √((n₀ − n₁)(n₀ − n₂)), ties in x or y counted out. */
export function kendallTauB(x: readonly number[], y: readonly number[]): number | null {
  check(x, y, "kendallTauB");
  let s = 0;
  let tiesX = 0;
  let tiesY = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0) tiesX++;
      if (dy === 0) tiesY++;
      s += dx * dy;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - tiesX) * (n0 - tiesY));
  return denom > 0 ? s / denom : null;
}

/** Average ranks (1-based), ties sharing the mean of their ranks. */
export function ranks(v: readonly number[]): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const out = new Array<number>(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]!] === v[order[i]!]) j++;
    const mean = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]!] = mean;
    i = j + 1;
  }
  return out;
}

function pearson(a: readonly number[], b: readonly number[]): number | null {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/** Spearman's ρ: Pearson's correlation of the average ranks. */
export function spearmanRho(x: readonly number[], y: readonly number[]): number | null {
  check(x, y, "spearmanRho");
  return pearson(ranks(x), ranks(y));
}

/** Heap's algorithm: calls visit with every ordering of a (the array is permuted in place). */
function forEachPermutation(a: number[], visit: (p: readonly number[]) => void): void {
  const c = new Array<number>(a.length).fill(0);
  visit(a);
  for (let i = 1; i < a.length; ) {
    if (c[i]! < i) {
      const j = i % 2 === 0 ? 0 : c[i]!;
      [a[j], a[i]] = [a[i]!, a[j]!];
      visit(a);
      c[i]!++;
      i = 1;
    } else {
      c[i] = 0;
      i++;
    }
  }
}

/** The statistic and its two-sided permutation p-value (y permuted against x). */
export function permutationTest(x: readonly number[], y: readonly number[], statistic: (x: readonly number[], y: readonly number[]) => number | null, seed = 1): RankCorrelation {
  check(x, y, "permutationTest");
  const n = x.length;
  const exact = n <= EXACT_MAX_N;
  const observed = n >= 2 ? statistic(x, y) : null;
  if (observed === null) return { value: null, p_value: null, p_method: exact ? "exact" : "monte-carlo", n, significant: false };
  // A hair of slack so that orderings giving the same statistic up to rounding count as ≥.
  const bar = Math.abs(observed) * (1 - 1e-12);
  let extreme = 0;
  let total = 0;
  const yp = [...y];
  const tally = (p: readonly number[]) => {
    const v = statistic(x, p);
    if (v !== null && Math.abs(v) >= bar) extreme++;
    total++;
  };
  let p: number;
  if (exact) {
    forEachPermutation(yp, tally);
    p = extreme / total;
  } else {
    const rng = new Rng(seed, 0x7e57);
    for (let m = 0; m < PERMUTATIONS; m++) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        [yp[i], yp[j]] = [yp[j]!, yp[i]!];
      }
      tally(yp);
    }
    p = (extreme + 1) / (total + 1);
  }
  return { value: observed, p_value: p, p_method: exact ? "exact" : "monte-carlo", n, significant: p < 0.05 };
}

export function kendall(x: readonly number[], y: readonly number[], seed = 1): RankCorrelation {
  return permutationTest(x, y, kendallTauB, seed);
}

export function spearman(x: readonly number[], y: readonly number[], seed = 1): RankCorrelation {
  return permutationTest(x, y, spearmanRho, seed);
}
