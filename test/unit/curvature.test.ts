import { beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { defaultStep, hessianVectorProduct, hutchinsonTrace, powerIteration, type GradientOracle } from "../../src/measures/curvature.js";
import { flattenGradient, lossAndGradient, parameterCount, type Mlp64 } from "../../src/model/reference64.js";
import { Rng } from "../../src/util/rng.js";

// ---------------------------------------------------------------- linear algebra helpers

function matVec(a: Float64Array, n: number, v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** ‖a − b‖ / ‖b‖ */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s) / norm(b);
}

function absCos(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.abs(dot(a, b)) / (norm(a) * norm(b));
}

function normals(n: number, rng: Rng, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => scale * rng.nextNormal());
}

/** A = Q diag(eigs) Qᵀ with Q a seeded random orthogonal matrix (Gram–Schmidt, twice). */
function symmetricWithSpectrum(eigs: number[], seed: number): Float64Array {
  const n = eigs.length;
  const rng = new Rng(seed, 1);
  const q: Float64Array[] = [];
  while (q.length < n) {
    const v = normals(n, rng);
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        const c = dot(u, v);
        for (let i = 0; i < n; i++) v[i]! -= c * u[i]!;
      }
    }
    const m = norm(v);
    for (let i = 0; i < n; i++) v[i]! /= m;
    q.push(v);
  }
  const a = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const u = q[k]!;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j]! += eigs[k]! * u[i]! * u[j]!;
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j]! + a[j * n + i]!);
  return a;
}

/** Cyclic Jacobi: eigenvalues and (column) eigenvectors of a symmetric n×n matrix. */
function jacobiEigen(input: Float64Array, n: number): { values: number[]; vectors: Float64Array[] } {
  const a = Float64Array.from(input);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (const x of a) scale += x * x;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += a[i * n + j]! ** 2;
    if (off <= 1e-30 * scale) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return {
    values: Array.from({ length: n }, (_, i) => a[i * n + i]!),
    vectors: Array.from({ length: n }, (_, k) => Float64Array.from({ length: n }, (_, i) => v[i * n + k]!)),
  };
}

/** The eigenpair of largest |λ| (and the largest |λ| among the rest, for the gap). */
function dominant(a: Float64Array, n: number): { lambda: number; vector: Float64Array; second: number } {
  const { values, vectors } = jacobiEigen(a, n);
  const order = values.map((_, i) => i).sort((i, j) => Math.abs(values[j]!) - Math.abs(values[i]!));
  return { lambda: values[order[0]!]!, vector: vectors[order[0]!]!, second: values[order[1]!]! };
}

function spectralNorm(a: Float64Array, n: number): number {
  return Math.max(...jacobiEigen(a, n).values.map(Math.abs));
}

function trace(a: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i * n + i]!;
  return s;
}

/** f(θ) = ½ θᵀAθ − bᵀθ: gradient Aθ − b in float64, counting the calls. */
function quadratic(a: Float64Array, b: Float64Array): { oracle: GradientOracle; calls: () => number } {
  const n = b.length;
  let calls = 0;
  return {
    oracle: async (theta) => {
      calls++;
      const g = matVec(a, n, theta);
      for (let i = 0; i < n; i++) g[i]! -= b[i]!;
      return g;
    },
    calls: () => calls,
  };
}

// ---------------------------------------------------------------- quadratic models

const P = 20;

/** Spectra: clear top (10 vs 6), indefinite with top −12 (vs 7), a near-degenerate top pair. */
function spectrum(kind: "pd" | "indefinite" | "degenerate", seed: number): number[] {
  const rng = new Rng(seed, 2);
  const rest = (lo: number, hi: number, k: number) => Array.from({ length: k }, () => lo + (hi - lo) * rng.nextFloat());
  switch (kind) {
    case "pd":
      return [10, 6, ...rest(0.1, 5, P - 2)];
    case "indefinite":
      return [-12, 7, -6.5, ...rest(-6, 6, P - 3)];
    case "degenerate":
      return [10, 9.999, ...rest(0.1, 5, P - 2)];
  }
}

