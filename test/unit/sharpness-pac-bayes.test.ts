// PAC-Bayes flatness (src/measures/sharpness/pac-bayes.ts, Jiang et al. 2019) on a linear
// regression L(θ) = (1/2n)‖Xθ − y‖², where the rise under u = σ s∘z, z ~ N(0, I), is
//   L(θ + u) − L(θ) = (1/n)(Xθ − y)ᵀX u + (1/2n) uᵀXᵀX u,
// so E[…] = σ² Q with Q = Σ_i s_i² (XᵀX)_ii / (2n), and σ* = √(d/Q) exactly. An
// antithetic pair (z, −z) cancels the linear term exactly: the sampled rise is σ² Q̂ with
// Q̂ = (1/M) Σ_m ‖X S z_m‖²/(2n) for the very z_m the estimator draws, so the bisection's
// answer for its own samples is √(d/Q̂), known in closed form too.

import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { modelError, modelObjective, onModel } from "../../src/measures/sharpness/model-objective.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";
import { pacBayesFlatness, riseAt } from "../../src/measures/sharpness/pac-bayes.js";
import { t95 } from "../../src/coordinator/estimators/student-t.js";
import { Rng } from "../../src/util/rng.js";
import { linearRegression } from "../helpers/sharpness-objectives.js";

const N = 30;
const P = 5;

function problem(seed: number) {
  const rng = new Rng(seed, 0);
  const x = Array.from({ length: N }, () => Float64Array.from({ length: P }, () => rng.nextNormal()));
  const y = Float64Array.from({ length: N }, () => rng.nextNormal());
  const theta = Float64Array.from({ length: P }, () => 2 * rng.nextNormal());
  return { x, y, theta, obj: linearRegression(x, y) };
}

/** Q and Q̂ for the noise scale s, with the estimator's draws from Rng(seed, stream). */
function curvatures(x: Float64Array[], s: Float64Array, samples: number, seed: number, stream: number) {
  let q = 0;
  for (let i = 0; i < P; i++) {
    let xtx = 0;
    for (const row of x) xtx += row[i]! * row[i]!;
    q += (s[i]! * s[i]! * xtx) / (2 * N);
  }
  const rng = new Rng(seed, stream);
  const qm: number[] = [];
  for (let m = 0; m < samples; m++) {
    const z = Float64Array.from({ length: P }, (_, i) => s[i]! * rng.nextNormal());
    let sum = 0;
    for (const row of x) {
      let v = 0;
      for (let i = 0; i < P; i++) v += row[i]! * z[i]!;
      sum += (v * v) / (2 * N);
    }
    qm.push(sum);
  }
  const qHat = qm.reduce((a, b) => a + b, 0) / samples;
  const se = Math.sqrt(qm.reduce((a, b) => a + (b - qHat) ** 2, 0) / (samples - 1) / samples);
  return { q, qHat, se };
}

