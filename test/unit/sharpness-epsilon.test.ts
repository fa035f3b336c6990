// ε-sharpness (src/measures/sharpness/epsilon-sharpness.ts, Keskar et al. 2017) against
// box maxima found without the ascent: on quadratics where each coordinate's maximum is
// known (separable H: a corner for a convex coordinate, the clipped vertex for a concave
// one), on convex quadratics in a random subspace (the maximum of a convex function over
// a box is at one of its corners: all 2ᵏ enumerated), and on a softmax regression served
// by the worker's GradientEngine (convex in its parameters: again all corners enumerated).

import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { epsilonSharpness } from "../../src/measures/sharpness/epsilon-sharpness.js";
import { modelObjective, onModel } from "../../src/measures/sharpness/model-objective.js";
import { project, randomSubspace } from "../../src/measures/sharpness/subspace.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";
import { corners, quadratic } from "../helpers/sharpness-objectives.js";

function diag(h: number[]): Float64Array[] {
  return h.map((v, i) => Float64Array.from(h, (_, j) => (i === j ? v : 0)));
}

/** max over [−w, w] of ½h t² + g t + c·(…) for one coordinate, t the offset from θ_i. */
function coordinateMax(h: number, g: number, w: number): number {
  const f = (t: number) => 0.5 * h * t * t + g * t;
  const candidates = [f(-w), f(w)];
  if (h < 0) candidates.push(f(Math.min(w, Math.max(-w, -g / h))));
  return Math.max(...candidates);
}

describe("ε-sharpness in the full space, separable quadratics", () => {
  it("finds each coordinate's box maximum: corners for convex coordinates, interior vertices for concave ones", async () => {
    const rng = new Rng(12, 0);
    for (let trial = 0; trial < 20; trial++) {
      const p = 6;
      const h = Array.from({ length: p }, () => (rng.nextFloat() < 0.3 ? -1 : 1) * (0.1 + 4 * rng.nextFloat()));
      const b = Float64Array.from({ length: p }, () => rng.nextNormal());
      const theta = Float64Array.from({ length: p }, () => rng.nextNormal());
      const obj = quadratic(diag(h), b);
      const eps = 0.05 + 0.5 * rng.nextFloat();
      const r = await epsilonSharpness(obj, theta, { epsilon: eps, maxEvaluations: 200 });
      let exact = 0;
      for (let i = 0; i < p; i++) exact += coordinateMax(h[i]!, h[i]! * theta[i]! + b[i]!, eps * (Math.abs(theta[i]!) + 1));
      expect(r.rise).toBeGreaterThan(0);
      expect(Math.abs(r.rise - exact)).toBeLessThan(1e-6 * (1 + exact));
      expect(r.sharpness).toBeCloseTo((100 * r.rise) / (1 + obj.f(theta)), 10);
      expect(r.stop).not.toBe("budget");
      for (let i = 0; i < p; i++) expect(Math.abs(r.delta[i]!)).toBeLessThanOrEqual(eps * (Math.abs(theta[i]!) + 1) * (1 + 1e-12));
    }
  });

  it("an all-convex separable quadratic: the corner sign(g) in two evaluations, the gap test then stops", async () => {
    const obj = quadratic(diag([1, 2, 3]), Float64Array.from([0.5, -1, 0.25]));
    const theta = Float64Array.from([1, 0, -2]);
    const r = await epsilonSharpness(obj, theta, { epsilon: 0.1 });
    let exact = 0;
    for (const c of corners(Float64Array.from(theta, (t) => 0.1 * (Math.abs(t) + 1)))) {
      const at = Float64Array.from(theta, (t, i) => t + c[i]!);
      exact = Math.max(exact, obj.f(at) - obj.f(theta));
    }
    expect(r.rise).toBeCloseTo(exact, 12);
    expect(r.evaluations).toBe(2);
    expect(r.stop).toBe("gap");
  });

  it("at a critical point (zero gradient) it starts from a random corner instead of staying at θ", async () => {
    const obj = quadratic(diag([1, 2]), Float64Array.from([0, 0]));
    const theta = new Float64Array(2);
    const r = await epsilonSharpness(obj, theta, { epsilon: 0.2 });
    expect(r.rise).toBeCloseTo(0.5 * (1 + 2) * 0.04, 12);
  });
});

