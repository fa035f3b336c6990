// `coordinator run`: config → θ (and its twins) and the dataset into the object store →
// each θ measured phase by phase (Fisher passes, pairs, curvature, landscapes) → results
// reduced in pair order → results.json, pairs.jsonl, model files, landscape files.
// Everything started here (embedded nats-server, local workers) is stopped here, on
// success, on error and on abort.

import { randomUUID } from "node:crypto";
import { basename, extname, join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { rescaleTwin } from "../model/rescale.js";
import { encodeSnapshot, layerNames, parameterCount, sha256Hex, trainableTensorSizes, type Snapshot } from "../model/snapshot.js";
import { BlobStore } from "../nats/blob-store.js";
import { connectNats } from "../nats/connect.js";
import { startNatsServer, type NatsServerHandle } from "../nats/server-process.js";
import { createMessage, objectBucket, PROTOCOL_VERSION, subjects as natsSubjects } from "../protocol/index.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { loadConfig, type RunConfig } from "./config/load.js";
import { Dispatcher, WORKER_SILENT_MS } from "./dispatcher.js";
import { DispatcherWire } from "./dispatcher-wire.js";
import { RunFailure } from "./run-failure.js";
import { Journal, type RecoveredJournal } from "./journal.js";
import { LocalSwarm } from "./local-swarm.js";
import { measureSubject, type RunContext, type Subject, type SubjectMeasurement } from "./measure-subject.js";
import { checkPayloads } from "./payload-check.js";
import { prepareRun } from "./prepare.js";
import type { Reduction } from "./reduce.js";
import { invarianceRows, type InvarianceRow } from "./report/invariance.js";
import { writeLandscapes } from "./report/landscape-files.js";
import { writeModel, writePairsJsonl, writeResultsJson, writeVectorArrays } from "./report/outputs.js";
import { ProgressLine } from "./report/progress.js";
import { planPair } from "./sampler.js";

export interface RunOptions {
  configPath: string;
  /** Continue the unfinished run recorded in this folder (it is also the output folder). */
  resume?: string;
  /** Overrides output.dir of the config. */
  outDir?: string;
  /** Embedded default: the number of local workers (overrides workers.local). */
  workers?: number;
  /** Overrides nats.url: connect to this server and use the workers that are there. */
  natsUrl?: string;
  signal?: AbortSignal;
  /** Where progress and log lines go; stderr by default. */
  stream?: NodeJS.WriteStream;
}

export interface RunResult {
  outDir: string;
  reduction: Reduction;
  /** θ and each twin, as measured. */
  measured: SubjectMeasurement[];
  invariance: InvarianceRow[] | null;
  run: Record<string, unknown>;
}

export class RunAborted extends Error {
  override name = "RunAborted";
}

/** The folder whose journal a failed or interrupted run left for --resume, by error. */
const keptJournals = new WeakMap<object, string>();

/** Where `--resume` continues the run that failed with `err`, or null when it left nothing to resume. */
export function resumableFrom(err: unknown): string | null {
  return typeof err === "object" && err !== null ? (keptJournals.get(err) ?? null) : null;
}

function defaultOutDir(configPath: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return resolve("runs", `${basename(configPath, extname(configPath))}-${stamp}`);
}

/** θ, then its function-preserving twins (checked before anything starts). */
function subjectSnapshots(cfg: RunConfig, theta: Snapshot): { key: string; alpha: number | null; snapshot: Snapshot }[] {
  const out: { key: string; alpha: number | null; snapshot: Snapshot }[] = [{ key: "theta", alpha: null, snapshot: theta }];
  for (const alpha of cfg.invariance?.alphas ?? []) {
    try {
      out.push({ key: `twin-a${alpha}`, alpha, snapshot: rescaleTwin(theta, cfg.invariance!.layer, alpha) });
    } catch (err) {
      throw new RunFailure(`${cfg.file}: invariance: ${(err as Error).message}`);
    }
  }
  return out;
}

/** What one θ's measurement reports, for results.json. */
function subjectReport(m: SubjectMeasurement): Record<string, unknown> {
  return {
    measures: m.reduction.measures,
    layers: m.reduction.layers,
    tensors: m.tensorReduction.layers,
    metrics: Object.fromEntries(Object.entries(m.metrics).map(([k, r]) => [k, { measures: r!.measures, layers: r!.layers, tensors: m.tensorMetrics[k as "empirical"]!.layers }])),
    fisher: m.fisher,
    vector_stats: m.vectorStats,
    curvature: m.curvature,
  };
}

/** The top-level measures: the Euclidean ones, and the headline second-pass ones beside them. */
function headlineMeasures(m: SubjectMeasurement): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m.reduction.measures };
  for (const [kind, r] of Object.entries(m.metrics)) out[`fisher_regret_${kind}`] = r!.measures.regret;
  if (m.curvature) out.curvature_contrast = m.curvature.curvature_contrast;
  return out;
}

