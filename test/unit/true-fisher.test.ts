// The true Fisher diagonal (labels sampled from the model, Kunstner et al. 2019) as the
// project estimates it, against exact enumeration on a model small enough to enumerate.
//
// Exact: F_j = (1/N) Σ_i Σ_y p(y|x_i) (∂_j log p(y|x_i))², from the float64 reference MLP
// (src/model/reference64.ts) with example i's label replaced by y.
//
// Estimator (src/coordinator/measure-subject.ts, fisherPass "true"): pairs of minibatches
// of size B drawn by the pair plan, labels drawn by GradientEngine.sampleLabels (stream
// 2·pair + k), gradients g̃ by GradientEngine.pairGradients, accumulated in VectorStats,
// and F̂_j = B·(minibatch variance_j + mean_j²) = B·mean over the 2n minibatches of g̃_j².
// Why it is unbiased: with labels from the model each score s_i = ∇(−log p(ỹ_i|x_i)) has
// mean 0 given x_i, so the cross terms of ‖Σ_{i∈b} s_i‖² vanish in expectation and
// E[B·g̃_j²] = (1/B) Σ_{i∈b} E[s_ij²] → (1/N) Σ_i F_i,j = F_j over uniform minibatches.
//
// Tolerance. The 2n minibatches are independent draws of X_j = B·g̃_j², whose exact mean
// and variance this test also gets by enumeration (all C(N, B) minibatches × all C^B label
// vectors, weighted by their probabilities). So E X_j = F_j is checked exactly (the
// derivation above), and the estimate is held to its exact standard error: |z| < 4.5 per
// coordinate and for the sum over j, and the sum's relative error < 5% (n is chosen so
// that 5% is at least 3.5 standard errors of the sum; at n = 2500 it is about 7). Seeds are
// fixed, so the test is deterministic; the bounds say how surprising a failure would be.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planPair, type PairPlan } from "../../src/coordinator/sampler.js";
import { VectorStats } from "../../src/coordinator/vector-stats.js";
import type { Dataset } from "../../src/data/dataset.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { flattenGradient, logits64, lossAndGradient, type Mlp64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";

const N = 12;
const FEATURES = 6;
const CLASSES = 3;
const LAYERS = [FEATURES, 5, CLASSES];
const B = 4;
/** Pairs of the estimator (2n minibatch gradients). */
const PAIRS = 2500;
const FISHER_SEED = 101;

let root: string;
let ds: Dataset;
let snap: Snapshot;
let ref: Mlp64;
let engine: GradientEngine;
let P: number;

/** Biases set to small random values, so that every parameter has a gradient. */
function snapshotWithBiases(): Snapshot {
  const s = mlpSnapshot({ layers: LAYERS, activation: "tanh", seed: 5, init: "glorot_uniform" });
  const rng = new Rng(5, 99);
  const views = weightViews(s);
  s.weights.forEach((w, i) => {
    if (w.name.endsWith("/bias")) for (let k = 0; k < views[i]!.length; k++) views[i]![k] = 0.3 * rng.nextNormal();
  });
  return s;
}

function softmax(z: Float64Array, row: number): number[] {
  const zs = Array.from(z.subarray(row * CLASSES, (row + 1) * CLASSES));
  const max = Math.max(...zs);
  const e = zs.map((v) => Math.exp(v - max));
  const t = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / t);
}

/** p(y|x_i) for every example, float64 reference. */
function probabilities(): number[][] {
  const z = logits64(ref, ds.x, Array.from({ length: N }, (_, i) => i), FEATURES);
  return Array.from({ length: N }, (_, i) => softmax(z, i));
}

/** score[i][y] = ∇_θ(−log p(y|x_i)), float64, in the gradient order of the engine. */
function scores(): Float64Array[][] {
  return Array.from({ length: N }, (_, i) =>
    Array.from({ length: CLASSES }, (_, y) => {
      const labels = Int32Array.from(ds.y);
      labels[i] = y;
      return flattenGradient(lossAndGradient(ref, ds.x, labels, [i], FEATURES).grads);
    }),
  );
}