describe("PAC-Bayes flatness on a linear regression", () => {
  for (const magnitude of [undefined, { epsilon: 0.1 }]) {
    const label = magnitude ? "magnitude-aware (σ(|θ_i| + 0.1))" : "isotropic";
    it(`${label}: the bisection finds σ̂ = √(d/Q̂) of its own samples to its tolerance`, async () => {
      const { x, theta, obj } = problem(1);
      const s = magnitude ? Float64Array.from(theta, (t) => Math.abs(t) + 0.1) : new Float64Array(P).fill(1);
      for (const target of [0.01, 0.1, 1]) {
        const r = await pacBayesFlatness(obj.value, theta, { target, samples: 16, seed: 9, stream: 3, tolerance: 1e-6, ...(magnitude ? { magnitude } : {}) });
        if (!r.resolved) throw new Error(r.reason);
        const { qHat, se } = curvatures(x, s, 16, 9, 3);
        const exact = Math.sqrt(target / qHat);
        expect(r.bracket[0]).toBeLessThanOrEqual(exact * (1 + 1e-12));
        expect(r.bracket[1]).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
        expect(Math.abs(r.sigma - exact)).toBeLessThanOrEqual(1e-6 * exact);
        expect(r.atLo.rise).toBeLessThanOrEqual(target);
        expect(r.atHi.rise).toBeGreaterThan(target);
        // the sampled rise is σ²Q̂ exactly (antithetic pairs cancel the linear term)
        expect(r.atHi.rise).toBeCloseTo(r.atHi.sigma ** 2 * qHat, 10);
        expect(r.inverseSigmaSq).toBeCloseTo(1 / r.sigma ** 2, 8);
        // The interval's ends where σ²(Q̂ ∓ t·se) = d: the t interval of Q inverted,
        // found to intervalTolerance (1e-2) on their outer side.
        const t = t95(15);
        const sLo = Math.sqrt(target / (qHat + t * se));
        const sHi = Math.sqrt(target / (qHat - t * se));
        expect(r.sigmaCi95[0]).toBeLessThanOrEqual(sLo * (1 + 1e-12));
        expect(r.sigmaCi95[0]).toBeGreaterThanOrEqual(sLo * (1 - 1.01e-2));
        expect(r.sigmaCi95[1]).toBeGreaterThanOrEqual(sHi * (1 - 1e-12));
        expect(r.sigmaCi95[1]).toBeLessThanOrEqual(sHi * (1 + 1.03e-2));
        expect(r.inverseSigmaSqCi95[0]).toBeCloseTo(1 / r.sigmaCi95[1] ** 2, 10);
        expect(r.inverseSigmaSqCi95[1]).toBeCloseTo(1 / r.sigmaCi95[0] ** 2, 10);
        expect(r.evaluations).toBe(obj.calls.value);
        obj.calls.value = 0;
      }
    });
  }

  it("the 95% interval of 1/σ² covers the analytic Q/d in about 95% of 200 seeds (M = 12)", async () => {
    const { x, theta, obj } = problem(2);
    const target = 0.1;
    const { q } = curvatures(x, new Float64Array(P).fill(1), 1, 0, 0);
    let covered = 0;
    const runs = 200;
    for (let seed = 0; seed < runs; seed++) {
      const r = await pacBayesFlatness(obj.value, theta, { target, samples: 12, seed, tolerance: 1e-4 });
      if (!r.resolved) throw new Error(r.reason);
      const [lo, hi] = r.inverseSigmaSqCi95;
      expect(lo).toBeLessThan(r.inverseSigmaSq);
      expect(hi).toBeGreaterThan(r.inverseSigmaSq);
      if (lo <= q / target && q / target <= hi) covered++;
    }
    // Binomial(200, 0.95): 183..197 holds with probability ≈ 0.99 at the nominal level;
    // measured: 184 (the t interval on a mean of 12 skewed, χ²-like values covers a little
    // under 95%).
    expect(covered).toBeGreaterThanOrEqual(180);
    expect(covered).toBeLessThanOrEqual(199);
  });

  it("deterministic given the seed; another stream gives other samples", async () => {
    const { theta, obj } = problem(3);
    const a = await pacBayesFlatness(obj.value, theta, { target: 0.1, samples: 4, seed: 5, stream: 1 });
    const b = await pacBayesFlatness(obj.value, theta, { target: 0.1, samples: 4, seed: 5, stream: 1 });
    const c = await pacBayesFlatness(obj.value, theta, { target: 0.1, samples: 4, seed: 5, stream: 2 });
    expect(a).toEqual(b);
    expect(a.resolved && c.resolved && a.sigma !== c.sigma).toBe(true);
  });

  it("a quantity that never rises, or always rises past d, is reported unresolved with the reason", async () => {
    const theta = new Float64Array(3);
    const flat = await pacBayesFlatness(async () => 0.5, theta, { target: 0.1, samples: 2, seed: 1, maxSigma: 10 });
    expect(flat.resolved).toBe(false);
    if (!flat.resolved) expect(flat.reason).toMatch(/stays within 0.1 up to σ = /);
    let calls = 0;
    const jumpy = await pacBayesFlatness(async () => (calls++ === 0 ? 0 : 1), theta, { target: 0.1, samples: 2, seed: 1, minSigma: 1e-4 });
    expect(jumpy.resolved).toBe(false);
    if (!jumpy.resolved) expect(jumpy.reason).toMatch(/exceeds 0.1 down to σ = /);
  });

  it("refuses a target, sample count or bracket that cannot work, naming it", async () => {
    const theta = new Float64Array(2);
    const f = async () => 0;
    await expect(pacBayesFlatness(f, theta, { target: 0, samples: 4, seed: 1 })).rejects.toThrow(/target must be a finite number > 0/);
    await expect(pacBayesFlatness(f, theta, { target: 0.1, samples: 1, seed: 1 })).rejects.toThrow(/samples must be an integer ≥ 2/);
    await expect(pacBayesFlatness(f, theta, { target: 0.1, samples: 4, seed: 1, start: 1, maxSigma: 0.5 })).rejects.toThrow(/minSigma ≤ start ≤ maxSigma/);
  });
});

