// Everything the config asks to measure at one θ (the model itself, or one of its
// function-preserving twins): the Fisher passes, the pairs, curvature, landscapes, each
// as a phase run by the dispatcher, resumable from the journal.

import { chunkCount, combineChunks, evaluationPhase } from "./phases/evaluation-phase.js";
import { meanEstimate } from "./estimators/sample-mean.js";
import { encodeVector } from "../model/vector-blob.js";
import { trainableTensorSizes, type Snapshot } from "../model/snapshot.js";
import { planGrid, randomDirection, type GridPoint, type Normalization } from "../measures/landscape.js";
import type { BlobStore } from "../nats/blob-store.js";
import type { BlobRef, CurvatureItem, DatasetRef } from "../protocol/index.js";
import { Rng } from "../util/rng.js";
import type { RunConfig } from "./config/load.js";
import type { Dispatcher } from "./dispatcher.js";
import type { Estimate, Sampling } from "./estimators/index.js";
import type { Journal, JournalLine, RecoveredJournal } from "./journal.js";
import { PairRecords } from "./pair-records.js";
import { curvaturePhase } from "./phases/curvature-phase.js";
import { landscapePhase, type PointValue } from "./phases/landscape-phase.js";
import { pairsPhase } from "./phases/pairs-phase.js";
import { recoverCurvature, recoverLandscape, recoverPairs } from "./phases/recover.js";
import { tensorsToLayers, type LayerPairRecord } from "./layer-groups.js";
import { byLayer, byTensor, reducePairs, type Reduction } from "./reduce.js";
import type { PairPlan } from "./sampler.js";
import type { TaskTableOptions } from "./task-table.js";
import { VectorStats, type VectorStatsResult } from "./vector-stats.js";

export type FisherKind = "empirical" | "true";

export interface Subject {
  /** "theta", or "twin-a2" for the α = 2 twin: phase names and files use it. */
  key: string;
  alpha: number | null;
  snapshot: Snapshot;
  ref: BlobRef;
}

export interface RunContext {
  cfg: RunConfig;
  plan: PairPlan;
  datasetSize: number;
  dataset: DatasetRef;
  /** The held-out set in the object store and its size; null without cfg.test. */
  testSet: { ref: DatasetRef; n: number } | null;
  dispatcher: Dispatcher;
  blobs: BlobStore;
  journal: Journal;
  recovered: RecoveredJournal | null;
  table: TaskTableOptions;
  log: (line: string) => void;
  /** Called when a phase starts, with its name and units of work. */
  onPhase: (name: string, units: number, done: () => number) => void;
}

export interface FisherInfo {
  pairs: number;
  batch_size: number;
  parameters: number;
  /** Parameters where the diagonal is 0 (no gradient seen there): left out of the metric. */
  zero_parameters: number;
  mean: number;
}

export interface CurvatureSummary {
  /** E_b λ_max(H_b) / λ_max(H̄): stderr from the minibatches' spread, λ(H̄) taken as exact. */
  curvature_contrast: Estimate;
  minibatch_lambda_max: Estimate;
  /** null when its products crossed kinks. */
  full_lambda_max: number | null;
  full_converged: boolean;
  minibatch_hessian_trace: Estimate;
  /** Hutchinson's estimate over `probes` Rademacher probes; null when its products crossed kinks. */
  full_hessian_trace: { mean: number; stderr: number; probes: number } | null;
  unconverged: number;
  /** Items whose Hessian-vector products crossed a kink of the loss (left out: unreliable). */
  kinked_minibatches: number;
  full_kinked: boolean;
  full_examples: number;
}

export interface Generalization {
  train: { loss: number; accuracy: number; examples: number };
  test: { loss: number; accuracy: number; examples: number };
  /** test − train loss, train − test accuracy. */
  gap: { loss: number; accuracy: number };
}

export interface Landscape {
  normalization: Normalization;
  points: GridPoint[];
  values: (PointValue | null)[];
}

export interface SubjectMeasurement {
  subject: Subject;
  /** Pairs with per-layer statistics (tensors summed into layers), for pairs.jsonl. */
  records: LayerPairRecord[];
  layers: string[];
  tensors: string[];
  /** Whole network and per layer. */
  reduction: Reduction;
  /** Per weight tensor (reduction.measures again, with `groups` holding the tensors). */
  tensorReduction: Reduction;
  metrics: Partial<Record<FisherKind, Reduction>>;
  tensorMetrics: Partial<Record<FisherKind, Reduction>>;
  fisher: Partial<Record<FisherKind, FisherInfo>>;
  vectorStats: VectorStatsResult | null;
  /** Per parameter, in the order of `tensors`: ḡ (plug-in mean), σ_j² (per-example variance), GSNR_j. */
  vectorArrays: { meanGradient: Float32Array; variance: Float32Array; gsnr: Float32Array } | null;
  curvature: CurvatureSummary | null;
  landscapes: Landscape[];
  /** θ's train and test loss and accuracy and the gap (cfg.test); null without a test set, and for twins. */
  generalization: Generalization | null;
  pairsRecovered: number;
}