describe("ε-sharpness of a non-convex function, against a fine grid (P = 2)", () => {
  // f(θ) = sin(3θ₁) + cos(2θ₂) + θ₁θ₂/2: several local maxima in the box.
  const f = (t: Float64Array) => Math.sin(3 * t[0]!) + Math.cos(2 * t[1]!) + 0.5 * t[0]! * t[1]!;
  const obj = {
    dimension: 2,
    value: async (t: Float64Array) => f(t),
    valueAndGradient: async (t: Float64Array) => ({
      value: f(t),
      gradient: Float64Array.from([3 * Math.cos(3 * t[0]!) + 0.5 * t[1]!, -2 * Math.sin(2 * t[1]!) + 0.5 * t[0]!]),
    }),
  };

  it("with restarts the ascent reaches the grid's maximum (|∂²f| ≤ 9: a 1201² grid is within 1e-5 of the true one)", async () => {
    for (const theta of [Float64Array.from([0.3, -0.8]), Float64Array.from([-1.2, 0.4]), Float64Array.from([0.9, 1.5])]) {
      const eps = 0.5;
      const w = Float64Array.from(theta, (t) => eps * (Math.abs(t) + 1));
      let grid = -Infinity;
      const steps = 1200;
      for (let i = 0; i <= steps; i++) {
        for (let j = 0; j <= steps; j++) {
          const at = Float64Array.from([theta[0]! + w[0]! * (2 * i / steps - 1), theta[1]! + w[1]! * (2 * j / steps - 1)]);
          grid = Math.max(grid, f(at) - f(theta));
        }
      }
      const r = await epsilonSharpness(obj, theta, { epsilon: eps, maxEvaluations: 100, restarts: 8, gapTolerance: 1e-12 });
      expect(r.rise).toBeGreaterThanOrEqual(grid - 1e-12);
      // the grid's spacing h ≤ 0.0023 misses a maximum by at most ½·9·(h/2)²·2 < 2.4e-5
      expect(r.rise).toBeLessThanOrEqual(grid + 2.4e-5);
    }
  });
});

describe("ε-sharpness at model scale", () => {
  it("P = 300,000 (a diagonal quadratic): no per-coordinate spreads or recursion, the exact corner", async () => {
    const p = 300_000;
    const h = Float64Array.from({ length: p }, (_, i) => 1 + (i % 7));
    const obj = {
      dimension: p,
      value: async (t: Float64Array) => t.reduce((s, v, i) => s + 0.5 * h[i]! * v * v, 0),
      valueAndGradient: async (t: Float64Array) => ({ value: t.reduce((s, v, i) => s + 0.5 * h[i]! * v * v, 0), gradient: Float64Array.from(t, (v, i) => h[i]! * v) }),
    };
    // No θ_i = 0: a coordinate whose gradient is exactly 0 at θ (and along the ascent)
    // is never moved by a gradient method (docs/measures.md §14.1).
    const theta = Float64Array.from({ length: p }, (_, i) => ((i % 5) - 2.5) / 4);
    const eps = 1e-3;
    const r = await epsilonSharpness(obj, theta, { epsilon: eps });
    let exact = 0;
    for (let i = 0; i < p; i++) {
      const w = eps * (Math.abs(theta[i]!) + 1);
      exact += 0.5 * h[i]! * w * w + Math.abs(h[i]! * theta[i]!) * w;
    }
    expect(Math.abs(r.rise - exact)).toBeLessThan(1e-9 * exact);
    expect(r.evaluations).toBe(2);
  });
});

