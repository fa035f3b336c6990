// The worker's curvature job (runCurvature in src/worker/jobs.ts) end to end on the cpu
// backend: power iteration and Hutchinson's trace on finite-difference Hessian-vector
// products of GradientEngine gradients (float32), against the exact Hessian of the same
// minibatch loss built here in float64: central differences (h = 1e-5) of the float64
// reference gradients (src/model/reference64.ts), symmetrized, and diagonalized by cyclic
// Jacobi rotations. Also: θ is restored after the job, and an item's result does not
// depend on the other items of its task.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { flattenGradient, lossAndGradient, type Mlp64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import type { CurvatureItem } from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import type { Job } from "../../src/worker/compute-messages.js";
import { GradientEngine } from "../../src/worker/gradients.js";
import { runCurvature } from "../../src/worker/jobs.js";

type CurvatureJob = Extract<Job, { type: "curvature" }>;

const FEATURES = 6;
const LAYERS = [FEATURES, 5, 3];
const N = 40;
const PROBES = 256;

let root: string;
let ds: Dataset;
let snap: Snapshot;
let ref: Mlp64;
let engine: GradientEngine;

function snapshotWithBiases(): Snapshot {
  const s = mlpSnapshot({ layers: LAYERS, activation: "tanh", seed: 8, init: "glorot_uniform" });
  const rng = new Rng(8, 99);
  const views = weightViews(s);
  s.weights.forEach((w, i) => {
    if (w.name.endsWith("/bias")) for (let k = 0; k < views[i]!.length; k++) views[i]![k] = 0.2 * rng.nextNormal();
  });
  return s;
}

/** The parameter vector of an Mlp64 in flattenGradient's order, as views to write into. */
function parameterRefs(m: Mlp64): { arr: Float64Array; at: number }[] {
  const out: { arr: Float64Array; at: number }[] = [];
  for (const l of m.layers) {
    for (let k = 0; k < l.kernel.length; k++) out.push({ arr: l.kernel, at: k });
    for (let k = 0; k < l.bias.length; k++) out.push({ arr: l.bias, at: k });
  }
  return out;
}

/** Exact (to ~1e-10 relative) Hessian of the float64 minibatch loss: central differences of its gradient. */
function hessian(indices: readonly number[]): Float64Array[] {
  const params = parameterRefs(ref);
  const p = params.length;
  const h = 1e-5;
  const grad = () => flattenGradient(lossAndGradient(ref, ds.x, ds.y, indices, FEATURES).grads);
  const H = Array.from({ length: p }, () => new Float64Array(p));
  for (let k = 0; k < p; k++) {
    const { arr, at } = params[k]!;
    const v = arr[at]!;
    arr[at] = v + h;
    const gp = grad();
    arr[at] = v - h;
    const gm = grad();
    arr[at] = v;
    for (let j = 0; j < p; j++) H[j]![k] = (gp[j]! - gm[j]!) / (2 * h);
  }
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) {
      const s = (H[i]![j]! + H[j]![i]!) / 2;
      H[i]![j] = H[j]![i] = s;
    }
  }
  return H;
}

/** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (float64), ascending. */
function jacobiEigenvalues(input: Float64Array[]): number[] {
  const n = input.length;
  const a = input.map((r) => Float64Array.from(r));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i]![j]! ** 2;
    if (off < 1e-26) break;
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
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i]![i]!).sort((x, y) => x - y);
}

/**
 * Hutchinson's estimate on the exact H with the probes the worker draws: Rademacher signs
 * from Rng(seed, 2·item + 1) (jobs.ts), one bit of nextUint32 per coordinate, 32 at a time,
 * bit 1 → +1 (measures/curvature.ts). It separates the HVPs' error from the probes' noise.
 */
function sameProbesTrace(H: Float64Array[], seed: number, stream: number, probes: number): number {
  const rng = new Rng(seed, stream);
  const p = H.length;
  const z = new Float64Array(p);
  let sum = 0;
  for (let n = 0; n < probes; n++) {
    let bits = 0;
    for (let i = 0; i < p; i++) {
      if (i % 32 === 0) bits = rng.nextUint32();
      z[i] = bits & 1 ? 1 : -1;
      bits >>>= 1;
    }
    for (let i = 0; i < p; i++) {
      let hz = 0;
      for (let j = 0; j < p; j++) hz += H[i]![j]! * z[j]!;
      sum += z[i]! * hz;
    }
  }
  return sum / probes;
}

function job(items: { id: number; indices: number[] }[], probes = PROBES): CurvatureJob {
  return { type: "curvature", items, maxIterations: 500, tolerance: 1e-7, probes, step: 0, seed: 31 };
}

const minibatch = new Rng(4, 0).sampleWithoutReplacement(N, 10);
const full = Array.from({ length: N }, (_, i) => i);

beforeAll(async () => {
  await selectBackend(tf, "cpu");
  root = await mkdtemp(join(tmpdir(), "gradswarm-curvature-engine-"));
  ds = makeSyntheticDataset({ n: N, features: FEATURES, classes: 3, seed: 9 });
  snap = snapshotWithBiases();
  await writeLayersModel(root, snap);
  ref = await loadMlp64FromLayersModel(root);
  engine = await GradientEngine.create(tf, snap, ds);
});

