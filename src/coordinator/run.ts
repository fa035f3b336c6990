// `coordinator run`: config → θ (and its twins) and the dataset into the object store →
// each θ measured phase by phase (Fisher passes, pairs, curvature, landscapes) → results
// reduced in pair order → results.json, pairs.jsonl, model files, landscape files.
// Everything started here (embedded nats-server, local workers) is stopped here, on
// success, on error and on abort. runJob reads as that sentence: one named step each.

import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { basename, extname, join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { rescaleTwin } from "../model/rescale.js";
import { encodeSnapshot, sha256Hex, trainableTensorSizes, type Snapshot } from "../model/snapshot.js";
import { BlobStore } from "../nats/blob-store.js";
import { natsAuthFrom, redactUrl, type Environment, type NatsAuth, type NatsAuthSources } from "../nats/auth.js";
import { overlaySources } from "../nats/auth-flags.js";
import { connectNatsWaiting, DEFAULT_COORDINATOR_CONNECT_TIMEOUT_S } from "../nats/connect-wait.js";
import { startNatsServer, type NatsServerHandle } from "../nats/server-process.js";
import { createMessage, objectBucket, runSubjects, type DatasetRef, type RunEndReason } from "../protocol/index.js";
import type { Dataset } from "../data/dataset.js";
import { loadConfig, type RunConfig } from "./config/load.js";
import { Dispatcher, WORKER_SILENT_MS } from "./dispatcher.js";
import { DispatcherWire } from "./dispatcher-wire.js";
import { Journal, type RecoveredJournal } from "./journal.js";
import { LocalSwarm } from "./local-swarm.js";
import { measureSubject, type RunContext, type Subject, type SubjectMeasurement } from "./measure-subject.js";
import { checkPayloads } from "./payload-check.js";
import { prepareRun, type PreparedRun } from "./prepare.js";
import type { Reduction } from "./reduce.js";
import { invarianceRows, type InvarianceRow } from "./report/invariance.js";
import { pairCosines } from "./report/figures/cos-histogram.js";
import { landscapeFigures } from "./report/landscape-figures.js";
import { writeLandscapes } from "./report/landscape-files.js";
import { measureRows, writeMeasuresCsv } from "./report/measures-csv.js";
import { writeModel, writePairsJsonl, writeResultsJson, writeVectorArrays, type RunRecord } from "./report/outputs.js";
import { ProgressLine } from "./report/progress.js";
import { writeReportHtml } from "./report/report-html.js";
import { resultsFile, runRecord } from "./report/results.js";
import { torchNames, withTorchNames } from "./report/torch-names.js";
import type { OnnxParameter } from "../model/onnx/layout.js";
import { encodeStateDict } from "../model/onnx/weights.js";
import { RunFailure } from "./run-failure.js";
import { CoordinatorMetrics } from "../metrics/coordinator.js";
import { MetricsServerError, startMetricsServer, type MetricsServer } from "../metrics/server.js";
import { phaseEtaMs, RunAnnouncer } from "./run-announcer.js";
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
  /** With a given URL: how long to wait for the server at start (default 30 s; 0: one try). */
  connectTimeoutMs?: number;
  /** Login and TLS sources from the command line; each replaces the config's nats: entry for the same thing. */
  natsAuth?: NatsAuthSources;
  /** The environment, for nats.password_env and the like (only the CLI reads process.env). */
  env?: Environment;
  /** Embedded default: the nats-server binary to run (default: found on PATH). */
  natsServerBinary?: string;
  signal?: AbortSignal;
  /** Where progress and log lines go; stderr by default. */
  stream?: NodeJS.WriteStream;
  /** Serve Prometheus metrics on this port during the run (0: a free one); over the config's metrics.port. */
  metricsPort?: number;
  /** The address they listen on; over the config's metrics.host (default 127.0.0.1). */
  metricsHost?: string;
  /** The metrics the run counts into (default: its own); a caller that passes them can read them after the run. */
  metrics?: CoordinatorMetrics;
}