describe("PAC-Bayes flatness of a model on the GradientEngine (cpu backend)", () => {
  const ds = makeSyntheticDataset({ n: 64, features: 4, classes: 3, seed: 11 });
  const all = Array.from({ length: 64 }, (_, i) => i);
  let engine: GradientEngine;
  beforeAll(async () => {
    await selectBackend(tf, "cpu");
    engine = await GradientEngine.create(tf, mlpSnapshot({ layers: [4, 8, 3], activation: "tanh", seed: 2, init: "glorot_uniform" }), ds);
    // Full-batch gradient descent first, so that the error is well below chance and a
    // perturbation can raise it by the target.
    const theta = await engine.trainableVector();
    for (let step = 0; step < 200; step++) {
      const g = await engine.gradientOver(all);
      for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - 0.5 * g[i]!;
      engine.setTrainable(theta);
    }
  });
  afterAll(() => engine?.dispose());

  it("by loss rise and by error rise (a step function of σ): the bracket and the interval hold when re-evaluated; θ is restored", async () => {
    const theta0 = await engine.trainableVector();
    expect(1 - (await engine.lossAt(all)).accuracy).toBeLessThan(0.3);
    for (const [what, evaluate] of [
      ["loss", modelObjective(engine, all).value],
      ["error", modelError(engine, all)],
    ] as const) {
      const o = { target: 0.1, samples: 8, seed: 3, magnitude: { epsilon: 0.01 } };
      const r = await onModel(engine, (theta) => pacBayesFlatness(evaluate, theta, o));
      expect(Array.from(await engine.trainableVector()), what).toEqual(Array.from(theta0));
      if (!r.resolved) throw new Error(`${what}: ${r.reason}`);
      const theta = Float64Array.from(theta0);
      const scale = Float64Array.from(theta, (t) => Math.abs(t) + 0.01);
      const lo = await riseAt(evaluate, theta, r.base, scale, r.bracket[0], 8, 3, 0);
      const hi = await riseAt(evaluate, theta, r.base, scale, r.bracket[1], 8, 3, 0);
      expect(lo.rise, what).toBeLessThanOrEqual(0.1);
      expect(hi.rise, what).toBeGreaterThan(0.1);
      expect(r.sigmaCi95[0], what).toBeGreaterThan(0);
      expect(r.sigmaCi95[0], what).toBeLessThan(r.bracket[0]);
      expect(r.sigmaCi95[1], what).toBeGreaterThan(r.bracket[1]);
      expect(Number.isFinite(r.sigmaCi95[1]), what).toBe(true);
      engine.setTrainable(theta0);
    }
  });
});