describe("ε-sharpness in a random subspace", () => {
  it("the box is on y with half-widths ε(|Aᵀθ|_j + 1); the maximum matches the best of the 2ᵏ corners", async () => {
    const rng = new Rng(5, 1);
    const p = 12;
    const k = 3;
    const matched = [0, 0];
    const trials = 20;
    for (let trial = 0; trial < trials; trial++) {
      // A random convex quadratic H = Q diag(λ) Qᵀ + small, b random.
      const m = Array.from({ length: p }, () => Float64Array.from({ length: p }, () => rng.nextNormal()));
      const h = Array.from({ length: p }, (_, i) => Float64Array.from({ length: p }, (_, j) => {
        let s = 0;
        for (let r = 0; r < p; r++) s += (m[r]![i]! * m[r]![j]!) / p;
        return s;
      }));
      const b = Float64Array.from({ length: p }, () => rng.nextNormal());
      const theta = Float64Array.from({ length: p }, () => rng.nextNormal());
      const obj = quadratic(h, b);
      const eps = 0.5;
      const single = await epsilonSharpness(obj, theta, { epsilon: eps, maxEvaluations: 100, subspace: { k, seed: 7, stream: trial } });
      const r = await epsilonSharpness(obj, theta, { epsilon: eps, maxEvaluations: 100, restarts: 8, subspace: { k, seed: 7, stream: trial } });
      const a = randomSubspace(p, k, 7, trial);
      const w = Float64Array.from(project(a, theta), (c) => eps * (Math.abs(c) + 1));
      let exact = -Infinity;
      for (const y of corners(w)) {
        const at = theta.slice();
        a.columns.forEach((col, j) => col.forEach((v, i) => (at[i] = at[i]! + v * y[j]!)));
        exact = Math.max(exact, obj.f(at) - obj.f(theta));
      }
      for (const [i, x] of [single, r].entries()) {
        expect(x.rise).toBeLessThanOrEqual(exact + 1e-9 * (1 + exact));
        if (Math.abs(x.rise - exact) < 1e-9 * (1 + exact)) matched[i]!++;
      }
      // δ = A y with y in the box.
      const y = project(a, r.delta);
      y.forEach((v, j) => expect(Math.abs(v)).toBeLessThanOrEqual(w[j]! * (1 + 1e-9)));
    }
    // A local ascent from θ alone stops at a lesser corner on 4 of these 20 (ε = 0.5 is a
    // box where curvature, not the gradient, decides the corner); 8 restarts (random
    // corners and inner points of the box) find every maximum.
    expect(matched[0]).toBe(16);
    expect(matched[1]).toBe(trials);
  });

  it("the same seed and stream give the same subspace and the same number; another stream another subspace", async () => {
    const a = randomSubspace(50, 4, 3, 1);
    const b = randomSubspace(50, 4, 3, 1);
    const c = randomSubspace(50, 4, 3, 2);
    expect(a.columns).toEqual(b.columns);
    expect(a.columns[0]).not.toEqual(c.columns[0]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let t = 0; t < 50; t++) s += a.columns[i]![t]! * a.columns[j]![t]!;
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
  });
});

describe("ε-sharpness of a softmax regression on the GradientEngine (cpu backend)", () => {
  const ds = makeSyntheticDataset({ n: 48, features: 2, classes: 2, seed: 3 });
  let engine: GradientEngine;
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
    engine = await GradientEngine.create(tf, mlpSnapshot({ layers: [2, 2], activation: "linear", seed: 4, init: "glorot_uniform" }), ds);
  });
  afterAll(() => engine?.dispose());

  it("matches the best of the 2⁶ box corners (the loss is convex in the 6 parameters), on a minibatch and on the full data", async () => {
    const theta = Float64Array.from(await engine.trainableVector());
    await onModel(engine, async () => {
    for (const indices of [[0, 5, 9, 11, 20, 31, 40, 47], Array.from({ length: 48 }, (_, i) => i)]) {
      const obj = modelObjective(engine, indices);
      for (const eps of [0.05, 0.5]) {
        const r = await epsilonSharpness(obj, theta, { epsilon: eps, maxEvaluations: 40 });
        const base = await obj.value(theta);
        let exact = -Infinity;
        for (const c of corners(Float64Array.from(theta, (t) => eps * (Math.abs(t) + 1)))) {
          exact = Math.max(exact, (await obj.value(Float64Array.from(theta, (t, i) => t + c[i]!))) - base);
        }
        expect(r.rise).toBeGreaterThan(0);
        // float32 losses: agreement to float32 rounding of a loss of order 1.
        expect(Math.abs(r.rise - exact)).toBeLessThan(1e-5 * (1 + exact));
      }
    }
    });
    // θ is restored: the engine's weights are the snapshot's again.
    expect(Array.from(await engine.trainableVector())).toEqual(Array.from(theta, Math.fround));
  });
});
