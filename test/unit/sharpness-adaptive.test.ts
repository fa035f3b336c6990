// Adaptive m-sharpness (src/measures/sharpness/adaptive-sharpness.ts; Kwon et al. 2021,
// Andriushchenko et al. 2023) against worst cases known without the ascent. On a
// quadratic ½θᵀHθ + bᵀθ with g = Hθ + b and C = diag(ρ(|θ_i| + ξ)), δ = C z gives the rise
//   (Cg)ᵀz + ½ zᵀ(CHC) z,
// exactly a trust-region subproblem for ‖z‖₂ ≤ 1 (solved here by eigen-decomposition and
// the secular equation), ½ρ²λ_max(…)₊ when g = 0, and for ‖z‖∞ ≤ 1 with H ⪰ 0 a convex
// function whose box maximum is at one of the 2ᴾ corners. On a softmax regression served
// by the GradientEngine, the loss is convex in its parameters: again the corners.

import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { t95 } from "../../src/coordinator/estimators/student-t.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import {
  adaptiveScale,
  ascentOnMinibatch,
  ascentOnModelMinibatch,
  averageRiseOnMinibatch,
  averageRiseOnModelMinibatch,
} from "../../src/measures/sharpness/adaptive-sharpness.js";
import { meanInterval } from "../../src/measures/sharpness/mean-interval.js";
import { modelObjective } from "../../src/measures/sharpness/model-objective.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";
import { corners, quadratic, symmetricEigen, trustRegionMax } from "../helpers/sharpness-objectives.js";

const P = 5;

function randomProblem(rng: Rng, definite: boolean) {
  const m = Array.from({ length: P }, () => Float64Array.from({ length: P }, () => rng.nextNormal()));
  const h = Array.from({ length: P }, (_, i) => Float64Array.from({ length: P }, (_, j) => {
    if (definite) {
      let s = 0;
      for (let r = 0; r < P; r++) s += m[r]![i]! * m[r]![j]!;
      return s / P;
    }
    return (m[i]![j]! + m[j]![i]!) / 2;
  }));
  const b = Float64Array.from({ length: P }, () => rng.nextNormal());
  const theta = Float64Array.from({ length: P }, () => rng.nextNormal());
  return { h, b, theta, obj: quadratic(h, b) };
}

/** C g and C H C for the adaptive scale C. */
function scaled(h: Float64Array[], b: Float64Array, theta: Float64Array, rho: number, floor: number) {
  const c = adaptiveScale(theta, { rho, floor });
  const g = Float64Array.from(theta, (_, i) => b[i]! + h[i]!.reduce((s, v, j) => s + v * theta[j]!, 0));
  return {
    c,
    cg: Float64Array.from(g, (v, i) => c[i]! * v),
    chc: h.map((row, i) => Float64Array.from(row, (v, j) => c[i]! * v * c[j]!)),
  };
}

