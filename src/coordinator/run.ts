// `coordinator run`: config → θ and dataset into the object store → pairs planned and
// dispatched → results reduced in pair order → results.json, pairs.jsonl, model files.
// Everything started here (embedded nats-server, local workers) is stopped here, on
// success, on error and on abort.

import { randomUUID } from "node:crypto";
import { basename, dirname, extname, join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { datasetHash, datasetToBundleBytes } from "../data/bundle.js";
import { featureSize, type Dataset } from "../data/dataset.js";
import { loadDataset } from "../data/load.js";
import { readLayersModel } from "../model/layers-model-files.js";
import { mlpSnapshot } from "../model/mlp.js";
import { encodeSnapshot, layerNames, parameterCount, type Snapshot } from "../model/snapshot.js";
import { BlobStore } from "../nats/blob-store.js";
import { connectNats } from "../nats/connect.js";
import { startNatsServer, type NatsServerHandle } from "../nats/server-process.js";
import { objectBucket, PROTOCOL_VERSION, type TaskPair, type TaskResultMessage } from "../protocol/index.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { loadConfig, type RunConfig } from "./config/load.js";
import { Dispatcher, RunFailure, WORKER_SILENT_MS } from "./dispatcher.js";
import { LocalSwarm } from "./local-swarm.js";
import { PairRecords } from "./pair-records.js";
import { reducePairs, type Reduction } from "./reduce.js";
import { writeModel, writePairsJsonl, writeResultsJson } from "./report/outputs.js";
import { ProgressLine } from "./report/progress.js";
import { checkPlan, planPair, type PairPlan } from "./sampler.js";
import { TaskTable, type TaskSpec } from "./task-table.js";

export interface RunOptions {
  configPath: string;
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
  run: Record<string, unknown>;
}

export class RunAborted extends Error {
  override name = "RunAborted";
}

function defaultOutDir(configPath: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return resolve("runs", `${basename(configPath, extname(configPath))}-${stamp}`);
}

async function buildSnapshot(cfg: RunConfig): Promise<Snapshot> {
  return cfg.model.kind === "mlp" ? mlpSnapshot(cfg.model) : readLayersModel(cfg.model.path);
}

/** Checks what can be checked before anything starts: sizes of model vs data. */
function checkModelFitsData(cfg: RunConfig, dataset: Dataset): void {
  if (cfg.model.kind !== "mlp") return;
  const inputs = cfg.model.layers[0]!;
  const outputs = cfg.model.layers.at(-1)!;
  const problems: string[] = [];
  if (inputs !== featureSize(dataset)) problems.push(`model.layers[0] is ${inputs} but the examples of ${dataset.name} have ${featureSize(dataset)} features`);
  if (outputs !== dataset.numClasses) problems.push(`the last of model.layers is ${outputs} but ${dataset.name} has ${dataset.numClasses} classes`);
  if (problems.length > 0) throw new RunFailure(`${cfg.file}: ${problems.join("; ")}`);
}

function planTasks(plan: PairPlan, perTask: number): { tasks: TaskSpec[]; pairs: Map<string, TaskPair[]> } {
  const tasks: TaskSpec[] = [];
  const pairs = new Map<string, TaskPair[]>();
  const width = String(Math.ceil(plan.count / perTask) - 1).length;
  for (let start = 0, k = 0; start < plan.count; start += perTask, k++) {
    const id = `t${String(k).padStart(width, "0")}`;
    const ids: number[] = [];
    const taskPairs: TaskPair[] = [];
    for (let i = start; i < Math.min(plan.count, start + perTask); i++) {
      ids.push(i);
      taskPairs.push({ id: i, batches: planPair(plan, i) });
    }
    tasks.push({ id, pairIds: ids });
    pairs.set(id, taskPairs);
  }
  return { tasks, pairs };
}

/** What a result must satisfy beyond the wire contract; records it if so. */
function resultAcceptor(records: PairRecords, pairsOf: Map<string, TaskPair[]>) {
  return (result: TaskResultMessage): string | null => {
    const expected = pairsOf.get(result.taskId);
    if (!expected) return `unknown task ${result.taskId}`;
    if (result.pairs.length !== expected.length || result.pairs.some((p, i) => p.id !== expected[i]!.id)) {
      return `the result's pairs [${result.pairs.map((p) => p.id)}] are not the task's [${expected.map((p) => p.id)}]`;
    }
    if (records.layers && (records.layers.length !== result.layers.length || records.layers.some((l, i) => l !== result.layers[i]))) {
      return `layers [${result.layers}] differ from earlier results' [${records.layers}]`;
    }
    for (const p of result.pairs) {
      if (p.norm[0] === 0 || p.norm[1] === 0) continue;
      // Cauchy–Schwarz with float32 slack: a larger |dot| is corrupt data, not rounding.
      if (Math.abs(p.dot) > p.norm[0] * p.norm[1] * (1 + 1e-3)) return `pair ${p.id}: |g1·g2| = ${Math.abs(p.dot)} exceeds ‖g1‖‖g2‖ = ${p.norm[0] * p.norm[1]}`;
    }
    records.layers ??= result.layers;
    result.pairs.forEach((p, i) => records.set({ ...p, batches: expected[i]!.batches }));
    return null;
  };
}

export async function runJob(options: RunOptions): Promise<RunResult> {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
  const cfg = loadConfig(options.configPath);
  const outDir = resolve(options.outDir ?? cfg.outDir ?? defaultOutDir(options.configPath));
  const natsUrl = options.natsUrl ?? cfg.nats.url;
  const localCount = options.workers ?? cfg.workers.local;
  if (!natsUrl && localCount < 1) throw new RunFailure("no NATS URL is given and workers.local is 0: nobody would compute anything");

  const dataset = await loadDataset(cfg.data, dirname(cfg.file));
  checkModelFitsData(cfg, dataset);
  const plan: PairPlan = { seed: cfg.pairs.seed, count: cfg.pairs.count, datasetSize: dataset.n, batchSize: cfg.pairs.batchSize, pairing: cfg.pairs.pairing };
  try {
    checkPlan(plan);
  } catch (err) {
    throw new RunFailure(`${cfg.file}: ${(err as Error).message}`);
  }
  const snapshot = await buildSnapshot(cfg);
  const snapshotBytes = encodeSnapshot(snapshot);
  const datasetBytes = datasetToBundleBytes(dataset);
  const { tasks, pairs: pairsOf } = planTasks(plan, cfg.pairs.perTask);
  const loadedMs = Date.now() - started;

  const progress = new ProgressLine(plan.count, stream);
  const log = (line: string) => progress.log(line);
  let server: NatsServerHandle | null = null;
  let swarm: LocalSwarm | null = null;
  let nc: NatsConnection | null = null;
  let dispatcher: Dispatcher | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  const onAbort = () => dispatcher?.fail(new RunAborted("the run was interrupted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new RunAborted("the run was interrupted");
    let url = natsUrl;
    if (!url) {
      server = await startNatsServer();
      url = server.url;
      log(`embedded nats-server on ${url}; starting ${localCount} local worker${localCount === 1 ? "" : "s"} (logs in ${join(outDir, "logs")})`);
    }
    nc = await connectNats(url, "gradswarm-coordinator");
    const blobs = await BlobStore.open(nc, objectBucket(cfg.nats.prefix), true);
    const putStarted = Date.now();
    const snapPut = await blobs.put(snapshotBytes, "gradswarm parameter snapshot");
    const dataPut = await blobs.put(datasetBytes, `gradswarm dataset ${dataset.name}`);
    const putMs = Date.now() - putStarted;
    if (!server) log(`using the workers on ${url} (subject prefix ${cfg.nats.prefix})`);

    const records = new PairRecords(plan.count);
    const table = new TaskTable(tasks, { leaseMs: cfg.workers.leaseMs, maxAttempts: cfg.workers.maxAttempts, maxInFlight: cfg.workers.maxInFlight });
    const runId = randomUUID();
    dispatcher = new Dispatcher({
      nc,
      prefix: cfg.nats.prefix,
      runId,
      table,
      pairsOf: (id) => pairsOf.get(id)!,
      snapshot: { hash: snapPut.hash, bytes: snapshotBytes.length },
      dataset: { hash: dataPut.hash, bytes: datasetBytes.length, name: dataset.name },
      leaseMs: cfg.workers.leaseMs,
      waitMs: cfg.workers.waitMs,
      accept: resultAcceptor(records, pairsOf),
      log,
    });
    dispatcher.start();
    if (options.signal?.aborted) onAbort();
    if (!server) {
      // with a URL, workers may already be waiting; nothing to start
    } else {
      const d = dispatcher;
      swarm = new LocalSwarm({ count: localCount, natsUrl: url, prefix: cfg.nats.prefix, backend: cfg.workers.backend, logDir: join(outDir, "logs") }, (summary) =>
        d.fail(new RunFailure(summary)),
      );
      swarm.start();
    }
    const d = dispatcher;
    const liveWorkers = () => [...d.workers.values()].filter((w) => Date.now() - w.lastSeen < WORKER_SILENT_MS).length;
    progressTimer = setInterval(() => progress.update(records.size, liveWorkers()), 250);
    const dispatchStarted = Date.now();
    try {
      await dispatcher.finished;
    } catch (err) {
      if (swarm && !(err instanceof RunAborted) && !/local workers exited/.test((err as Error).message)) log(`local worker logs:\n${swarm.logTails()}`);
      throw err;
    } finally {
      clearInterval(progressTimer);
      progress.update(records.size, liveWorkers());
      progress.end();
    }
    const dispatchMs = Date.now() - dispatchStarted;

    const all = records.all();
    const layers = records.layers ?? [];
    const reduction = reducePairs(all, layers, { datasetSize: dataset.n, batchSize: plan.batchSize, pairing: plan.pairing });
    const run = {
      gradswarm_version: PACKAGE_VERSION,
      protocol_version: PROTOCOL_VERSION,
      run_id: runId,
      config_file: cfg.file,
      config: cfg.parsed,
      seed: plan.seed,
      pairs: { count: plan.count, batch_size: plan.batchSize, pairing: plan.pairing, per_task: cfg.pairs.perTask, tasks: tasks.length },
      dataset: { name: dataset.name, hash: dataPut.hash, bytes: datasetBytes.length, n: dataset.n, feature_shape: dataset.featureShape, classes: dataset.numClasses },
      snapshot: { hash: snapPut.hash, bytes: snapshotBytes.length, parameters: parameterCount(snapshot.weights), weight_layers: layerNames(snapshot.weights), gradient_layers: layers },
      nats: { url: server ? "embedded" : url, prefix: cfg.nats.prefix },
      workers: [...dispatcher.workers.values()].map((w) => ({ id: w.id, host: w.host, backend: w.backend, device: w.device, version: w.version, tasks: w.tasksDone, pairs: w.pairsDone })),
      faults: dispatcher.counts,
      timings: {
        started: new Date(started).toISOString(),
        finished: new Date().toISOString(),
        load_s: loadedMs / 1000,
        blob_put_s: putMs / 1000,
        dispatch_s: dispatchMs / 1000,
        total_s: (Date.now() - started) / 1000,
        pairs_per_s: plan.count / Math.max(dispatchMs / 1000, 1e-9),
      },
    };
    await writeResultsJson(outDir, reduction, run);
    await writePairsJsonl(outDir, all, layers);
    await writeModel(outDir, snapshot);
    return { outDir, reduction, run };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (progressTimer) clearInterval(progressTimer);
    // Workers first, while the coordinator still answers their last pulls.
    await swarm?.stop();
    dispatcher?.stop();
    await nc?.drain().catch(() => undefined);
    await server?.stop();
  }
}