function setup(kind: "pd" | "indefinite" | "degenerate", seed: number) {
  const a = symmetricWithSpectrum(spectrum(kind, seed), seed);
  const rng = new Rng(seed, 3);
  const b = normals(P, rng);
  const theta = Float32Array.from(normals(P, rng)); // a float32 θ of order one
  return { a, b, theta, ...quadratic(a, b) };
}

describe("test helpers", () => {
  it("Jacobi recovers the constructed spectra", () => {
    for (const kind of ["pd", "indefinite", "degenerate"] as const) {
      const eigs = spectrum(kind, 11).sort((x, y) => x - y);
      const got = jacobiEigen(symmetricWithSpectrum(spectrum(kind, 11), 11), P).values.sort((x, y) => x - y);
      for (let i = 0; i < P; i++) expect(Math.abs(got[i]! - eigs[i]!)).toBeLessThan(1e-12 * 12);
    }
  });
});

describe("hessianVectorProduct on a quadratic (exact up to rounding)", () => {
  const { a, oracle, calls } = setup("pd", 5);
  const v = normals(P, new Rng(5, 4), 3); // not a unit vector: checks the ‖v‖ scaling
  const exact = matVec(a, P, v);

  it("equals A v to 1e-6 at θ = 0 for steps from 1e-4 to 10 (only the step is rounded)", async () => {
    const zero = new Float32Array(P);
    for (const h of [1e-4, 1e-3, 1e-2, 0.1, 1, 10]) {
      const hv = await hessianVectorProduct(oracle, zero, v, { h });
      expect(relErr(hv, exact)).toBeLessThan(1e-6);
    }
  });

  it("at a float32 θ of order one: 1e-6 for h ≥ 0.25, and within the float32 rounding bound for every h", async () => {
    const { theta } = setup("pd", 5);
    const thetaNorm = norm(theta);
    const unit = v.map((x) => x / norm(v));
    // |δ_i| ≤ 2⁻²⁴(|θ₊,i| + |θ₋,i|) ⇒ ‖δ‖ ≤ 2⁻²³(‖θ‖ + h); error ≲ ‖A‖·‖δ‖/(2h) / ‖A v̂‖, ×2 for the normalization.
    const amplification = spectralNorm(a, P) / norm(matVec(a, P, unit));
    for (const h of [1e-3, 1e-2, 0.1, 0.25, 1, 4]) {
      const err = relErr(await hessianVectorProduct(oracle, theta, v, { h }), exact);
      const bound = (2 * amplification * 2 ** -23 * (thetaNorm + h)) / (2 * h);
      expect(err).toBeLessThan(bound);
      if (h >= 0.25) expect(err).toBeLessThan(1e-6);
    }
  });

  it("returns 0 for v = 0 without calling the oracle, and calls it twice otherwise", async () => {
    const before = calls();
    const hv = await hessianVectorProduct(oracle, new Float32Array(P), new Float64Array(P), { h: 0.01 });
    expect(Array.from(hv)).toEqual(new Array(P).fill(0));
    expect(calls()).toBe(before);
    await hessianVectorProduct(oracle, new Float32Array(P), v, { h: 0.01 });
    expect(calls()).toBe(before + 2);
  });

  it("refuses bad input and a step that float32 rounding would swallow", async () => {
    const theta = new Float32Array(P);
    await expect(hessianVectorProduct(oracle, theta, new Float64Array(P - 1), { h: 0.01 })).rejects.toThrow(RangeError);
    await expect(hessianVectorProduct(oracle, theta, v, { h: 0 })).rejects.toThrow(RangeError);
    await expect(hessianVectorProduct(oracle, theta, v, { h: NaN })).rejects.toThrow(RangeError);
    await expect(hessianVectorProduct(oracle, new Float32Array(0), new Float64Array(0), { h: 0.01 })).rejects.toThrow(RangeError);
    const big = new Float32Array(P).fill(1000); // ulp(1000) ≈ 6e-5 ≫ h/√P
    await expect(hessianVectorProduct(oracle, big, v, { h: 1e-5 })).rejects.toThrow(/too small for float32/);
    const short: GradientOracle = async () => new Float64Array(P - 1);
    await expect(hessianVectorProduct(short, theta, v, { h: 0.01 })).rejects.toThrow(/returned 19 values/);
    const nan: GradientOracle = async () => new Float64Array(P).fill(NaN);
    await expect(hessianVectorProduct(nan, theta, v, { h: 0.01 })).rejects.toThrow(/non-finite/);
  });
});