describe("adaptive worst case, ℓ₂, on quadratics", () => {
  it("the scale is c_i = ρ(|θ_i| + ξ)", () => {
    const c = adaptiveScale(Float64Array.from([-2, 0, 0.5]), { rho: 0.1, floor: 0.01 });
    [0.201, 0.001, 0.051].forEach((v, i) => expect(c[i]).toBeCloseTo(v, 15));
  });

  it("equals the trust-region maximum on indefinite quadratics, small and large ρ", async () => {
    const rng = new Rng(21, 0);
    const found = [0, 0];
    let cases = 0;
    for (let trial = 0; trial < 15; trial++) {
      const { h, b, theta, obj } = randomProblem(rng, false);
      for (const rho of [0.05, 1]) {
        const { cg, chc } = scaled(h, b, theta, rho, 0.01);
        const exact = trustRegionMax(chc, cg);
        cases++;
        // The gap test's default tolerance is relative to 1 + |f(θ)|, which on these
        // quadratics is far above the rise; a tight one shows the ascent's own limit.
        for (const [k, restarts] of [0, 4].entries()) {
          const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "l2", maxEvaluations: 400, gapTolerance: 1e-12, restarts, seed: 3, stream: trial });
          expect(r.rise).toBeLessThanOrEqual(exact + 1e-9 * (1 + Math.abs(exact)));
          if (Math.abs(r.rise - exact) <= 1e-8 * (1 + Math.abs(exact))) found[k]!++;
          // δ lies in the adaptive ball
          const c = adaptiveScale(theta, { rho: 1, floor: 0.01 });
          expect(Math.hypot(...Array.from(r.delta, (d, i) => d / c[i]!))).toBeLessThanOrEqual(rho * (1 + 1e-12));
        }
      }
    }
    // from θ alone (and with 4 random restarts) the ascent reaches the global maximum on
    // all 30 to 1e-8 (a trust-region problem has at most one local, non-global maximum)
    expect(found[0]).toBe(cases);
    expect(found[1]).toBe(cases);
  });

  it("at a critical point (g = 0) the worst rise is ½λ_max(CHC) for ‖z‖ ≤ 1, i.e. ½ρ²λ_max(diag(|θ|+ξ) H diag(|θ|+ξ))", async () => {
    const rng = new Rng(22, 0);
    for (let trial = 0; trial < 5; trial++) {
      const { h, theta } = randomProblem(rng, false);
      const b = Float64Array.from(theta, (_, i) => -h[i]!.reduce((s, v, j) => s + v * theta[j]!, 0));
      const obj = quadratic(h, b);
      const rho = 0.3;
      const { chc } = scaled(h, b, theta, rho, 0.01);
      const top = symmetricEigen(chc).values.at(-1)!;
      const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "l2", maxEvaluations: 2000, gapTolerance: 1e-10, seed: 1, stream: trial });
      expect(r.rise).toBeCloseTo(0.5 * Math.max(top, 0), 6);
    }
  });

  it("for small ρ: ρ‖Cg‖ + ½ρ² ĝᵀ(CHC)ĝ to O(ρ³), below the bound ρ‖Cg‖ + ½ρ²λ_max(CHC)", async () => {
    const { h, b, theta, obj } = randomProblem(new Rng(23, 0), false);
    const unit = scaled(h, b, theta, 1, 0.01);
    const n = Math.hypot(...unit.cg);
    const ghat = Float64Array.from(unit.cg, (v) => v / n);
    const curv = unit.chc.reduce((s, row, i) => s + ghat[i]! * row.reduce((t, v, j) => t + v * ghat[j]!, 0), 0);
    const top = symmetricEigen(unit.chc).values.at(-1)!;
    const errors: number[] = [];
    for (const rho of [0.02, 0.01, 0.005]) {
      const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "l2", maxEvaluations: 400, gapTolerance: 1e-14 });
      expect(r.rise).toBeLessThanOrEqual(rho * n + 0.5 * rho * rho * top + 1e-12);
      errors.push(Math.abs(r.rise - (rho * n + 0.5 * rho * rho * curv)));
    }
    // halving ρ divides the error by about 8
    expect(errors[0]! / errors[1]!).toBeGreaterThan(6);
    expect(errors[1]! / errors[2]!).toBeGreaterThan(6);
  });

  it("a concave quadratic with its maximum inside the ball: the ascent converges to it (interior, not on the sphere)", async () => {
    const rng = new Rng(27, 0);
    for (let trial = 0; trial < 5; trial++) {
      const { h, b, theta } = randomProblem(rng, true);
      const neg = h.map((row) => Float64Array.from(row, (v) => -v - 0));
      neg.forEach((row, i) => (row[i] = row[i]! - 0.5)); // −(H + ½I): negative definite
      // b chosen so that the gradient at θ is small (0.01·b): the maximum is near θ
      const small = Float64Array.from(b, (v, i) => 0.01 * v - neg[i]!.reduce((s, x, j) => s + x * theta[j]!, 0));
      const obj = quadratic(neg, small);
      const rho = 0.5;
      const { cg, chc } = scaled(neg, small, theta, rho, 0.01);
      const exact = trustRegionMax(chc, cg);
      const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "l2", maxEvaluations: 3000, gapTolerance: 1e-13 });
      const c = adaptiveScale(theta, { rho, floor: 0.01 });
      const zNorm = Math.hypot(...Array.from(r.delta, (d, i) => d / c[i]!));
      expect(zNorm).toBeLessThan(0.999);
      expect(Math.abs(r.rise - exact)).toBeLessThan(1e-8 * (1 + Math.abs(exact)));
    }
  });

  it("a linear loss: the rise is ρ‖c∘g‖ exactly, on the sphere, in two evaluations", async () => {
    const b = Float64Array.from([1, -2, 0.5, 0, 3]);
    const obj = quadratic(Array.from({ length: P }, () => new Float64Array(P)), b);
    const theta = Float64Array.from([0.5, -1, 2, 0.1, -0.3]);
    const c = adaptiveScale(theta, { rho: 0.2, floor: 0.01 });
    const r = await ascentOnMinibatch(obj, theta, { rho: 0.2, floor: 0.01, norm: "l2" });
    expect(r.rise).toBeCloseTo(Math.hypot(...Array.from(b, (v, i) => v * c[i]!)), 12);
    expect(Math.hypot(...Array.from(r.delta, (d, i) => d / c[i]!))).toBeCloseTo(1, 12);
    expect(r.evaluations).toBe(2);
    expect(r.stop).toBe("gap");
  });

  it("the first step from θ is the ASAM point ρ c∘(c∘g)/‖c∘g‖", async () => {
    const { h, b, theta, obj } = randomProblem(new Rng(24, 0), false);
    const rho = 0.1;
    const { c, cg } = scaled(h, b, theta, 1, 0.01);
    const n = Math.hypot(...cg);
    const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "l2", maxEvaluations: 2 });
    expect(r.evaluations).toBe(2);
    const f0 = obj.f(theta);
    const sam = Float64Array.from(theta, (t, i) => t + (rho * c[i]! * cg[i]!) / n);
    // the SAM point is accepted when it rises (it does here), and is then the best seen
    expect(obj.f(sam) - f0).toBeGreaterThan(0);
    r.delta.forEach((d, i) => expect(d).toBeCloseTo((rho * c[i]! * cg[i]!) / n, 12));
  });
});

