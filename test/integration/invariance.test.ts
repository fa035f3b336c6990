// Dinh et al.'s function-preserving rescaling through a whole run: runJob against a real
// nats-server with two worker processes measures θ of a relu MLP [12, 16, 3] and its
// twins (dense_1's kernel and bias × α, dense_2's kernel × 1/α, α ∈ {0.5, 3}) with the
// same seeds, and the invariance table says what moved. What must come out, and why:
//
// - The twins compute the same function: checked here with the float64 reference MLP on
//   the twins rebuilt from the run's own model.json (and their hashes are the run's).
// - Gradients transform per tensor: g(dense_1/*) → g/α, g(dense_2/kernel) → α·g,
//   g(dense_2/bias) → g. A diagonal Fisher estimated from these gradients transforms as
//   M_j → M_j·(scale_j)², the sampled labels of the true Fisher are the same (same function,
//   same seeds), so the Fisher-metric regrets (empirical and true) are invariant; per
//   parameter GSNR ḡ_j²/σ_j² is invariant, and so are its mean and median; E‖g_b‖/‖ḡ‖
//   of one tensor, or of a layer whose tensors all scale alike (dense_1), is invariant.
// - The Euclidean regret, contrastive flatness and per-example Fisher trace of the whole
//   network mix tensors scaled by 1/α, α and 1: they move.
// - dense_2 as a layer: its kernel's gradient is scaled by α and its bias's is not, so
//   E‖(α g_K, g_b)‖ / ‖(α ḡ_K, ḡ_b)‖ is a different number unless the bias share is nil.
//   How much it moves is predicted here from float64 reference gradients of the run's
//   own pairs (rescaled as above) and the verdict must follow the prediction.
// - Landscapes: filter normalization scales each filter's direction with θ's filter, so
//   the twins' curves are θ's (to float32 rounding); unnormalized directions are not.

import { mkdtempSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContrastiveFlatnessEstimator } from "../../src/coordinator/estimators/contrastive-flatness.js";
import type { InvarianceRow } from "../../src/coordinator/report/invariance.js";
import { runJob, type RunResult } from "../../src/coordinator/run.js";
import { planPair, type PairPlan } from "../../src/coordinator/sampler.js";
import type { Dataset } from "../../src/data/dataset.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { readLayersModel, writeLayersModel } from "../../src/model/layers-model-files.js";
import { logits64, lossAndGradient } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { rescaleTwin } from "../../src/model/rescale.js";
import { encodeSnapshot, sha256Hex, type Snapshot } from "../../src/model/snapshot.js";
import { subjects } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const ALPHAS = [0.5, 3];
const PAIRS = 96;
const BATCH = 16;
const PAIR_SEED = 7;
const DATA = { n: 400, features: 12, classes: 3, seed: 4 };
const TOLERANCE = 1e-3;

function config(prefix: string): string {
  return `model: {kind: mlp, layers: [12, 16, 3], activation: relu, seed: 2}
data: {kind: synthetic, n: ${DATA.n}, features: ${DATA.features}, classes: ${DATA.classes}, seed: ${DATA.seed}}
pairs: {count: ${PAIRS}, batch_size: ${BATCH}, seed: ${PAIR_SEED}, per_task: 8}
return: vectors
vector_stats: true
fisher: {pairs: 64}
invariance: {layer: 0, alphas: [${ALPHAS.join(", ")}]}
landscape: {dims: 1, points: 7, examples: 200}
workers: {lease_s: 30, wait_s: 60}
nats: {prefix: ${prefix}}
`;
}