describe("powerIteration on quadratics", () => {
  it("positive definite with a clear top eigenvalue: λ to 1e-6, vector aligned, converged", async () => {
    const { a, theta, oracle } = setup("pd", 21);
    const ref = dominant(a, P);
    expect(ref.lambda).toBeCloseTo(10, 10);
    const r = await powerIteration(oracle, theta, { maxIterations: 200, tolerance: 1e-8, h: defaultStep(theta), seed: 1 });
    expect(Math.abs(r.lambda - ref.lambda) / Math.abs(ref.lambda)).toBeLessThan(1e-6);
    expect(absCos(r.vector, ref.vector)).toBeGreaterThan(0.999);
    expect(norm(r.vector)).toBeCloseTo(1, 12);
    expect(r.converged).toBe(true);
    // RQ change ~ 0.6^(2k): tolerance 1e-8 needs ~15-20 products, far below the cap.
    expect(r.iterations).toBeGreaterThan(5);
    expect(r.iterations).toBeLessThan(60);
    // residual = ‖Hq − λq‖ is genuine (recomputed with the exact A) and small.
    const hq = matVec(a, P, r.vector);
    const trueResidual = norm(hq.map((x, i) => x - r.lambda * r.vector[i]!));
    expect(Math.abs(r.residual - trueResidual)).toBeLessThan(1e-4 * Math.abs(r.lambda));
    expect(r.residual).toBeLessThan(1e-3 * Math.abs(r.lambda));
  });

  it("indefinite with the largest-magnitude eigenvalue negative: returns it with its sign", async () => {
    const { a, theta, oracle } = setup("indefinite", 22);
    const ref = dominant(a, P);
    expect(ref.lambda).toBeCloseTo(-12, 10);
    // At a float32 θ the quotient jitters by ~ε²·|λ| ≈ 1e-9 (ε ≈ 2e-5 from rounding θ ± h v̂),
    // so ask for 1e-8: then λ is within ~1e-8, far inside 1e-6.
    const r = await powerIteration(oracle, theta, { maxIterations: 200, tolerance: 1e-8, h: defaultStep(theta), seed: 2 });
    expect(r.lambda).toBeLessThan(0);
    expect(Math.abs(r.lambda - ref.lambda) / Math.abs(ref.lambda)).toBeLessThan(1e-6);
    expect(absCos(r.vector, ref.vector)).toBeGreaterThan(0.999);
    expect(r.converged).toBe(true);
    expect(r.iterations).toBeLessThan(80);
  });

  it("is exact to 1e-9 at θ = 0 (no rounding of θ), and reproducible from its seed", async () => {
    const { a, oracle } = setup("pd", 23);
    const ref = dominant(a, P);
    const opts = { maxIterations: 300, tolerance: 1e-13, h: 0.01, seed: 3 };
    const r = await powerIteration(oracle, new Float32Array(P), opts);
    expect(Math.abs(r.lambda - ref.lambda) / ref.lambda).toBeLessThan(1e-9);
    const again = await powerIteration(oracle, new Float32Array(P), opts);
    expect(again).toEqual(r);
    const otherStream = await powerIteration(oracle, new Float32Array(P), { ...opts, stream: 7 });
    expect(otherStream.vector).not.toEqual(r.vector);
    expect(Math.abs(otherStream.lambda - ref.lambda) / ref.lambda).toBeLessThan(1e-9);
  });

  describe("near-degenerate top pair (10 vs 9.999)", () => {
    const { a, theta, oracle } = setup("degenerate", 24);
    const { values, vectors } = jacobiEigen(a, P);
    const order = values.map((_, i) => i).sort((i, j) => values[j]! - values[i]!);
    const [u1, u2] = [vectors[order[0]!]!, vectors[order[1]!]!];

    it("at θ = 0 with tolerance 1e-12: honestly not converged in 60 products; λ within the gap, residual ≤ gap/2", async () => {
      const r = await powerIteration(oracle, new Float32Array(P), { maxIterations: 60, tolerance: 1e-12, h: 0.01, seed: 4 });
      // The Rayleigh quotient creeps by ~1e-9 (relative) per product as (9.999/10)^k slowly
      // shifts weight to u1: above the tolerance, so the cap is reached.
      expect(r.converged).toBe(false);
      expect(r.iterations).toBe(60);
      // The rest of the spectrum (≤ 5) is gone ((0.5)^60), so q mixes u1 and u2 only ...
      expect(Math.hypot(dot(r.vector, u1), dot(r.vector, u2))).toBeGreaterThan(0.99999);
      // ... hence λ lies between the two (to rounding), and the residual is at most half the gap.
      expect(r.lambda).toBeGreaterThan(9.999 - 1e-9);
      expect(r.lambda).toBeLessThan(10 + 1e-9);
      expect(r.residual).toBeGreaterThan(1e-5);
      expect(r.residual).toBeLessThanOrEqual(0.0005 + 1e-9);
      // The guarantee stated for `residual`: some eigenvalue lies within it.
      expect(Math.min(...values.map((l) => Math.abs(l - r.lambda)))).toBeLessThanOrEqual(r.residual);
      // The vector is not pinned to u1: it still carries most of u2.
      expect(Math.abs(dot(r.vector, u1))).toBeLessThan(0.9);
    });

    it("with a loose tolerance (1e-8) it reports converged although the vector is mostly u2: only λ is trustworthy", async () => {
      const r = await powerIteration(oracle, theta, { maxIterations: 60, tolerance: 1e-8, h: defaultStep(theta), seed: 4 });
      expect(r.converged).toBe(true);
      expect(r.iterations).toBeLessThan(30);
      expect(Math.abs(dot(r.vector, u1))).toBeLessThan(0.9);
      expect(Math.abs(r.lambda - 10) / 10).toBeLessThan(1.5e-4); // within the gap (1e-4 relative)
      expect(Math.min(...values.map((l) => Math.abs(l - r.lambda)))).toBeLessThanOrEqual(r.residual);
    });
  });

  it("refuses bad options", async () => {
    const { theta, oracle } = setup("pd", 25);
    await expect(powerIteration(oracle, theta, { maxIterations: 0, tolerance: 1e-6, h: 0.01, seed: 1 })).rejects.toThrow(RangeError);
    await expect(powerIteration(oracle, theta, { maxIterations: 10, tolerance: -1, h: 0.01, seed: 1 })).rejects.toThrow(RangeError);
    await expect(powerIteration(oracle, theta, { maxIterations: 10, tolerance: 1e-6, h: 0.01, seed: -1 })).rejects.toThrow(RangeError);
  });

  it("H = 0 gives λ = 0, converged after one product", async () => {
    const zero: GradientOracle = async (t) => new Float64Array(t.length).fill(0.5);
    const r = await powerIteration(zero, new Float32Array(P), { maxIterations: 10, tolerance: 1e-6, h: 0.01, seed: 1 });
    expect(r).toMatchObject({ lambda: 0, iterations: 1, converged: true, residual: 0 });
  });
});

