// pairStatistics (src/worker/pair-stats.ts) in diagonal metrics M: the worker's per-layer
// Σ g1_j²/M_j, Σ g2_j²/M_j, Σ g1_j·g2_j/M_j against a direct float64 computation, the
// coordinates with M_j = 0 left out, and the defining property of a diagonal metric: its
// statistics are the Euclidean statistics of the whitened vectors g_j/√M_j. From that
// follows the point of the Fisher-metric regret (docs/measures.md §7, the seed's
// "homework"): under a per-parameter reparametrization θ_j → a_j·θ_j the gradient goes to
// g_j/a_j and a Fisher diagonal to M_j/a_j², so g_j²/M_j and g1_j·g2_j/M_j do not change,
// and neither does r = √(g2ᵀM⁻¹g2) − g2ᵀM⁻¹g1/√(g1ᵀM⁻¹g1); the Euclidean r = b − c/a does.

import { describe, expect, it } from "vitest";
import type { MetricStats } from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";
import { pairStatistics } from "../../src/worker/pair-stats.js";

/** Weight tensors of a 7-5-4-3 MLP (kernel, bias per layer), grouped into its 3 layers. */
const SHAPES = [35, 5, 20, 4, 12, 3];
const WEIGHT_LAYER = [0, 0, 1, 1, 2, 2];
const LAYERS = 3;
const P = SHAPES.reduce((a, b) => a + b, 0);

function randomGradient(rng: Rng, scale = 1): Float32Array[] {
  return SHAPES.map((n) => Float32Array.from({ length: n }, () => scale * rng.nextNormal()));
}

/** A positive diagonal metric spread over six decades (log-uniform), like a Fisher diagonal. */
function randomMetric(rng: Rng): Float32Array {
  return Float32Array.from({ length: P }, () => 10 ** (6 * rng.nextFloat() - 4));
}