function quietStream(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

function parseCsv(text: string): { id: number; alpha: number; loss: number; accuracy: number }[] {
  const [header, ...rows] = text.trim().split("\n");
  expect(header).toBe("id,alpha,beta,loss,accuracy");
  return rows.map((r) => {
    const [id, alpha, , loss, accuracy] = r.split(",").map(Number);
    return { id: id!, alpha: alpha!, loss: loss!, accuracy: accuracy! };
  });
}

describe("invariance under Dinh et al.'s rescaling, through a real run", () => {
  let nats: NatsFixture;
  let workers: TestWorker[] = [];
  const work = mkdtempSync(join(tmpdir(), "gradswarm-invariance-"));
  let outDir: string;
  let result: RunResult;
  let rows: Map<string, InvarianceRow>;
  let theta: Snapshot;
  let ds: Dataset;
  let results: { twins: { alpha: number; snapshot: string }[]; invariance: { rows: InvarianceRow[] }; landscape: { subject: string; normalization: string; csv: string }[]; layers: Record<string, unknown> };

  beforeAll(async () => {
    nats = await startNats();
    const prefix = uniquePrefix("invariance");
    workers = [spawnWorker(nats.server.url, prefix, "inv-w0"), spawnWorker(nats.server.url, prefix, "inv-w1")];
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id), 45_000);
    const cfg = join(work, "invariance.yaml");
    await writeFile(cfg, config(prefix));
    outDir = join(work, "out");
    const log = quietStream();
    try {
      result = await runJob({ configPath: cfg, natsUrl: nats.server.url, outDir, stream: log.stream });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${log.text()}\n--- workers ---\n${workers.map((w) => w.output()).join("\n")}`, { cause: err });
    }
    rows = new Map(result.invariance!.map((r) => [r.quantity, r]));
    results = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) as typeof results;
    theta = await readLayersModel(join(outDir, "model.json"));
    ds = makeSyntheticDataset(DATA);
  }, 120_000);

  afterAll(async () => {
    await stopWorkers(workers);
    await nats?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("writes the returned invariance rows to results.json, one per quantity", () => {
    expect(results.invariance.rows).toEqual(JSON.parse(JSON.stringify(result.invariance)));
    expect(rows.size).toBe(result.invariance!.length);
    expect(result.measured.map((m) => m.subject.alpha)).toEqual([null, ...ALPHAS]);
  });

  it("the twins compute θ's function (float64 reference on the twins rebuilt from model.json)", async () => {
    expect(sha256Hex(encodeSnapshot(theta))).toBe((result.run.snapshot as { hash: string }).hash);
    const dir = await mkdtemp(join(tmpdir(), "gradswarm-invariance-ref-"));
    try {
      const all = Array.from({ length: ds.n }, (_, i) => i);
      await writeLayersModel(join(dir, "theta"), theta);
      const z0 = logits64(await loadMlp64FromLayersModel(join(dir, "theta")), ds.x, all, DATA.features);
      const scale = Math.max(...z0.map(Math.abs));
      for (const [k, alpha] of ALPHAS.entries()) {
        const twin = rescaleTwin(theta, 0, alpha);
        // The twin rebuilt here is the one the run measured.
        expect(results.twins[k]!.alpha).toBe(alpha);
        expect(sha256Hex(encodeSnapshot(twin))).toBe(results.twins[k]!.snapshot);
        expect(twin.data).not.toEqual(theta.data);
        await writeLayersModel(join(dir, `twin-${alpha}`), twin);
        const z = logits64(await loadMlp64FromLayersModel(join(dir, `twin-${alpha}`)), ds.x, all, DATA.features);
        let worst = 0;
        for (let i = 0; i < z.length; i++) worst = Math.max(worst, Math.abs(z[i]! - z0[i]!));
        console.log(`invariance: twin α=${alpha}: largest logit change ${(worst / scale).toExponential(2)} of the largest logit`);
        // float32 rounding of α·W, α·b and W/α: a few 2⁻²⁴ relative per weight.
        expect(worst / scale).toBeLessThan(1e-5);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  function row(quantity: string): InvarianceRow {
    const r = rows.get(quantity);
    if (!r) throw new Error(`no invariance row "${quantity}"; rows: ${[...rows.keys()].join(", ")}`);
    return r;
  }

  it("reparametrization-invariant measures are invariant (relative change < 1e-3)", () => {
    const tensorRows = [...rows.keys()].filter((q) => /^tensors\.[^.]+\.contrastive_flatness$/.test(q));
    expect(tensorRows.sort()).toEqual(["dense_1/bias", "dense_1/kernel", "dense_2/bias", "dense_2/kernel"].map((t) => `tensors.${t}.contrastive_flatness`));
    const invariant = ["fisher_empirical.regret", "fisher_true.regret", "vector_stats.gsnr_mean", "vector_stats.gsnr_median", "layers.dense_1.contrastive_flatness", ...tensorRows];
    for (const q of invariant) {
      const r = row(q);
      console.log(`invariance: ${q}: max relative change ${r.max_rel_change?.toExponential(2)} (${r.verdict})`);
      expect(r.verdict, q).toBe("invariant");
      expect(r.max_rel_change!, q).toBeLessThan(TOLERANCE);
      expect(r.twins, q).toHaveLength(ALPHAS.length);
    }
  });

  it("the Euclidean measures of the whole network move", () => {
    for (const q of ["regret", "contrastive_flatness", "fisher_trace_per_example"]) {
      const r = row(q);
      console.log(`invariance: ${q}: max relative change ${r.max_rel_change?.toExponential(2)} (${r.verdict})`);
      expect(r.verdict, q).toBe("moved");
      expect(r.max_rel_change!, q).toBeGreaterThan(10 * TOLERANCE);
    }
  });

  it("dense_2's contrastive flatness moves as predicted from rescaled float64 gradients of the run's pairs", async () => {
    // Reference gradients of dense_2 (kernel, bias) for every minibatch of the pair plan.
    const plan: PairPlan = { seed: PAIR_SEED, count: PAIRS, datasetSize: ds.n, batchSize: BATCH, pairing: "independent" };
    {
      const dir = await mkdtemp(join(tmpdir(), "gradswarm-invariance-ref2-"));
      try {
        await writeLayersModel(dir, theta);
        const m = await loadMlp64FromLayersModel(dir);
        const sq = (v: Float64Array) => v.reduce((s, x) => s + x * x, 0);
        const dotOf = (u: Float64Array, v: Float64Array) => u.reduce((s, x, i) => s + x * v[i]!, 0);
        const pairs = Array.from({ length: PAIRS }, (_, i) =>
          planPair(plan, i).map((b) => {
            const g = lossAndGradient(m, ds.x, ds.y, b, DATA.features).grads[1]!;
            return { k: g.kernel, b: g.bias };
          }),
        );
        const predict = (alpha: number) => {
          const est = new ContrastiveFlatnessEstimator({ datasetSize: ds.n, batchSize: BATCH, pairing: "independent" });
          for (const [g1, g2] of pairs) {
            const a2 = alpha * alpha;
            est.add({
              a: Math.sqrt(a2 * sq(g1!.k) + sq(g1!.b)),
              b: Math.sqrt(a2 * sq(g2!.k) + sq(g2!.b)),
              c: a2 * dotOf(g1!.k, g2!.k) + dotOf(g1!.b, g2!.b),
            });
          }
          return est.result().mean!;
        };
        const r = row("layers.dense_2.contrastive_flatness");
        const at0 = predict(1);
        const thetaValue = (r.theta as { mean: number }).mean;
        // The reference reproduces θ's reported value (float32 vs float64 gradients)…
        expect(Math.abs(thetaValue - at0) / at0).toBeLessThan(1e-5);
        // …and each twin's, from the same gradients rescaled.
        let predictedChange = 0;
        for (const [k, alpha] of ALPHAS.entries()) {
          const want = predict(alpha);
          const got = r.twins[k]!;
          predictedChange = Math.max(predictedChange, Math.abs(want - at0) / at0);
          console.log(
            `invariance: layers.dense_2.contrastive_flatness: θ ${thetaValue.toPrecision(6)} (reference ${at0.toPrecision(6)}), twin α=${alpha} ${got?.toPrecision(6)}, ` +
              `predicted ${want.toPrecision(6)} (relative difference ${(Math.abs(got! - want) / want).toExponential(2)})`,
          );
          expect(Math.abs(got! - want) / want).toBeLessThan(1e-5);
        }
        // The bias share is not nil here, so the prediction is a change well beyond the tolerance.
        expect(predictedChange).toBeGreaterThan(10 * TOLERANCE);
        expect(r.verdict).toBe(predictedChange > TOLERANCE ? "moved" : "invariant");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it("filter-normalized landscapes of θ and the twins agree; unnormalized ones do not", () => {
    const csv = (subject: string, normalization: string) => {
      const entry = results.landscape.find((l) => l.subject === subject && l.normalization === normalization);
      expect(entry, `${subject} ${normalization}`).toBeDefined();
      return parseCsv(readFileSync(join(outDir, entry!.csv), "utf8"));
    };
    for (const normalization of ["filter", "none"]) {
      const base = csv("theta", normalization);
      expect(base).toHaveLength(7);
      for (const alpha of ALPHAS) {
        const twin = csv(`twin-a${alpha}`, normalization);
        expect(twin.map((p) => p.alpha)).toEqual(base.map((p) => p.alpha));
        const rel = twin.map((p, i) => Math.abs(p.loss - base[i]!.loss) / Math.abs(base[i]!.loss));
        const worst = Math.max(...rel);
        console.log(`invariance: landscape ${normalization}, twin α=${alpha}: largest relative loss difference ${worst.toExponential(2)}`);
        // At α = 0 the point is θ itself (or its twin): the same function either way.
        expect(rel[base.findIndex((p) => p.alpha === 0)]!).toBeLessThan(1e-4);
        if (normalization === "filter") expect(worst).toBeLessThan(1e-4);
        else expect(worst).toBeGreaterThan(1e-2);
      }
    }
  });
});