describe("hutchinsonTrace", () => {
  it("mean within a few stderr of tr A (200 probes), stderr near the Rademacher theory", async () => {
    const { a, theta, oracle } = setup("indefinite", 31);
    const r = await hutchinsonTrace(oracle, theta, { probes: 200, h: defaultStep(theta), seed: 5 });
    expect(r.n).toBe(200);
    expect(Math.abs(r.mean - trace(a, P))).toBeLessThan(4 * r.stderr);
    // Var(zᵀAz) = 2 Σ_{i≠j} A_ij² for Rademacher z.
    let off = 0;
    for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) if (i !== j) off += a[i * P + j]! ** 2;
    const theory = Math.sqrt((2 * off) / 200);
    expect(r.stderr / theory).toBeGreaterThan(0.75);
    expect(r.stderr / theory).toBeLessThan(1.25);
  });

  it("diagonal A at θ = 0: every probe gives tr A, stderr exactly 0", async () => {
    const rng = new Rng(32, 1);
    const diag = Array.from({ length: P }, () => 10 * rng.nextNormal());
    const a = new Float64Array(P * P);
    diag.forEach((d, i) => (a[i * P + i] = d));
    const { oracle } = quadratic(a, new Float64Array(P));
    const r = await hutchinsonTrace(oracle, new Float32Array(P), { probes: 50, h: 0.01, seed: 6 });
    expect(r.stderr).toBe(0);
    expect(Math.abs(r.mean - trace(a, P))).toBeLessThan(1e-12 * diag.reduce((s, d) => s + Math.abs(d), 0));
  });

  it("diagonal A at a float32 θ of order one: stderr is only float32 rounding of θ, ~1e-6 of |tr A|", async () => {
    const rng = new Rng(33, 1);
    const diag = Array.from({ length: P }, () => 10 * rng.nextNormal());
    const a = new Float64Array(P * P);
    diag.forEach((d, i) => (a[i * P + i] = d));
    const { oracle } = quadratic(a, normals(P, rng));
    const theta = Float32Array.from(normals(P, rng));
    const r = await hutchinsonTrace(oracle, theta, { probes: 50, h: defaultStep(theta), seed: 7 });
    const scale = diag.reduce((s, d) => s + Math.abs(d), 0);
    expect(r.stderr).toBeLessThan(1e-4 * scale);
    expect(Math.abs(r.mean - trace(a, P))).toBeLessThan(1e-4 * scale);
  });

  it("one probe: stderr NaN; refuses zero probes", async () => {
    const { theta, oracle } = setup("pd", 34);
    expect((await hutchinsonTrace(oracle, theta, { probes: 1, h: 0.01, seed: 1 })).stderr).toBeNaN();
    await expect(hutchinsonTrace(oracle, theta, { probes: 0, h: 0.01, seed: 1 })).rejects.toThrow(RangeError);
  });
});