export interface RunResult {
  outDir: string;
  reduction: Reduction;
  /** θ and each twin, as measured. */
  measured: SubjectMeasurement[];
  invariance: InvarianceRow[] | null;
  run: RunRecord;
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

/** --resume writes where the run started; otherwise --out, output.dir, or a fresh runs/ folder. */
function outputFolder(options: RunOptions, cfg: RunConfig): string {
  if (options.resume && options.outDir && resolve(options.outDir) !== resolve(options.resume)) {
    throw new RunFailure(`--resume ${options.resume} and --out ${options.outDir} name different folders; a resumed run writes where it started`);
  }
  return resolve(options.resume ?? options.outDir ?? cfg.outDir ?? defaultOutDir(options.configPath));
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

/** A new journal, or the one --resume continues (checked against this run's identity). */
function openJournal(options: RunOptions, outDir: string, cfg: RunConfig, prep: PreparedRun, log: (line: string) => void): { journal: Journal; recovered: RecoveredJournal | null } {
  if (!options.resume) return { journal: Journal.create(outDir, prep.identity, cfg.file), recovered: null };
  const { journal, recovered } = Journal.resume(outDir, prep.identity);
  if (recovered.droppedLines > 0) log(`resume: dropped ${recovered.droppedLines} incomplete journal line (a write cut short); its work is done again`);
  return { journal, recovered };
}

/** What runJob started, stopped in one place whatever happened: workers first, while the coordinator still answers their last pulls. */
class Started {
  server: NatsServerHandle | null = null;
  nc: NatsConnection | null = null;
  dispatcher: Dispatcher | null = null;
  wire: DispatcherWire | null = null;
  swarm: LocalSwarm | null = null;
  metricsServer: MetricsServer | null = null;
  announcer: RunAnnouncer | null = null;
  /** The phase measured now, for the run's announce. */
  progress: { phase: string; total: number; done: () => number } = { phase: "", total: 0, done: () => 0 };
  /** What run.end says if the run stops without saying otherwise. */
  outcome: { reason: RunEndReason; message: string } = { reason: "failed", message: "the coordinator stopped" };

  async stop(): Promise<void> {
    // First: the workers of the prefix stop pulling this run at once.
    this.announcer?.end(this.outcome.reason, this.outcome.message);
    await this.swarm?.stop();
    this.wire?.stop();
    this.dispatcher?.stop();
    await this.nc?.drain().catch(() => undefined);
    await this.server?.stop();
    await this.metricsServer?.close();
  }
}

/** The metrics port, when the flags or the config ask for one; its URL is logged (how a scraper finds port 0's). */
async function serveMetrics(s: Started, options: RunOptions, cfg: RunConfig, metrics: CoordinatorMetrics, log: (line: string) => void): Promise<void> {
  const port = options.metricsPort ?? cfg.metrics?.port;
  if (port === undefined) {
    if (options.metricsHost !== undefined) throw new RunFailure("--metrics-host needs --metrics-port (or metrics.port in the config)");
    return;
  }
  try {
    s.metricsServer = await startMetricsServer({ registry: metrics.registry, port, host: options.metricsHost ?? cfg.metrics?.host });
  } catch (err) {
    if (err instanceof MetricsServerError) throw new RunFailure(err.message, { cause: err });
    throw err;
  }
  log(`metrics on ${s.metricsServer.url}`);
}

/** The server's URL: the one given, or an embedded nats-server started for this run. */
async function natsServer(s: Started, url: string | undefined, binary: string | undefined, localCount: number, outDir: string, log: (line: string) => void): Promise<string> {
  if (url) return url;
  s.server = await startNatsServer({ exitWithParent: true, binary });
  log(`embedded nats-server on ${s.server.url}; starting ${localCount} local worker${localCount === 1 ? "" : "s"} (logs in ${join(outDir, "logs")})`);
  return s.server.url;
}

/** The dataset, θ and its twins into the object store, each under its sha256. */
async function putBlobs(blobs: BlobStore, prep: PreparedRun, snapshots: ReturnType<typeof subjectSnapshots>): Promise<{ subjects: Subject[]; dataset: DatasetRef; test: DatasetRef | null }> {
  const theta = prep.snapshot;
  const dataPut = await blobs.put(prep.datasetBytes!, `gradswarm dataset ${prep.dataset.name}`, prep.datasetHash);
  prep.datasetBytes = null;
  let test: DatasetRef | null = null;
  if (prep.test) {
    const put = await blobs.put(prep.test.bytes!, `gradswarm test set ${prep.test.dataset.name}`, prep.test.hash);
    prep.test.bytes = null;
    test = { hash: put.hash, bytes: prep.test.size, name: prep.test.dataset.name };
  }
  const subjects: Subject[] = [];
  for (const s of snapshots) {
    const bytes = s.snapshot === theta ? prep.snapshotBytes! : encodeSnapshot(s.snapshot);
    const put = await blobs.put(bytes, `gradswarm parameter snapshot (${s.key})`, s.snapshot === theta ? prep.snapshotHash : sha256Hex(bytes));
    subjects.push({ key: s.key, alpha: s.alpha, snapshot: s.snapshot, ref: { hash: put.hash, bytes: bytes.length } });
  }
  prep.snapshotBytes = null;
  return { subjects, dataset: { hash: dataPut.hash, bytes: prep.datasetSize, name: prep.dataset.name }, test };
}

/** The largest task and result of the run must fit the server's max_payload: refused before dispatch, never sent truncated. */
function checkTaskSizes(nc: NatsConnection, cfg: RunConfig, prep: PreparedRun, subjects: Subject[], dataset: DatasetRef, runId: string): void {
  const { plan } = prep;
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
      dataset,
      returns: cfg.returns,
      labels: "observed",
      labelSeed: 0,
      metrics: Array.from({ length: metricCount }, () => subjects[0]!.ref),
      pairs: Array.from({ length: perTask }, (_, i) => ({ id: plan.count - 1 - i, batches: planPair(plan, i) })),
    }),
    // A result carries statistics per trainable weight tensor.
    [...trainableTensorSizes(prep.snapshot).keys()],
    perTask,
    metricCount,
  );
}