/** θ's layout of gradient vectors: trainable weight tensors in model order. */
function gradientLayout(s: Snapshot): { tensors: string[]; tensorSizes: number[] } {
  const sizes = trainableTensorSizes(s);
  return { tensors: [...sizes.keys()], tensorSizes: [...sizes.values()] };
}

function recoveredLines(ctx: RunContext, phase: string): readonly JournalLine[] {
  return ctx.recovered?.phases.get(phase) ?? [];
}

async function fisherPass(ctx: RunContext, subject: Subject, kind: FisherKind): Promise<{ ref: BlobRef; info: FisherInfo }> {
  const f = ctx.cfg.fisher!;
  const name = `${subject.key}/fisher-${kind}`;
  const layout = gradientLayout(subject.snapshot);
  const size = layout.tensorSizes.reduce((a, b) => a + b, 0);
  const sampling: Sampling = { datasetSize: ctx.datasetSize, batchSize: f.batchSize, pairing: "independent" };
  let diag = ctx.journal.readCheckpoint(name, size);
  if (diag) {
    ctx.log(`${name}: recovered from the journal`);
  } else {
    const stats = new VectorStats(layout, sampling);
    const plan: PairPlan = { seed: f.seed, count: f.pairs, datasetSize: ctx.datasetSize, batchSize: f.batchSize, pairing: "independent" };
    const records = new PairRecords(plan.count);
    const phase = pairsPhase({
      name,
      plan,
      todo: Array.from({ length: plan.count }, (_, i) => i),
      perTask: ctx.cfg.pairs.perTask,
      snapshot: subject.ref,
      dataset: ctx.dataset,
      table: ctx.table,
      labels: kind === "true" ? "sampled" : "observed",
      labelSeed: f.seed,
      metrics: [],
      vectors: true,
      vectorStats: stats,
      tensorSizes: trainableTensorSizes(subject.snapshot),
      journal: ctx.journal,
      records,
    });
    ctx.onPhase(name, plan.count, () => records.size);
    await ctx.dispatcher.run(phase);
    const { G, T, minibatchVariance } = stats.perParameter();
    const mean = stats.meanGradient();
    diag = new Float32Array(size);
    for (let j = 0; j < size; j++) {
      // Empirical: (1/N) Σ_i (∇ℓ_i)_j² = ḡ_j² + σ_j², unbiased from the pairs.
      // True: with labels drawn from the model the per-example scores have mean 0, so the
      // cross terms of a minibatch vanish and E[g̃_b,j²] = F_j / B exactly.
      const value = kind === "empirical" ? G[j]! + T[j]! : f.batchSize * (minibatchVariance[j]! + mean[j]! * mean[j]!);
      diag[j] = Number.isFinite(value) && value > 0 ? value : 0;
    }
    ctx.journal.writeCheckpoint(name, diag);
  }
  const bytes = encodeVector(diag, "metric");
  const put = await ctx.blobs.put(bytes, `gradswarm ${kind} Fisher diagonal`);
  let zeros = 0;
  let total = 0;
  for (const v of diag) {
    if (v === 0) zeros++;
    total += v;
  }
  return { ref: { hash: put.hash, bytes: bytes.length }, info: { pairs: f.pairs, batch_size: f.batchSize, parameters: size, zero_parameters: zeros, mean: total / size } };
}