describe("defaultStep", () => {
  it("is cbrt(eps32)·max(1, rms θ)", () => {
    const c = Math.cbrt(2 ** -23);
    expect(defaultStep(new Float32Array([0.01, -0.02, 0.03]))).toBe(c);
    expect(defaultStep(new Float32Array([3, -3, 3, -3]))).toBeCloseTo(3 * c, 15);
    expect(() => defaultStep(new Float32Array(0))).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- a non-quadratic loss

describe("non-quadratic: a 5-4-3 tanh MLP against a float64 reference Hessian", () => {
  const FEATURES = 5;
  const data = makeSyntheticDataset({ n: 24, features: FEATURES, classes: 3, seed: 41 });
  const batch = [0, 2, 3, 5, 8, 13, 21, 22];
  const rng = new Rng(41, 5);
  const model: Mlp64 = {
    layers: [
      { name: "dense_1", inputs: 5, units: 4, activation: "tanh", kernel: normals(20, rng, 1.5 / Math.sqrt(5)), bias: normals(4, rng, 0.3) },
      { name: "dense_2", inputs: 4, units: 3, activation: "linear", kernel: normals(12, rng, 1.5 / Math.sqrt(4)), bias: normals(3, rng, 0.3) },
    ],
  };
  const n = parameterCount(model); // 39

  /** Writes the flat θ (flattenGradient's order: per layer, kernel then bias) into the model. */
  function setFlat(theta: ArrayLike<number>): void {
    let at = 0;
    for (const layer of model.layers) {
      for (const p of [layer.kernel, layer.bias]) for (let i = 0; i < p.length; i++) p[i] = theta[at++]!;
    }
    if (at !== theta.length) throw new Error(`θ has ${theta.length} values, the model ${at}`);
  }
  function getFlat(): Float64Array {
    return Float64Array.from(model.layers.flatMap((l) => [...l.kernel, ...l.bias]));
  }
  const gradient64 = (theta: ArrayLike<number>): Float64Array => {
    setFlat(theta);
    return flattenGradient(lossAndGradient(model, data.x, data.y, batch, FEATURES).grads);
  };
  /** The float64 gradient of the fixed minibatch at a float32 θ. */
  const oracle: GradientOracle = async (theta) => gradient64(theta);
  /** As a float32 worker would return it: the same gradient rounded to float32. */
  const oracle32: GradientOracle = async (theta) => Float64Array.from(Float32Array.from(gradient64(theta)));

  const theta32 = Float32Array.from(getFlat());
  let hessian: Float64Array;
  let ref: ReturnType<typeof dominant>;

  beforeAll(() => {
    // Reference: central differences of the float64 gradient, float64 θ, h = 1e-5
    // (truncation ~h²·f''' ~ 1e-10, rounding ~1e-16/h ~ 1e-11), at θ32's exact values.
    const h = 1e-5;
    hessian = new Float64Array(n * n);
    const base = Float64Array.from(theta32);
    for (let j = 0; j < n; j++) {
      const t = Float64Array.from(base);
      t[j] = base[j]! + h;
      const up = gradient64(t);
      t[j] = base[j]! - h;
      const down = gradient64(t);
      for (let i = 0; i < n; i++) hessian[i * n + j] = (up[i]! - down[i]!) / (2 * h);
    }
    let asym = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) asym = Math.max(asym, Math.abs(hessian[i * n + j]! - hessian[j * n + i]!));
    expect(asym).toBeLessThan(1e-8 * spectralNorm(hessian, n));
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) hessian[i * n + j] = hessian[j * n + i] = 0.5 * (hessian[i * n + j]! + hessian[j * n + i]!);
    ref = dominant(hessian, n);
    setFlat(theta32);
  });

  it("hessianVectorProduct through float32 θ with defaultStep matches H v to 1e-3 (float64 and float32 gradients)", async () => {
    const h = defaultStep(theta32);
    const vrng = new Rng(42, 1);
    const vs = [...Array.from({ length: 5 }, () => normals(n, vrng)), ref.vector];
    for (const v of vs) {
      const exact = matVec(hessian, n, v);
      expect(relErr(await hessianVectorProduct(oracle, theta32, v, { h }), exact)).toBeLessThan(1e-3);
      expect(relErr(await hessianVectorProduct(oracle32, theta32, v, { h }), exact)).toBeLessThan(1e-3);
    }
  });

  it("defaultStep is near the best step when gradients are float32", async () => {
    const v = normals(n, new Rng(43, 1));
    const exact = matVec(hessian, n, v);
    const errAt = async (h: number) => relErr(await hessianVectorProduct(oracle32, theta32, v, { h }), exact);
    const sweep: number[] = [];
    for (let e = -4; e <= -1; e += 0.5) sweep.push(await errAt(10 ** e));
    const atDefault = await errAt(defaultStep(theta32));
    expect(atDefault).toBeLessThan(10 * Math.min(...sweep));
    // The ends of the sweep are clearly worse: rounding at 1e-4, truncation at 1e-1.
    expect(sweep[0]!).toBeGreaterThan(3 * atDefault);
    expect(sweep[sweep.length - 1]!).toBeGreaterThan(3 * atDefault);
  });

  it("powerIteration's λ matches the reference dominant eigenvalue to 1e-3", async () => {
    expect(Math.abs(ref.second / ref.lambda)).toBeLessThan(0.9); // a gap power iteration can resolve
    for (const o of [oracle, oracle32]) {
      const r = await powerIteration(o, theta32, { maxIterations: 300, tolerance: 1e-9, h: defaultStep(theta32), seed: 9 });
      expect(Math.abs(r.lambda - ref.lambda) / Math.abs(ref.lambda)).toBeLessThan(1e-3);
      expect(absCos(r.vector, ref.vector)).toBeGreaterThan(0.999);
    }
  });
});