/** The dispatcher on the run's subjects, its sweep running. */
function startDispatcher(s: Started, nc: NatsConnection, cfg: RunConfig, runId: string, metrics: CoordinatorMetrics, log: (line: string) => void): Dispatcher {
  s.dispatcher = new Dispatcher({
    runId,
    leaseMs: cfg.workers.leaseMs,
    waitMs: cfg.workers.waitMs,
    stallTimeoutMs: cfg.stallTimeoutMs,
    quarantineAfter: cfg.workers.quarantineAfter,
    creditPhase: "theta/pairs",
    pullSubject: runSubjects(cfg.nats.prefix, runId).pull,
    log,
    askWorkers: () => s.wire?.askWorkers(),
    onTask: (e) => metrics.onTask(e),
  });
  s.wire = new DispatcherWire(nc, cfg.nats.prefix, s.dispatcher, log);
  metrics.attach({ stats: () => s.dispatcher!.stats(), bytes: s.wire.bytes });
  s.wire.start();
  s.dispatcher.start();
  s.announcer = announceRun(s, nc, cfg, runId, s.dispatcher, log);
  return s.dispatcher;
}

/** The OS user that runs the coordinator, "" when the system cannot say. */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "";
  }
}

/** run.announce every second while the run lasts (and run.end from Started.stop). */
function announceRun(s: Started, nc: NatsConnection, cfg: RunConfig, runId: string, d: Dispatcher, log: (line: string) => void): RunAnnouncer {
  const identity = { runId, label: basename(cfg.file), owner: osUser(), host: hostname(), startedAt: Date.now() };
  const state = () => {
    const p = s.progress;
    const done = p.done();
    return {
      phase: p.phase,
      done,
      total: p.total,
      etaMs: p.phase ? phaseEtaMs(d.spans.get(p.phase), p.total - done, Date.now()) : null,
      workers: d.registry.pulling(WORKER_SILENT_MS).length,
      retries: d.counts.expiredLeases + d.counts.taskErrors,
      quarantines: d.counts.quarantinedWorkers,
    };
  };
  const announcer = new RunAnnouncer(nc, cfg.nats.prefix, identity, state, log);
  announcer.start();
  return announcer;
}