async function curvature(ctx: RunContext, subject: Subject): Promise<CurvatureSummary> {
  const c = ctx.cfg.curvature!;
  const name = `${subject.key}/curvature`;
  // H̄ is the loss over `full_examples` (a seeded subset, or all); the minibatches are drawn
  // from the same examples, so that E_b H_b = H̄ and the contrast compares like with like.
  const fullCount = Math.min(c.fullExamples ?? ctx.datasetSize, ctx.datasetSize);
  const fullId = c.minibatches;
  const full = fullCount === ctx.datasetSize ? Array.from({ length: fullCount }, (_, i) => i) : new Rng(c.seed, fullId).sampleWithoutReplacement(ctx.datasetSize, fullCount);
  const items = new Map<number, number[]>();
  for (let i = 0; i < c.minibatches; i++) items.set(i, new Rng(c.seed, i).sampleWithoutReplacement(fullCount, Math.min(c.batchSize, fullCount)).map((k) => full[k]!));
  items.set(fullId, full);
  const results = new Map<number, CurvatureItem>();
  recoverCurvature(recoveredLines(ctx, name), items, results);
  const todo = [...items.keys()].filter((id) => !results.has(id));
  const settings = { maxIterations: c.iterations, tolerance: c.tolerance, probes: c.probes, step: c.step, seed: c.seed };
  const phase = curvaturePhase({ name, items, todo, snapshot: subject.ref, dataset: ctx.dataset, table: ctx.table, settings, journal: ctx.journal, results });
  ctx.onPhase(name, items.size, () => results.size);
  await ctx.dispatcher.run(phase);
  const all = [...Array(c.minibatches).keys()].map((i) => results.get(i)!);
  // A product that straddled a kink measured the jump, not curvature: such items are out.
  const mini = all.filter((m) => m.kinked === 0);
  const fullItem = results.get(fullId)!;
  const lambdas = meanEstimate(mini.map((m) => m.lambda));
  const scale = fullItem.lambda;
  const kinkNote = (what: string, k: number, of: number) =>
    `${what}: ${k} of ${of} Hessian-vector products crossed a kink of the loss (a ReLU switching inside the finite difference); a smooth activation (tanh, elu) or curvature.step would avoid it`;
  let contrast: Estimate;
  if (fullItem.kinked > 0) {
    contrast = { mean: null, stderr: null, ci95: null, n: lambdas.n, resolved: false, reason: kinkNote("the full loss", fullItem.kinked, fullItem.products) };
  } else if (!lambdas.resolved || scale === 0) {
    contrast = { mean: null, stderr: null, ci95: null, n: lambdas.n, resolved: false, reason: scale === 0 ? "λ_max of the full loss is 0" : lambdas.reason ?? "not resolved" };
  } else {
    contrast = {
      mean: lambdas.mean! / scale,
      stderr: lambdas.stderr! / Math.abs(scale),
      ci95: [lambdas.ci95![0] / scale, lambdas.ci95![1] / scale].sort((a, b) => a - b) as [number, number],
      n: lambdas.n,
      resolved: true,
    };
  }
  const kinkedMini = all.length - mini.length;
  if (kinkedMini > 0 && lambdas.resolved) lambdas.reason = `${kinkedMini} of ${all.length} minibatches left out: their finite differences crossed a kink`;
  return {
    curvature_contrast: contrast,
    minibatch_lambda_max: lambdas,
    full_lambda_max: fullItem.kinked > 0 ? null : fullItem.lambda,
    full_converged: fullItem.converged,
    minibatch_hessian_trace: meanEstimate(mini.map((m) => m.trace)),
    full_hessian_trace: fullItem.kinked > 0 ? null : { mean: fullItem.trace, stderr: fullItem.traceStderr, probes: c.probes },
    unconverged: [...results.values()].filter((r) => !r.converged).length,
    kinked_minibatches: kinkedMini,
    full_kinked: fullItem.kinked > 0,
    full_examples: fullCount,
  };
}

async function landscapes(ctx: RunContext, subject: Subject): Promise<Landscape[]> {
  const l = ctx.cfg.landscape!;
  const points = planGrid(l.dims, l.from, l.to, l.points);
  const indices = new Rng(l.seed, 99).sampleWithoutReplacement(ctx.datasetSize, Math.min(l.examples, ctx.datasetSize));
  const out: Landscape[] = [];
  for (const normalization of l.normalizations) {
    const name = `${subject.key}/landscape-${normalization}`;
    const directions: BlobRef[] = [];
    for (let k = 1; k <= l.dims; k++) {
      // The same seed and stream for θ and its twins: only the normalization differs.
      const bytes = encodeVector(randomDirection(subject.snapshot, l.seed, k, normalization), "direction");
      directions.push({ hash: (await ctx.blobs.put(bytes, `gradswarm landscape direction ${k}`)).hash, bytes: bytes.length });
    }
    const values = new Map<number, PointValue>();
    recoverLandscape(recoveredLines(ctx, name), new Set(points.map((p) => p.id)), values);
    const todo = points.map((p) => p.id).filter((id) => !values.has(id));
    const phase = landscapePhase({ name, points, todo, perTask: l.perTask, directions, indices, snapshot: subject.ref, dataset: ctx.dataset, table: ctx.table, journal: ctx.journal, values });
    ctx.onPhase(name, points.length, () => values.size);
    await ctx.dispatcher.run(phase);
    out.push({ normalization, points, values: points.map((p) => values.get(p.id) ?? null) });
  }
  return out;
}