export async function runJob(options: RunOptions): Promise<RunResult> {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
  const cpuAtStart = process.cpuUsage();
  const cfg = loadConfig(options.configPath);
  if (options.resume && options.outDir && resolve(options.outDir) !== resolve(options.resume)) {
    throw new RunFailure(`--resume ${options.resume} and --out ${options.outDir} name different folders; a resumed run writes where it started`);
  }
  const outDir = resolve(options.resume ?? options.outDir ?? cfg.outDir ?? defaultOutDir(options.configPath));
  const natsUrl = options.natsUrl ?? cfg.nats.url;
  const localCount = options.workers ?? cfg.workers.local;
  if (!natsUrl && localCount < 1) throw new RunFailure("no NATS URL is given and workers.local is 0: nobody would compute anything");

  const prep = await prepareRun(cfg);
  const { dataset, plan, snapshot } = prep;
  const snapshots = subjectSnapshots(cfg, snapshot);
  const progress = new ProgressLine(stream);
  const log = (line: string) => progress.log(line);
  let journal: Journal;
  let recovered: RecoveredJournal | null = null;
  if (options.resume) {
    const r = Journal.resume(outDir, prep.identity);
    journal = r.journal;
    recovered = r.recovered;
    if (recovered.droppedLines > 0) log(`resume: dropped ${recovered.droppedLines} incomplete journal line (a write cut short); its work is done again`);
  } else {
    journal = Journal.create(outDir, prep.identity, cfg.file);
  }
  const loadedMs = Date.now() - started;

  let server: NatsServerHandle | null = null;
  let swarm: LocalSwarm | null = null;
  let nc: NatsConnection | null = null;
  let dispatcher: Dispatcher | null = null;
  let wire: DispatcherWire | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  const onAbort = () => dispatcher?.fail(new RunAborted("the run was interrupted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new RunAborted("the run was interrupted");
    let url = natsUrl;
    if (!url) {
      server = await startNatsServer({ exitWithParent: true });
      url = server.url;
      log(`embedded nats-server on ${url}; starting ${localCount} local worker${localCount === 1 ? "" : "s"} (logs in ${join(outDir, "logs")})`);
    }
    nc = await connectNats(url, "gradswarm-coordinator");
    const blobs = await BlobStore.open(nc, objectBucket(cfg.nats.prefix), true, cfg.nats.replicas);
    const putStarted = Date.now();
    const dataPut = await blobs.put(prep.datasetBytes!, `gradswarm dataset ${dataset.name}`, prep.datasetHash);
    prep.datasetBytes = null;
    const subjects: Subject[] = [];
    for (const s of snapshots) {
      const bytes = s.snapshot === snapshot ? prep.snapshotBytes! : encodeSnapshot(s.snapshot);
      const put = await blobs.put(bytes, `gradswarm parameter snapshot (${s.key})`, s.snapshot === snapshot ? prep.snapshotHash : sha256Hex(bytes));
      subjects.push({ key: s.key, alpha: s.alpha, snapshot: s.snapshot, ref: { hash: put.hash, bytes: bytes.length } });
    }
    prep.snapshotBytes = null;
    const putMs = Date.now() - putStarted;
    if (!server) log(`using the workers on ${url} (subject prefix ${cfg.nats.prefix})`);
    const datasetRef = { hash: dataPut.hash, bytes: prep.datasetSize, name: dataset.name };

    const runId = randomUUID();
    const perTask = Math.min(cfg.pairs.perTask, plan.count);
    const metricCount = cfg.fisher?.kinds.length ?? 0;
    checkPayloads(
      nc.info?.max_payload ?? 1024 * 1024,
      createMessage("task", {
        runId,
        taskId: `${subjects.at(-1)!.key}/fisher-empirical#${plan.count}`,
        leaseId: `${subjects.at(-1)!.key}/pairs#${plan.count}.999999`,
        leaseMs: cfg.workers.leaseMs,
        snapshot: subjects[0]!.ref,
        dataset: datasetRef,
        returns: cfg.returns,
        labels: "observed",
        labelSeed: 0,
        metrics: Array.from({ length: metricCount }, () => subjects[0]!.ref),
        pairs: Array.from({ length: perTask }, (_, i) => ({ id: plan.count - 1 - i, batches: planPair(plan, i) })),
      }),
      // A result carries one group per trainable weight tensor.
      [...trainableTensorSizes(snapshot).keys()],
      perTask,
      metricCount,
    );

    dispatcher = new Dispatcher({
      runId,
      leaseMs: cfg.workers.leaseMs,
      waitMs: cfg.workers.waitMs,
      stallTimeoutMs: cfg.stallTimeoutMs,
      quarantineAfter: cfg.workers.quarantineAfter,
      creditPhase: "theta/pairs",
      pullSubject: natsSubjects(cfg.nats.prefix).pull,
      log,
    });
    wire = new DispatcherWire(nc, cfg.nats.prefix, dispatcher, log);
    wire.start();
    dispatcher.start();
    if (options.signal?.aborted) onAbort();
    if (server) {
      const d = dispatcher;
      swarm = new LocalSwarm({ count: localCount, natsUrl: url, prefix: cfg.nats.prefix, backend: cfg.workers.backend, logDir: join(outDir, "logs") }, (summary) =>
        d.fail(new RunFailure(summary)),
      );
      swarm.start();
    }
    const d = dispatcher;
    const liveWorkers = () => d.registry.live(WORKER_SILENT_MS).length;
    let doneOf: () => number = () => 0;
    progressTimer = setInterval(() => progress.update(doneOf(), liveWorkers()), 250);
    const ctx: RunContext = {
      cfg,
      plan,
      datasetSize: dataset.n,
      dataset: datasetRef,
      dispatcher,
      blobs,
      journal,
      recovered,
      table: { leaseMs: cfg.workers.leaseMs, maxAttempts: cfg.workers.maxAttempts, maxInFlight: cfg.workers.maxInFlight },
      log,
      onPhase: (name, units, done) => {
        progress.update(doneOf(), liveWorkers());
        const unit = name.includes("landscape") ? "points" : name.includes("curvature") ? "items" : "pairs";
        progress.begin(name === "theta/pairs" ? "pairs" : `${name} ${unit}`, unit, units, done());
        doneOf = done;
      },
    };
    const measured: SubjectMeasurement[] = [];
    const dispatchStarted = Date.now();
    try {
      for (const subject of subjects) measured.push(await measureSubject(ctx, subject));
    } catch (err) {
      if (swarm && !(err instanceof RunAborted) && !/local workers exited/.test((err as Error).message)) log(`local worker logs:\n${swarm.logTails()}`);
      throw err;
    } finally {
      clearInterval(progressTimer);
      progress.update(doneOf(), liveWorkers());
      progress.end();
    }
    const dispatchMs = Date.now() - dispatchStarted;

    const theta = measured[0]!;
    const twins = measured.slice(1);
    const invariance = cfg.invariance ? invarianceRows(theta, twins, cfg.invariance.tolerance) : null;
    const landscapeFiles = cfg.landscape ? await writeLandscapes(outDir, measured) : [];
    const vectorFiles: Record<string, Record<string, string>> = {};
    for (const m of measured) {
      if (m.vectorArrays) vectorFiles[m.subject.key] = await writeVectorArrays(outDir, m.subject.key, { mean_gradient: m.vectorArrays.meanGradient, variance: m.vectorArrays.variance, gsnr: m.vectorArrays.gsnr });
    }
    const computed = plan.count - theta.pairsRecovered;
    const run = {
      gradswarm_version: PACKAGE_VERSION,
      protocol_version: PROTOCOL_VERSION,
      run_id: runId,
      config_file: cfg.file,
      config: cfg.parsed,
      seed: plan.seed,
      pairs: { count: plan.count, batch_size: plan.batchSize, pairing: plan.pairing, per_task: cfg.pairs.perTask, tasks: Math.ceil(computed / cfg.pairs.perTask), resumed: theta.pairsRecovered, computed },
      dataset: { name: dataset.name, hash: dataPut.hash, bytes: prep.datasetSize, n: dataset.n, feature_shape: dataset.featureShape, classes: dataset.numClasses },
      snapshot: { hash: subjects[0]!.ref.hash, bytes: prep.snapshotSize, parameters: parameterCount(snapshot.weights), weight_layers: layerNames(snapshot.weights), gradient_layers: theta.layers, gradient_tensors: theta.tensors },
      nats: { url: server ? "embedded" : url, prefix: cfg.nats.prefix },
      return: cfg.returns,
      workers: dispatcher.workers.map((w) => ({
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
      faults: dispatcher.counts,
      vectors:
        cfg.returns === "vectors"
          ? {
              chunks: dispatcher.vectors.chunks,
              bytes: dispatcher.vectors.bytes,
              transfer_s: dispatcher.vectors.transferMs / 1000,
              // Wire time of each pair's chunks, first to last: the return rate while vectors flow.
              mb_per_s: dispatcher.vectors.bytes / 1e6 / Math.max(dispatcher.vectors.transferMs / 1000, 1e-9),
            }
          : undefined,
      timings: {
        started: new Date(started).toISOString(),
        finished: new Date().toISOString(),
        load_s: loadedMs / 1000,
        blob_put_s: putMs / 1000,
        dispatch_s: dispatchMs / 1000,
        total_s: (Date.now() - started) / 1000,
        // This process's CPU time (user + system): what the coordinator costs the machine.
        coordinator_cpu_s: (() => {
          const u = process.cpuUsage(cpuAtStart);
          return (u.user + u.system) / 1e6;
        })(),
        pairs_per_s: computed / Math.max(dispatchMs / 1000, 1e-9),
        // Between the first and the last accepted result of θ's pairs: the rate once the
        // workers are up (no start-up, blob fetch or first-task latency in it).
        steady_pairs_per_s: (() => {
          const span = dispatcher.spans.get("theta/pairs");
          return span && span.last > span.first ? span.unitsAfterFirst / ((span.last - span.first) / 1000) : null;
        })(),
      },
    };
    const report = {
      ...subjectReport(theta),
      measures: headlineMeasures(theta),
      landscape: landscapeFiles.length > 0 ? landscapeFiles : undefined,
      vector_files: Object.keys(vectorFiles).length > 0 ? { layout: theta.tensors, sizes: [...trainableTensorSizes(snapshot).values()], files: vectorFiles } : undefined,
      twins: twins.length > 0 ? twins.map((t) => ({ alpha: t.subject.alpha, layer: cfg.invariance!.layer, snapshot: t.subject.ref.hash, ...subjectReport(t), measures: headlineMeasures(t) })) : undefined,
      invariance: invariance ? { layer: cfg.invariance!.layer, alphas: cfg.invariance!.alphas, tolerance: cfg.invariance!.tolerance, rows: invariance } : undefined,
    };
    await writeResultsJson(outDir, report, run);
    await writePairsJsonl(outDir, theta.records, theta.layers);
    await writeModel(outDir, snapshot);
    await journal.remove();
    return { outDir, reduction: theta.reduction, measured, invariance, run };
  } catch (err) {
    // A fresh run that recorded nothing leaves no journal: it would only block the same
    // --out next time (a server that cannot be reached, a payload refused). Anything
    // recorded, or a resumed run's journal, is kept for --resume.
    const recordedNothing = !options.resume && (dispatcher?.spans.size ?? 0) === 0;
    if (recordedNothing) await journal.remove();
    else if (typeof err === "object" && err !== null) keptJournals.set(err, outDir);
    throw err;
  } finally {
    await journal.close();
    options.signal?.removeEventListener("abort", onAbort);
    if (progressTimer) clearInterval(progressTimer);
    // Workers first, while the coordinator still answers their last pulls.
    await swarm?.stop();
    wire?.stop();
    dispatcher?.stop();
    await nc?.drain().catch(() => undefined);
    await server?.stop();
  }
}