describe("adaptive worst case, ℓ∞, on convex quadratics", () => {
  it("equals the best of the 2⁵ corners of the adaptive box", async () => {
    const rng = new Rng(25, 0);
    let matched = 0;
    for (let trial = 0; trial < 20; trial++) {
      const { theta, obj } = randomProblem(rng, true);
      const rho = 0.5;
      const c = adaptiveScale(theta, { rho, floor: 0.01 });
      let exact = -Infinity;
      for (const d of corners(c)) exact = Math.max(exact, obj.f(Float64Array.from(theta, (t, i) => t + d[i]!)) - obj.f(theta));
      const r = await ascentOnMinibatch(obj, theta, { rho, floor: 0.01, norm: "linf", maxEvaluations: 100, restarts: 8, seed: 2, stream: trial });
      expect(r.rise).toBeLessThanOrEqual(exact + 1e-9 * (1 + exact));
      if (Math.abs(r.rise - exact) <= 1e-9 * (1 + exact)) matched++;
    }
    expect(matched).toBe(20);
  });
});

describe("adaptive average case", () => {
  it("an antithetic pair's rise on a quadratic is ½ρ² zᵀ(CHC)z exactly; the mean converges to ½ρ² tr(CHC)", async () => {
    const { h, b, theta, obj } = randomProblem(new Rng(26, 0), true);
    const rho = 0.2;
    const samples = 4000;
    const r = await averageRiseOnMinibatch(obj.value, theta, { rho, floor: 0.01, samples, seed: 4, stream: 1 });
    const { chc } = scaled(h, b, theta, rho, 0.01);
    const rng = new Rng(4, 1);
    let own = 0;
    for (let m = 0; m < samples; m++) {
      const z = Float64Array.from({ length: P }, () => rng.nextNormal());
      own += 0.5 * chc.reduce((s, row, i) => s + z[i]! * row.reduce((t, v, j) => t + v * z[j]!, 0), 0);
    }
    expect(r.rise).toBeCloseTo(own / samples, 10);
    const exact = 0.5 * chc.reduce((s, row, i) => s + row[i]!, 0);
    expect(Math.abs(r.rise - exact)).toBeLessThan(4 * r.stderr);
    expect(r.evaluations).toBe(2 * samples + 1);
    expect(obj.calls.value).toBe(2 * samples + 1);
  });
});