export async function measureSubject(ctx: RunContext, subject: Subject): Promise<SubjectMeasurement> {
  const cfg = ctx.cfg;
  const kinds: FisherKind[] = cfg.fisher?.kinds ?? [];
  const metricRefs: BlobRef[] = [];
  const fisher: Partial<Record<FisherKind, FisherInfo>> = {};
  for (const kind of kinds) {
    const r = await fisherPass(ctx, subject, kind);
    metricRefs.push(r.ref);
    fisher[kind] = r.info;
  }

  const name = `${subject.key}/pairs`;
  let records = new PairRecords(ctx.plan.count);
  let todo = recoverPairs(recoveredLines(ctx, name), ctx.plan, records);
  let pairsRecovered = records.size;
  const layout = gradientLayout(subject.snapshot);
  const sampling: Sampling = { datasetSize: ctx.datasetSize, batchSize: ctx.plan.batchSize, pairing: ctx.plan.pairing };
  const vectorStats = cfg.vectorStats ? new VectorStats(layout, sampling) : undefined;
  if (vectorStats && pairsRecovered > 0) {
    // Per-parameter sums are not journaled: recovered pairs would be missing from them.
    ctx.log(`${name}: vector_stats is on, so the ${pairsRecovered} recovered pairs are computed again`);
    records = new PairRecords(ctx.plan.count);
    todo = Array.from({ length: ctx.plan.count }, (_, i) => i);
    pairsRecovered = 0;
  } else if (pairsRecovered > 0) {
    ctx.log(`${name}: ${pairsRecovered} of ${ctx.plan.count} pairs recovered from the journal; ${todo.length} to compute`);
  }
  const phase = pairsPhase({
    name,
    plan: ctx.plan,
    todo,
    perTask: cfg.pairs.perTask,
    snapshot: subject.ref,
    dataset: ctx.dataset,
    table: ctx.table,
    labels: "observed",
    labelSeed: 0,
    metrics: metricRefs,
    vectors: cfg.returns === "vectors",
    vectorStats,
    tensorSizes: trainableTensorSizes(subject.snapshot),
    journal: ctx.journal,
    records,
  });
  ctx.onPhase(name, ctx.plan.count, () => records.size);
  await ctx.dispatcher.run(phase);
  const all = records.all();
  const tensors = records.tensors ?? [];
  const grouped = tensorsToLayers(all, tensors);
  const reduction = reducePairs(grouped.records.map(byLayer), grouped.layers, sampling);
  const tensorReduction = reducePairs(all.map(byTensor), tensors, sampling);
  const metrics: Partial<Record<FisherKind, Reduction>> = {};
  const tensorMetrics: Partial<Record<FisherKind, Reduction>> = {};
  kinds.forEach((kind, m) => {
    metrics[kind] = reducePairs(grouped.records.map((r) => byLayer(r.metrics[m]!)), grouped.layers, sampling);
    tensorMetrics[kind] = reducePairs(all.map((r) => byTensor(r.metrics[m]!)), tensors, sampling);
  });

  return {
    subject,
    records: grouped.records,
    layers: grouped.layers,
    tensors,
    reduction,
    tensorReduction,
    metrics,
    tensorMetrics,
    fisher,
    vectorStats: vectorStats ? vectorStats.result() : null,
    vectorArrays: vectorStats ? { meanGradient: vectorStats.meanGradient(), variance: Float32Array.from(vectorStats.perParameter().T), gsnr: vectorStats.gsnr() } : null,
    curvature: cfg.curvature ? await curvature(ctx, subject) : null,
    landscapes: cfg.landscape ? await landscapes(ctx, subject) : [],
    // θ's twins compute the same function: the same losses, so only θ is evaluated.
    generalization: ctx.testSet && subject.alpha === null ? await generalization(ctx, subject, ctx.testSet) : null,
    pairsRecovered,
  };
}

/** θ's mean loss and accuracy on one dataset, by the workers, chunk by chunk (evaluation-phase.ts). */
async function evaluate(ctx: RunContext, subject: Subject, which: "train" | "test", dataset: DatasetRef, n: number): Promise<PointValue & { examples: number }> {
  const name = `${subject.key}/evaluate-${which}`;
  const perTask = ctx.cfg.test!.perTask;
  const chunks = chunkCount(n, perTask);
  const values = new Map<number, PointValue>();
  recoverLandscape(recoveredLines(ctx, name), new Set(Array.from({ length: chunks }, (_, k) => k)), values);
  const todo = Array.from({ length: chunks }, (_, k) => k).filter((k) => !values.has(k));
  const phase = evaluationPhase({ name, n, perTask, todo, snapshot: subject.ref, dataset, table: ctx.table, journal: ctx.journal, values });
  ctx.onPhase(name, chunks, () => values.size);
  await ctx.dispatcher.run(phase);
  return { ...combineChunks(n, perTask, values), examples: n };
}

/** Train and test loss and accuracy over the whole sets, and the gap between them. */
async function generalization(ctx: RunContext, subject: Subject, test: { ref: DatasetRef; n: number }): Promise<Generalization> {
  const train = await evaluate(ctx, subject, "train", ctx.dataset, ctx.datasetSize);
  const held = await evaluate(ctx, subject, "test", test.ref, test.n);
  return { train, test: held, gap: { loss: held.loss - train.loss, accuracy: train.accuracy - held.accuracy } };
}