afterAll(async () => {
  engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe("runCurvature on a GradientEngine vs the exact float64 Hessian", () => {
  let results: CurvatureItem[];
  const exact = new Map<number, { lambda: number; trace: number; hutchinsonSd: number; gap: number; sameProbes: number }>();

  beforeAll(async () => {
    for (const [id, indices] of [
      [0, minibatch],
      [1, full],
    ] as const) {
      const H = hessian(indices);
      const ev = jacobiEigenvalues(H);
      const byMagnitude = [...ev].sort((x, y) => Math.abs(y) - Math.abs(x));
      const trace = H.reduce((s, row, i) => s + row[i]!, 0);
      // Rademacher probes: Var(zᵀHz) = 2 Σ_{i≠j} H_ij².
      let off = 0;
      H.forEach((row, i) => row.forEach((v, j) => (off += i === j ? 0 : v * v)));
      expect(Math.abs(ev.reduce((s, v) => s + v, 0) - trace)).toBeLessThan(1e-9 * Math.abs(byMagnitude[0]!) * H.length);
      exact.set(id, {
        lambda: byMagnitude[0]!,
        trace,
        hutchinsonSd: Math.sqrt(2 * off),
        gap: Math.abs(byMagnitude[1]!) / Math.abs(byMagnitude[0]!),
        sameProbes: sameProbesTrace(H, 31, 2 * id + 1, PROBES),
      });
    }
    results = await runCurvature(engine, job([
      { id: 0, indices: minibatch },
      { id: 1, indices: full },
    ]));
  });

  it("finds the dominant eigenvalue within 1e-2 relative, for a minibatch and for the full loss", () => {
    expect(results.map((r) => r.id)).toEqual([0, 1]);
    for (const r of results) {
      const e = exact.get(r.id)!;
      const err = Math.abs(r.lambda - e.lambda) / Math.abs(e.lambda);
      console.log(
        `curvature-engine: item ${r.id}: λ_max ${r.lambda.toPrecision(6)} vs exact ${e.lambda.toPrecision(6)} (|λ₂/λ₁| ${e.gap.toFixed(3)}): relative error ${err.toExponential(2)} after ${r.iterations} products, converged ${r.converged}`,
      );
      expect(r.converged).toBe(true);
      expect(err).toBeLessThan(1e-2);
    }
  });

  it("Hutchinson's trace is within a few standard errors of the exact trace, and its stderr is the predicted one", () => {
    for (const r of results) {
      const e = exact.get(r.id)!;
      const predicted = e.hutchinsonSd / Math.sqrt(PROBES);
      const z = (r.trace - e.trace) / predicted;
      console.log(
        `curvature-engine: item ${r.id}: trace ${r.trace.toPrecision(6)} ± ${r.traceStderr.toPrecision(3)} vs exact ${e.trace.toPrecision(6)} (predicted stderr ${predicted.toPrecision(3)}): z ${z.toFixed(2)}`,
      );
      expect(Math.abs(z)).toBeLessThan(4);
      // The sample stderr of 256 probes estimates the exact one to ~±10% (a spread, not a bias).
      expect(r.traceStderr / predicted).toBeGreaterThan(0.7);
      expect(r.traceStderr / predicted).toBeLessThan(1.3);
      // With the worker's own probes on the exact H, only the products' error is left.
      const hvpErr = Math.abs(r.trace - e.sameProbes) / (Math.abs(e.sameProbes) + e.hutchinsonSd / Math.sqrt(PROBES));
      console.log(`curvature-engine: item ${r.id}: the same ${PROBES} probes on the exact H give ${e.sameProbes.toPrecision(6)}: relative difference ${hvpErr.toExponential(2)}`);
      expect(hvpErr).toBeLessThan(1e-3);
    }
  });

  it("restores θ: the trainable weights and the gradients are those of before, bit for bit", async () => {
    const before = await engine.trainableVector();
    const gBefore = await engine.minibatchGradient(minibatch);
    await runCurvature(engine, job([{ id: 2, indices: minibatch }], 2));
    expect(await engine.trainableVector()).toEqual(before);
    expect(await engine.minibatchGradient(minibatch)).toEqual(gBefore);
    // θ is the snapshot's.
    const snapTrainable = new Float32Array(before.length);
    let at = 0;
    for (const v of weightViews(snap)) {
      snapTrainable.set(v, at);
      at += v.length;
    }
    expect(before).toEqual(snapTrainable);
  });

  it("restores θ when the job fails midway", async () => {
    const before = await engine.trainableVector();
    const err = await runCurvature(engine, job([{ id: 0, indices: [0, N + 5] }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await engine.trainableVector()).toEqual(before);
  });

  it("an item's result does not depend on the other items of its task", async () => {
    const alone = await runCurvature(engine, job([{ id: 1, indices: full }]));
    expect(alone[0]).toEqual(results[1]);
  });
});