/** Embedded default: the local worker processes; all of them exiting fails the run. */
function startLocalWorkers(s: Started, cfg: RunConfig, url: string, count: number, outDir: string): void {
  const d = s.dispatcher!;
  s.swarm = new LocalSwarm({ count, natsUrl: url, prefix: cfg.nats.prefix, backend: cfg.workers.backend, logDir: join(outDir, "logs") }, (summary) => d.fail(new RunFailure(summary)));
  s.swarm.start();
}

/** θ, then each twin, phase by phase, with the progress line on the way. */
async function measureAll(ctx: Omit<RunContext, "onPhase">, subjects: Subject[], progress: ProgressLine, s: Started): Promise<SubjectMeasurement[]> {
  const d = ctx.dispatcher;
  const liveWorkers = () => d.registry.live(WORKER_SILENT_MS).length;
  let doneOf: () => number = () => 0;
  const timer = setInterval(() => progress.update(doneOf(), liveWorkers()), 250);
  const measured: SubjectMeasurement[] = [];
  const full: RunContext = {
    ...ctx,
    onPhase: (name, units, done) => {
      progress.update(doneOf(), liveWorkers());
      s.progress = { phase: name, total: units, done };
      const unit = name.includes("landscape") ? "points" : name.includes("curvature") ? "items" : name.includes("evaluate") ? "chunks" : "pairs";
      progress.begin(name === "theta/pairs" ? "pairs" : `${name} ${unit}`, unit, units, done());
      doneOf = done;
    },
  };
  try {
    for (const subject of subjects) measured.push(await measureSubject(full, subject));
    return measured;
  } catch (err) {
    if (s.swarm && !(err instanceof RunAborted) && !/local workers exited/.test((err as Error).message)) ctx.log(`local worker logs:\n${s.swarm.logTails()}`);
    throw err;
  } finally {
    clearInterval(timer);
    progress.update(doneOf(), liveWorkers());
    progress.end();
  }
}

/** results.json, pairs.jsonl, the model files, landscapes, per-parameter vectors, measures.csv and report.html. */
async function writeOutputs(outDir: string, cfg: RunConfig, measured: SubjectMeasurement[], run: RunRecord, onnx: OnnxParameter[] | null, dataset: Dataset): Promise<InvarianceRow[] | null> {
  const theta = measured[0]!;
  const invariance = cfg.invariance ? invarianceRows(theta, measured.slice(1), cfg.invariance.tolerance) : null;
  const landscapes = cfg.landscape ? await writeLandscapes(outDir, measured) : [];
  const vectors: Record<string, Record<string, string>> = {};
  for (const m of measured) {
    if (m.vectorArrays) vectors[m.subject.key] = await writeVectorArrays(outDir, m.subject.key, { mean_gradient: m.vectorArrays.meanGradient, variance: m.vectorArrays.variance, gsnr: m.vectorArrays.gsnr });
  }
  const raw = resultsFile(measured, invariance, cfg, { landscapes, vectors }, run, dataset);
  const results = onnx ? withTorchNames(raw, onnx) : raw;
  await writeResultsJson(outDir, results);
  await writePairsJsonl(outDir, theta.records, onnx ? theta.layers.map(torchNames(onnx).layer) : theta.layers);
  await writeModel(outDir, theta.subject.snapshot);
  // An ONNX model's θ also as a PyTorch state_dict (safetensors.torch.load_file reads it).
  if (onnx) await writeFile(join(outDir, "model.safetensors"), encodeStateDict(theta.subject.snapshot, onnx));
  await writeMeasuresCsv(outDir, measureRows(results));
  await writeReportHtml(outDir, { results, cosines: pairCosines(theta.records), landscapes: landscapeFigures(measured) });
  return invariance;
}