function flat(g: Float32Array[]): Float64Array {
  const out = new Float64Array(P);
  let at = 0;
  for (const a of g) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** The layer of flat coordinate j. */
const layerOf: number[] = SHAPES.flatMap((n, w) => Array.from({ length: n }, () => WEIGHT_LAYER[w]!));

/** Per-layer Σ g1²/M, Σ g2²/M, Σ g1g2/M written out directly, in float64 (M null: Euclidean). */
function direct(g1: Float32Array[], g2: Float32Array[], m: Float32Array | null): { sq1: number[]; sq2: number[]; dot: number[] } {
  const a = flat(g1);
  const b = flat(g2);
  const out = { sq1: [0, 0, 0], sq2: [0, 0, 0], dot: [0, 0, 0] };
  for (let j = 0; j < P; j++) {
    const w = m === null ? 1 : m[j]!;
    if (w === 0) continue;
    const l = layerOf[j]!;
    out.sq1[l]! += (a[j]! * a[j]!) / w;
    out.sq2[l]! += (b[j]! * b[j]!) / w;
    out.dot[l]! += (a[j]! * b[j]!) / w;
  }
  return out;
}

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/** Checks a MetricStats against the direct sums: per layer and in total, 1e-12 relative. */
function expectMatches(s: MetricStats, want: { sq1: number[]; sq2: number[]; dot: number[] }, tol = 1e-12): void {
  const sum = (v: number[]) => v.reduce((x, y) => x + y, 0);
  expect(s.tensorNorm[0]).toHaveLength(LAYERS);
  expect(s.tensorNorm[1]).toHaveLength(LAYERS);
  expect(s.tensorDot).toHaveLength(LAYERS);
  for (let l = 0; l < LAYERS; l++) {
    expect(rel(s.tensorNorm[0][l]!, Math.sqrt(want.sq1[l]!))).toBeLessThan(tol);
    expect(rel(s.tensorNorm[1][l]!, Math.sqrt(want.sq2[l]!))).toBeLessThan(tol);
    // A dot product can cancel: measure its error against the scale √(sq1·sq2).
    expect(Math.abs(s.tensorDot[l]! - want.dot[l]!) / Math.sqrt(want.sq1[l]! * want.sq2[l]!)).toBeLessThan(tol);
  }
  expect(rel(s.norm[0], Math.sqrt(sum(want.sq1)))).toBeLessThan(tol);
  expect(rel(s.norm[1], Math.sqrt(sum(want.sq2)))).toBeLessThan(tol);
  expect(Math.abs(s.dot - sum(want.dot)) / Math.sqrt(sum(want.sq1) * sum(want.sq2))).toBeLessThan(tol);
  // The totals are the layers' sums.
  expect(rel(s.norm[0] ** 2, sum(s.tensorNorm[0].map((x) => x * x)))).toBeLessThan(tol);
  expect(rel(s.norm[1] ** 2, sum(s.tensorNorm[1].map((x) => x * x)))).toBeLessThan(tol);
}

/** r₁₂ = ‖g2‖ − g1·g2/‖g1‖ in the statistics' metric (the seed's R/ε). */
function regret(s: MetricStats): number {
  return s.norm[1] - s.dot / s.norm[0];
}

describe("pairStatistics in diagonal metrics", () => {
  it("equals a direct float64 computation of Σg1²/M, Σg2²/M, Σg1g2/M, per layer and in total, for each metric in order", () => {
    const rng = new Rng(1, 0);
    for (let trial = 0; trial < 20; trial++) {
      const g1 = randomGradient(rng);
      const g2 = randomGradient(rng, 0.3);
      const metrics = [randomMetric(rng), randomMetric(rng), Float32Array.from({ length: P }, () => 1)];
      const s = pairStatistics(trial, [0.5, 0.7], g1, g2, WEIGHT_LAYER, LAYERS, metrics);
      expect(s.id).toBe(trial);
      expect(s.loss).toEqual([0.5, 0.7]);
      expectMatches(s, direct(g1, g2, null));
      expect(s.metrics).toHaveLength(3);
      metrics.forEach((m, k) => expectMatches(s.metrics[k]!, direct(g1, g2, m)));
      // M = 1 is the Euclidean metric, to the last bit (x²/1 = x²).
      expect(s.metrics[2]).toEqual({ norm: s.norm, dot: s.dot, tensorNorm: s.tensorNorm, tensorDot: s.tensorDot });
    }
  });

  it("with no metrics returns an empty metrics list and the same Euclidean statistics", () => {
    const rng = new Rng(2, 0);
    const g1 = randomGradient(rng);
    const g2 = randomGradient(rng);
    const a = pairStatistics(0, [1, 1], g1, g2, WEIGHT_LAYER, LAYERS, []);
    const b = pairStatistics(0, [1, 1], g1, g2, WEIGHT_LAYER, LAYERS, [randomMetric(rng)]);
    expect(a.metrics).toEqual([]);
    expect({ ...a, metrics: [] }).toEqual({ ...b, metrics: [] });
  });

  it("leaves out the coordinates where M_j = 0, whatever the gradients hold there", () => {
    const rng = new Rng(3, 0);
    const g1 = randomGradient(rng);
    const g2 = randomGradient(rng);
    const m = randomMetric(rng);
    // Zeros in every tensor, and one whole tensor (layer 2's bias) at 0.
    const zero = new Set<number>();
    for (let j = 0; j < P; j++) if (rng.nextFloat() < 0.25) zero.add(j);
    for (let j = P - 3; j < P; j++) zero.add(j);
    for (const j of zero) m[j] = 0;
    const s = pairStatistics(0, [0, 0], g1, g2, WEIGHT_LAYER, LAYERS, [m]).metrics[0]!;
    const want = direct(g1, g2, m);
    expectMatches(s, want);
    // Huge gradient values at the left-out coordinates change nothing, to the last bit.
    const h1 = g1.map((a) => a.slice());
    const h2 = g2.map((a) => a.slice());
    let j = 0;
    SHAPES.forEach((n, w) => {
      for (let k = 0; k < n; k++, j++) {
        if (zero.has(j)) {
          h1[w]![k] = 1e30;
          h2[w]![k] = -3e29;
        }
      }
    });
    expect(pairStatistics(0, [0, 0], h1, h2, WEIGHT_LAYER, LAYERS, [m]).metrics[0]).toEqual(s);
    // …and they are the same as the statistics over the remaining coordinates only.
    const keep = (g: Float32Array[]) => {
      let at = 0;
      return g.map((a) => a.map((v) => (zero.has(at++) ? 0 : v)));
    };
    const masked = pairStatistics(0, [0, 0], keep(g1), keep(g2), WEIGHT_LAYER, LAYERS, [m.map((v) => (v === 0 ? 1 : v))]).metrics[0]!;
    expectMatches(masked, want);
    // A metric that is 0 everywhere leaves nothing: every statistic 0, none NaN.
    const none = pairStatistics(0, [0, 0], g1, g2, WEIGHT_LAYER, LAYERS, [new Float32Array(P)]).metrics[0]!;
    expect(none).toEqual({ norm: [0, 0], dot: 0, tensorNorm: [[0, 0, 0], [0, 0, 0]], tensorDot: [0, 0, 0] });
  });

  it("equals the Euclidean statistics of the whitened vectors g_j/√M_j", () => {
    const rng = new Rng(4, 0);
    for (let trial = 0; trial < 10; trial++) {
      const g1 = randomGradient(rng);
      const g2 = randomGradient(rng);
      // Exactly: M_j = 4^k makes √M_j a power of 2, so whitening in float32 is exact and
      // (g/2^k)² = g²/4^k holds bit for bit in float64.
      const pow4 = Float32Array.from({ length: P }, () => 4 ** (Math.floor(rng.nextFloat() * 21) - 10));
      const whiten = (g: Float32Array[], m: Float32Array) => {
        let at = 0;
        return g.map((a) => a.map((v) => v / Math.sqrt(m[at++]!)));
      };
      const exact = pairStatistics(0, [0, 0], g1, g2, WEIGHT_LAYER, LAYERS, [pow4]).metrics[0]!;
      const w = pairStatistics(0, [0, 0], whiten(g1, pow4), whiten(g2, pow4), WEIGHT_LAYER, LAYERS, []);
      expect(exact).toEqual({ norm: w.norm, dot: w.dot, tensorNorm: w.tensorNorm, tensorDot: w.tensorDot });
      // Any metric: the whitened vectors in float64, against the worker's metric sums.
      const m = randomMetric(rng);
      const s = pairStatistics(0, [0, 0], g1, g2, WEIGHT_LAYER, LAYERS, [m]).metrics[0]!;
      const a = flat(g1).map((v, j) => v / Math.sqrt(m[j]!));
      const b = flat(g2).map((v, j) => v / Math.sqrt(m[j]!));
      const want = { sq1: [0, 0, 0], sq2: [0, 0, 0], dot: [0, 0, 0] };
      for (let j = 0; j < P; j++) {
        const l = layerOf[j]!;
        want.sq1[l]! += a[j]! * a[j]!;
        want.sq2[l]! += b[j]! * b[j]!;
        want.dot[l]! += a[j]! * b[j]!;
      }
      expectMatches(s, want, 1e-13 * 50);
    }
  });

  it("the Fisher-metric regret is invariant under g_j → g_j/a_j, M_j → M_j/a_j²; the Euclidean regret is not", () => {
    const rng = new Rng(5, 0);
    let worstFisher = 0;
    let leastEuclid = Infinity;
    for (let trial = 0; trial < 20; trial++) {
      const g1 = randomGradient(rng);
      const g2 = randomGradient(rng);
      const m = randomMetric(rng);
      const before = pairStatistics(0, [0, 0], g1, g2, WEIGHT_LAYER, LAYERS, [m]);

      // a_j = 2^k: every rescaled value is exact in float32, so the metric statistics, and
      // with them every metric regret, are equal to the last bit.
      const k = Int32Array.from({ length: P }, () => Math.floor(rng.nextFloat() * 13) - 6);
      const by2 = (g: Float32Array[]) => {
        let at = 0;
        return g.map((a) => a.map((v) => v / 2 ** k[at++]!));
      };
      const m2 = m.map((v, j) => v / 4 ** k[j]!);
      const pow2 = pairStatistics(0, [0, 0], by2(g1), by2(g2), WEIGHT_LAYER, LAYERS, [m2]);
      expect(pow2.metrics[0]).toEqual(before.metrics[0]);

      // Random real a_j, log-uniform over [1e-2, 1e2]: g_j/a_j and M_j/a_j² are rounded to
      // float32 (relative 2⁻²⁴ each), so each term g1_j g2_j / M_j moves by ≲ 4·2⁻²⁴ ≈ 2.4e-7
      // and the sums by no more. The regret b − c/a has no cancellation here (cos(g1, g2)
      // ≈ 0 for independent random vectors), so it holds to ~1e-6 relative.
      const a = Float64Array.from({ length: P }, () => 10 ** (4 * rng.nextFloat() - 2));
      const scaled = (g: Float32Array[]) => {
        let at = 0;
        return g.map((x) => x.map((v) => v / a[at++]!));
      };
      const ma = m.map((v, j) => v / (a[j]! * a[j]!));
      const after = pairStatistics(0, [0, 0], scaled(g1), scaled(g2), WEIGHT_LAYER, LAYERS, [ma]);
      const rf = rel(regret(after.metrics[0]!), regret(before.metrics[0]!));
      worstFisher = Math.max(worstFisher, rf);
      expect(rf).toBeLessThan(1e-6);
      for (let l = 0; l < LAYERS; l++) {
        const layerRegret = (s: MetricStats) => s.tensorNorm[1][l]! - s.tensorDot[l]! / s.tensorNorm[0][l]!;
        expect(rel(layerRegret(after.metrics[0]!), layerRegret(before.metrics[0]!))).toBeLessThan(1e-6);
      }
      // The Euclidean regret of the same pair moves by far more than rounding.
      const re = rel(regret(after), regret(before));
      leastEuclid = Math.min(leastEuclid, re);
      expect(re).toBeGreaterThan(0.05);
    }
    console.log(`metric-stats: Fisher-metric regret, largest relative change under random a_j: ${worstFisher.toExponential(2)}; Euclidean regret, smallest relative change: ${leastEuclid.toFixed(3)}`);
  });
});