function combinations(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, acc: number[]) => {
    if (acc.length === k) return void out.push([...acc]);
    for (let i = start; i < n; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}

beforeAll(async () => {
  await selectBackend(tf, "cpu");
  root = await mkdtemp(join(tmpdir(), "gradswarm-true-fisher-"));
  ds = makeSyntheticDataset({ n: N, features: FEATURES, classes: CLASSES, seed: 3 });
  snap = snapshotWithBiases();
  await writeLayersModel(root, snap);
  ref = await loadMlp64FromLayersModel(root);
  engine = await GradientEngine.create(tf, snap, ds);
  P = engine.parameterCount;
});

afterAll(async () => {
  engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe("true Fisher diagonal: estimator vs exact enumeration", () => {
  it("sampleLabels draws each example's label with the model's probabilities", async () => {
    const p = probabilities();
    const DRAWS = 3000;
    // Every example DRAWS times in one minibatch: one Rng stream, N·DRAWS labels.
    const indices = Array.from({ length: N * DRAWS }, (_, k) => k % N);
    const labels = await engine.sampleLabels(indices, 17, 0);
    expect(labels).toHaveLength(indices.length);
    const counts = Array.from({ length: N }, () => new Array<number>(CLASSES).fill(0));
    labels.forEach((y, k) => {
      expect(y >= 0 && y < CLASSES).toBe(true);
      counts[k % N]![y]!++;
    });
    // χ² with C − 1 = 2 degrees of freedom per example: P(χ² > 18.42) = 1e-4.
    const chi = (obs: number[], q: number[]) => obs.reduce((s, o, y) => s + (o - DRAWS * q[y]!) ** 2 / (DRAWS * q[y]!), 0);
    let worst = 0;
    let againstUniform = 0;
    for (let i = 0; i < N; i++) {
      const c = chi(counts[i]!, p[i]!);
      worst = Math.max(worst, c);
      expect(c, `example ${i}: counts ${counts[i]} for p = ${p[i]!.map((v) => v.toFixed(3))}`).toBeLessThan(18.42);
      againstUniform = Math.max(againstUniform, chi(counts[i]!, [1 / 3, 1 / 3, 1 / 3]));
    }
    // The check has power: the same counts are far from a uniform draw.
    expect(againstUniform).toBeGreaterThan(100);

    // One draw per stream, many streams (as pairGradients uses them): the same law.
    const STREAMS = 1500;
    const i = p.reduce((best, q, k) => (Math.min(...q) > Math.min(...p[best]!) ? k : best), 0); // the least peaked example
    const perStream = new Array<number>(CLASSES).fill(0);
    for (let s = 0; s < STREAMS; s++) perStream[(await engine.sampleLabels([i], 23, s))[0]!]!++;
    const cStreams = perStream.reduce((acc, o, y) => acc + (o - STREAMS * p[i]![y]!) ** 2 / (STREAMS * p[i]![y]!), 0);
    expect(cStreams, `streams: counts ${perStream} for p = ${p[i]}`).toBeLessThan(18.42);
    // Seeded: the same (seed, stream) gives the same labels; another stream others.
    expect(await engine.sampleLabels(indices.slice(0, 60), 17, 0)).toEqual(labels.slice(0, 60));
    expect(await engine.sampleLabels(indices.slice(0, 60), 17, 1)).not.toEqual(labels.slice(0, 60));
    console.log(`true-fisher: sampleLabels χ² (2 dof): largest over ${N} examples × ${DRAWS} draws ${worst.toFixed(2)}, over ${STREAMS} streams ${cStreams.toFixed(2)}`);
  });

  // Regression: sampleLabels once gathered empty or half examples for indices outside
  // the dataset instead of refusing them as lossAt and minibatchGradient do.
  it("sampleLabels refuses example indices outside the dataset, like lossAt", async () => {
    for (const bad of [[N], [-1], [1.5]]) {
      await expect(engine.lossAt(bad)).rejects.toThrow(/outside the dataset|index/);
      await expect(engine.sampleLabels(bad, 1, 0)).rejects.toThrow(/outside the dataset|index/);
    }
  });

  it(`B·mean(g̃_j²) over ${PAIRS} pairs with sampled labels (minibatches of ${B}) matches the exact F_true within its standard error`, async () => {
    const p = probabilities();
    const s = scores();
    expect(s[0]![0]!.length).toBe(P);

    // Exact F_j.
    const F = new Float64Array(P);
    for (let i = 0; i < N; i++) {
      for (let y = 0; y < CLASSES; y++) for (let j = 0; j < P; j++) F[j]! += (p[i]![y]! * s[i]![y]![j]! ** 2) / N;
    }

    // Exact mean and variance of X_j = B·g̃_j² and of S = Σ_j X_j over (minibatch, labels).
    const EX = new Float64Array(P);
    const EX2 = new Float64Array(P);
    let ES = 0;
    let ES2 = 0;
    const subsets = combinations(N, B);
    const labelings = CLASSES ** B;
    const g = new Float64Array(P);
    for (const b of subsets) {
      for (let code = 0; code < labelings; code++) {
        let w = 1 / subsets.length;
        g.fill(0);
        let c = code;
        for (const i of b) {
          const y = c % CLASSES;
          c = Math.floor(c / CLASSES);
          w *= p[i]![y]!;
          const si = s[i]![y]!;
          for (let j = 0; j < P; j++) g[j]! += si[j]! / B;
        }
        let S = 0;
        for (let j = 0; j < P; j++) {
          const x = B * g[j]! * g[j]!;
          EX[j]! += w * x;
          EX2[j]! += w * x * x;
          S += x;
        }
        ES += w * S;
        ES2 += w * S * S;
      }
    }
    // The derivation: E[B·g̃_j²] = F_j exactly.
    for (let j = 0; j < P; j++) expect(Math.abs(EX[j]! - F[j]!)).toBeLessThanOrEqual(1e-12 * F[j]! + 1e-300);
    const traceF = F.reduce((a, b) => a + b, 0);
    expect(Math.abs(ES - traceF) / traceF).toBeLessThan(1e-12);
    const K = 2 * PAIRS;
    const sumStderr = Math.sqrt((ES2 - ES * ES) / K);
    // 5% is ≥ 3.5 standard errors of the sum at this n (CV of S from the enumeration).
    expect(0.05 * traceF).toBeGreaterThan(3.5 * sumStderr);

    // The project's estimator, as measure-subject.ts runs it.
    const plan: PairPlan = { seed: FISHER_SEED, count: PAIRS, datasetSize: N, batchSize: B, pairing: "independent" };
    const stats = new VectorStats({ tensors: engine.tensors, tensorSizes: engine.tensorSizes }, { datasetSize: N, batchSize: B, pairing: "independent" });
    const direct = new Float64Array(P);
    for (let id = 0; id < PAIRS; id++) {
      const { g1, g2 } = await engine.pairGradients({ id, batches: planPair(plan, id) }, { labels: "sampled", labelSeed: FISHER_SEED, metrics: [] });
      g1.forEach((_, w) => stats.add(`lease-${id}`, id, w, 0, g1[w]!, g2[w]!));
      stats.commit(`lease-${id}`);
      let at = 0;
      for (let w = 0; w < g1.length; w++) {
        for (let k = 0; k < g1[w]!.length; k++, at++) direct[at]! += (B * (g1[w]![k]! ** 2 + g2[w]![k]! ** 2)) / K;
      }
    }
    const { minibatchVariance } = stats.perParameter();
    const mean = stats.meanGradient();
    const estimate = new Float64Array(P);
    for (let j = 0; j < P; j++) estimate[j] = B * (minibatchVariance[j]! + mean[j]! * mean[j]!);
    // measure-subject's form is B·mean(g̃²) (its mean² is rounded to float32: ~1e-7).
    for (let j = 0; j < P; j++) expect(Math.abs(estimate[j]! - direct[j]!) / direct[j]!).toBeLessThan(1e-6);

    let worstZ = 0;
    let worstRel = 0;
    for (let j = 0; j < P; j++) {
      const se = Math.sqrt((EX2[j]! - EX[j]! ** 2) / K);
      const z = (estimate[j]! - F[j]!) / se;
      worstZ = Math.max(worstZ, Math.abs(z));
      worstRel = Math.max(worstRel, Math.abs(estimate[j]! - F[j]!) / F[j]!);
      expect(Math.abs(z), `parameter ${j}: estimate ${estimate[j]}, exact ${F[j]}, stderr ${se}`).toBeLessThan(4.5);
    }
    const sum = estimate.reduce((a, b) => a + b, 0);
    const relSum = Math.abs(sum - traceF) / traceF;
    const zSum = (sum - traceF) / sumStderr;
    expect(Math.abs(zSum)).toBeLessThan(4.5);
    expect(relSum).toBeLessThan(0.05);

    // It is the true Fisher, not the empirical one: the empirical diagonal (observed labels)
    // differs from F_true here by many standard errors.
    const empirical = new Float64Array(P);
    for (let i = 0; i < N; i++) for (let j = 0; j < P; j++) empirical[j]! += s[i]![ds.y[i]!]![j]! ** 2 / N;
    const empiricalSum = empirical.reduce((a, b) => a + b, 0);
    expect(Math.abs(empiricalSum - traceF)).toBeGreaterThan(6 * sumStderr);
    console.log(
      `true-fisher: tr F_true ${traceF.toPrecision(5)} (empirical ${empiricalSum.toPrecision(5)}), estimate ${sum.toPrecision(5)} from ${K} minibatches: ` +
        `relative error ${relSum.toExponential(2)} (z ${zSum.toFixed(2)}, stderr ${(sumStderr / traceF).toExponential(2)} relative); ` +
        `per coordinate: largest |z| ${worstZ.toFixed(2)} over ${P}, largest relative error ${worstRel.toExponential(2)}`,
    );
  });
});