export async function runJob(options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const cpuAtStart = process.cpuUsage();
  const cfg = loadConfig(options.configPath);
  const outDir = outputFolder(options, cfg);
  const givenUrl = options.natsUrl ?? cfg.nats.url;
  const localCount = options.workers ?? cfg.workers.local;
  if (!givenUrl && localCount < 1) throw new RunFailure("no NATS URL is given and workers.local is 0: nobody would compute anything");
  // Read before anything is prepared, so that a missing password file fails at once.
  const authSources = overlaySources(cfg.nats.auth, options.natsAuth ?? {});
  const auth: NatsAuth | undefined = givenUrl ? natsAuthFrom(givenUrl, authSources, options.env ?? {}) : undefined;

  const prep = await prepareRun(cfg);
  const snapshots = subjectSnapshots(cfg, prep.snapshot);
  const progress = new ProgressLine(options.stream ?? process.stderr);
  const log = (line: string) => progress.log(line);
  const { journal, recovered } = openJournal(options, outDir, cfg, prep, log);
  const loadMs = Date.now() - started;

  const s = new Started();
  const metrics = options.metrics ?? new CoordinatorMetrics();
  const onAbort = () => s.dispatcher?.fail(new RunAborted("the run was interrupted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new RunAborted("the run was interrupted");
    await serveMetrics(s, options, cfg, metrics, log);
    const url = await natsServer(s, givenUrl, options.natsServerBinary, localCount, outDir, log);
    if (!givenUrl && Object.keys(authSources).length > 0) log("the NATS login and TLS settings are not used: the embedded nats-server (on 127.0.0.1) takes none");
    // A given server may still be starting (deployed beside this run): wait for it a while;
    // the embedded one is up already.
    const timeoutMs = s.server ? 0 : (options.connectTimeoutMs ?? DEFAULT_COORDINATOR_CONNECT_TIMEOUT_S * 1000);
    const connected = await connectNatsWaiting(url, "gradswarm-coordinator", auth, { timeoutMs, signal: options.signal, log });
    if (!connected) throw new RunAborted("the run was interrupted");
    const nc = (s.nc = connected); // closed by s.stop(), also when the run was interrupted meanwhile
    if (options.signal?.aborted) throw new RunAborted("the run was interrupted");
    const blobs = await BlobStore.open(nc, objectBucket(cfg.nats.prefix), true, cfg.nats.replicas);
    const putStarted = Date.now();
    const { subjects, dataset, test } = await putBlobs(blobs, prep, snapshots);
    const putMs = Date.now() - putStarted;
    if (!s.server) log(`using the workers on ${redactUrl(url)} (subject prefix ${cfg.nats.prefix})`);

    const runId = randomUUID();
    checkTaskSizes(nc, cfg, prep, subjects, dataset, runId);
    const dispatcher = startDispatcher(s, nc, cfg, runId, metrics, log);
    if (options.signal?.aborted) onAbort();
    if (s.server) startLocalWorkers(s, cfg, url, localCount, outDir);

    const dispatchStarted = Date.now();
    const table = { leaseMs: cfg.workers.leaseMs, maxAttempts: cfg.workers.maxAttempts, maxInFlight: cfg.workers.maxInFlight };
    const testSet = test && prep.test ? { ref: test, n: prep.test.dataset.n } : null;
    const measured = await measureAll({ cfg, plan: prep.plan, datasetSize: prep.dataset.n, dataset, testSet, dispatcher, blobs, journal, recovered, table, log }, subjects, progress, s);
    const dispatchMs = Date.now() - dispatchStarted;
    // Nothing more to hand out: the workers are free for other runs while the outputs are written.
    s.announcer?.end("finished", "every phase is measured");

    const theta = measured[0]!;
    const run = runRecord({ cfg, prep, runId, theta, dispatcher, natsUrl: s.server ? "embedded" : redactUrl(url), started, cpuAtStart, loadMs, putMs, dispatchMs });
    const invariance = await writeOutputs(outDir, cfg, measured, run, prep.onnxParameters, prep.dataset);
    await journal.remove();
    return { outDir, reduction: theta.reduction, measured, invariance, run };
  } catch (err) {
    // A fresh run that recorded nothing leaves no journal: it would only block the same
    // --out next time (a server that cannot be reached, a payload refused). Anything
    // recorded, or a resumed run's journal, is kept for --resume.
    s.outcome = { reason: err instanceof RunAborted ? "interrupted" : "failed", message: (err as Error)?.message ?? String(err) };
    const recordedNothing = !options.resume && (s.dispatcher?.spans.size ?? 0) === 0;
    if (recordedNothing) await journal.remove();
    else if (typeof err === "object" && err !== null) keptJournals.set(err, outDir);
    throw err;
  } finally {
    await journal.close();
    options.signal?.removeEventListener("abort", onAbort);
    await s.stop();
  }
}