describe("adaptive m-sharpness on a softmax regression (GradientEngine, cpu backend)", () => {
  const ds = makeSyntheticDataset({ n: 64, features: 2, classes: 2, seed: 6 });
  let engine: GradientEngine;
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
    engine = await GradientEngine.create(tf, mlpSnapshot({ layers: [2, 2], activation: "linear", seed: 5, init: "glorot_uniform" }), ds);
  });
  afterAll(() => engine?.dispose());

  it("per minibatch, the ℓ∞ ascent equals the best corner; the estimate is their mean with a t interval; θ is restored", async () => {
    const theta0 = await engine.trainableVector();
    const rng = new Rng(7, 0);
    const rises: number[] = [];
    for (let b = 0; b < 6; b++) {
      const indices = rng.sampleWithoutReplacement(64, 16);
      const o = { rho: 0.3, floor: 0.01, norm: "linf" as const, maxEvaluations: 40, restarts: 2, seed: 7, stream: b };
      const r = await ascentOnModelMinibatch(engine, indices, o);
      expect(Array.from(await engine.trainableVector())).toEqual(Array.from(theta0));
      const obj = modelObjective(engine, indices);
      const theta = Float64Array.from(theta0);
      const base = await obj.value(theta);
      let exact = -Infinity;
      for (const d of corners(adaptiveScale(theta, o))) exact = Math.max(exact, (await obj.value(Float64Array.from(theta, (t, i) => t + d[i]!))) - base);
      engine.setTrainable(theta0);
      expect(Math.abs(r.rise - exact)).toBeLessThan(1e-5 * (1 + exact));
      rises.push(r.rise);
    }
    const est = meanInterval(rises);
    const mean = rises.reduce((s, v) => s + v, 0) / 6;
    const sd = Math.sqrt(rises.reduce((s, v) => s + (v - mean) ** 2, 0) / 5);
    expect(est.mean).toBeCloseTo(mean, 14);
    expect(est.ci95[1] - est.mean).toBeCloseTo((t95(5) * sd) / Math.sqrt(6), 12);
    expect(est.n).toBe(6);
  });

  it("the average-case rise of a convex loss is > 0 (Jensen), and below the ℓ₂ worst case at a radius the Gaussian rarely reaches", async () => {
    const indices = Array.from({ length: 16 }, (_, i) => 3 * i);
    const o = { rho: 0.3, floor: 0.01 };
    const avg = await averageRiseOnModelMinibatch(engine, indices, { ...o, samples: 32, seed: 8 });
    const worst = await ascentOnModelMinibatch(engine, indices, { ...o, norm: "l2", maxEvaluations: 30 });
    expect(avg.rise).toBeGreaterThan(0);
    expect(avg.stderr).toBeGreaterThan(0);
    // Gaussian δ with per-coordinate sd ρc_i has ‖δ/c‖₂ ≈ ρ√P (P = 6), above the worst
    // case's radius ρ, so no ordering with `worst` holds in general; the ℓ₂ worst case at
    // radius 2ρ√P bounds every pair whose ‖z‖ ≤ 2√P (nearly all of them).
    const wide = await ascentOnModelMinibatch(engine, indices, { rho: o.rho * Math.sqrt(6) * 2, floor: 0.01, norm: "l2", maxEvaluations: 30 });
    expect(worst.rise).toBeGreaterThan(0);
    expect(avg.rise).toBeLessThan(wide.rise);
  });

  it("refuses ρ ≤ 0 or a floor ≤ 0, naming it", async () => {
    const obj = modelObjective(engine, [0, 1]);
    const theta = Float64Array.from(await engine.trainableVector());
    await expect(ascentOnMinibatch(obj, theta, { rho: 0, floor: 0.01, norm: "l2" })).rejects.toThrow(/rho must be a finite number > 0/);
    await expect(ascentOnMinibatch(obj, theta, { rho: 0.1, floor: 0, norm: "l2" })).rejects.toThrow(/floor must be a finite number > 0/);
  });
});
