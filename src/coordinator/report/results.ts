// results.json from what a run measured: each θ's measures (report/outputs.ts defines the
// file), and the run record (who computed what, faults, timings).

import { redactUrl } from "../../nats/auth.js";
import { layerNames, parameterCount, trainableTensorSizes } from "../../model/snapshot.js";
import { PROTOCOL_VERSION } from "../../protocol/index.js";
import { PACKAGE_VERSION } from "../../util/package-root.js";
import type { RunConfig } from "../config/load.js";
import type { Dispatcher } from "../dispatcher.js";
import type { Estimate } from "../estimators/types.js";
import { gradientConfusion } from "../estimators/gradient-confusion.js";
import { ticTrace } from "../estimators/tic.js";
import { stiffnessByClass } from "../estimators/stiffness-classes.js";
import type { Dataset } from "../../data/dataset.js";
import type { SubjectMeasurement } from "../measure-subject.js";
import type { PreparedRun } from "../prepare.js";
import type { InvarianceRow } from "./invariance.js";
import type { LandscapeFile, ResultsFile, RunRecord, SubjectResults } from "./outputs.js";

/** The top-level measures: the Euclidean ones, and the headline second-pass ones beside them. */
function headlineMeasures(m: SubjectMeasurement): Record<string, Estimate> {
  const out: Record<string, Estimate> = { ...m.reduction.measures };
  for (const [kind, r] of Object.entries(m.metrics)) out[`fisher_regret_${kind}`] = r!.measures.regret;
  if (m.curvature) {
    out.curvature_contrast = m.curvature.curvature_contrast;
    out.tic_trace = ticTrace(m.reduction.measures.fisher_trace_per_example, m.curvature.full_hessian_trace);
  }
  return out;
}

/** What one θ's measurement reports; `labels` when the pairs are of single examples (B = 1). */
function subjectResults(m: SubjectMeasurement, labels: Pick<Dataset, "y" | "numClasses"> | null): SubjectResults {
  return {
    measures: headlineMeasures(m),
    layers: m.reduction.groups,
    tensors: m.tensorReduction.groups,
    metrics: Object.fromEntries(Object.entries(m.metrics).map(([k, r]) => [k, { measures: r!.measures, layers: r!.groups, tensors: m.tensorMetrics[k as "empirical"]!.groups }])),
    fisher: m.fisher,
    vector_stats: m.vectorStats,
    curvature: m.curvature,
    gradient_confusion: m.records.length > 0 ? gradientConfusion(m.records.map((r) => ({ a: r.norm[0], b: r.norm[1], c: r.dot }))) : null,
    generalization: m.generalization,
    stiffness_classes: labels && m.records.length > 0 ? stiffnessByClass(m.records.map((r) => ({ a: r.norm[0], b: r.norm[1], c: r.dot, y: [labels.y[r.batches[0][0]!]!, labels.y[r.batches[1][0]!]!] })), labels.numClasses) : null,
  };
}

export interface RunFacts {
  cfg: RunConfig;
  prep: PreparedRun;
  runId: string;
  theta: SubjectMeasurement;
  dispatcher: Dispatcher;
  /** "embedded", or the server's URL with its credentials redacted. */
  natsUrl: string;
  started: number;
  cpuAtStart: NodeJS.CpuUsage;
  loadMs: number;
  putMs: number;
  dispatchMs: number;
}

export function runRecord(f: RunFacts): RunRecord {
  const { cfg, prep, dispatcher: d, theta } = f;
  const { plan, dataset } = prep;
  const computed = plan.count - theta.pairsRecovered;
  const cpu = process.cpuUsage(f.cpuAtStart);
  const span = d.spans.get("theta/pairs");
  return {
    gradswarm_version: PACKAGE_VERSION,
    protocol_version: PROTOCOL_VERSION,
    run_id: f.runId,
    config_file: cfg.file,
    // As parsed, but a URL's credentials redacted: results.json never holds a secret.
    config: cfg.parsed.nats.url === undefined ? cfg.parsed : { ...cfg.parsed, nats: { ...cfg.parsed.nats, url: redactUrl(cfg.parsed.nats.url) } },
    seed: plan.seed,
    pairs: { count: plan.count, batch_size: plan.batchSize, pairing: plan.pairing, per_task: cfg.pairs.perTask, tasks: Math.ceil(computed / cfg.pairs.perTask), resumed: theta.pairsRecovered, computed },
    dataset: { name: dataset.name, hash: prep.datasetHash, bytes: prep.datasetSize, n: dataset.n, feature_shape: dataset.featureShape, classes: dataset.numClasses },
    snapshot: { hash: prep.snapshotHash, bytes: prep.snapshotSize, parameters: parameterCount(prep.snapshot.weights), weight_layers: layerNames(prep.snapshot.weights), gradient_layers: theta.layers, gradient_tensors: theta.tensors },
    nats: { url: f.natsUrl, prefix: cfg.nats.prefix },
    return: cfg.returns,
    // The workers that served this run; others of the prefix (serving other runs) are left out.
    workers: d.registry.served().map((w) => ({
      id: w.id,
      host: w.host,
      backend: w.backend,
      device: w.device,
      version: w.version,
      tasks: w.tasksDone,
      pairs: w.pairsDone,
      units: w.units,
      bad_results: w.badResults,
      quarantined: w.quarantined,
    })),
    faults: { ...d.counts },
    vectors:
      cfg.returns === "vectors"
        ? {
            chunks: d.vectors.chunks,
            bytes: d.vectors.bytes,
            transfer_s: d.vectors.transferMs / 1000,
            // Wire time of each pair's chunks, first to last: the return rate while vectors flow.
            mb_per_s: d.vectors.bytes / 1e6 / Math.max(d.vectors.transferMs / 1000, 1e-9),
          }
        : undefined,
    timings: {
      started: new Date(f.started).toISOString(),
      finished: new Date().toISOString(),
      load_s: f.loadMs / 1000,
      blob_put_s: f.putMs / 1000,
      dispatch_s: f.dispatchMs / 1000,
      total_s: (Date.now() - f.started) / 1000,
      // This process's CPU time (user + system): what the coordinator costs the machine.
      coordinator_cpu_s: (cpu.user + cpu.system) / 1e6,
      pairs_per_s: computed / Math.max(f.dispatchMs / 1000, 1e-9),
      // Between the first and the last accepted result of θ's pairs: the rate once the
      // workers are up (no start-up, blob fetch or first-task latency in it).
      steady_pairs_per_s: span && span.last > span.first ? span.unitsAfterFirst / ((span.last - span.first) / 1000) : null,
    },
  };
}

/** The whole file: θ's results at the top, the twins, the invariance verdicts, the files written, and the run. */
export function resultsFile(
  measured: readonly SubjectMeasurement[],
  invariance: InvarianceRow[] | null,
  cfg: RunConfig,
  files: { landscapes: LandscapeFile[]; vectors: Record<string, Record<string, string>> },
  run: RunRecord,
  dataset: Pick<Dataset, "y" | "numClasses">,
): ResultsFile {
  const theta = measured[0]!;
  // Per-example pairs say which classes they join; minibatches of B > 1 mix them.
  const labels = cfg.pairs.batchSize === 1 ? dataset : null;
  const twins = measured.slice(1);
  return {
    ...subjectResults(theta, labels),
    landscape: files.landscapes.length > 0 ? files.landscapes : undefined,
    vector_files: Object.keys(files.vectors).length > 0 ? { layout: theta.tensors, sizes: [...trainableTensorSizes(theta.subject.snapshot).values()], files: files.vectors } : undefined,
    twins: twins.length > 0 ? twins.map((t) => ({ alpha: t.subject.alpha, layer: cfg.invariance!.layer, snapshot: t.subject.ref.hash, ...subjectResults(t, labels) })) : undefined,
    invariance: invariance ? { layer: cfg.invariance!.layer, alphas: cfg.invariance!.alphas, tolerance: cfg.invariance!.tolerance, rows: invariance } : undefined,
    run,
  };
}
