// `coordinator run`: config → θ and dataset into the object store → pairs planned and
// dispatched → results reduced in pair order → results.json, pairs.jsonl, model files.
// Everything started here (embedded nats-server, local workers) is stopped here, on
// success, on error and on abort.

import { randomUUID } from "node:crypto";
import { basename, extname, join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { layerNames, parameterCount, trainableLayerSizes } from "../model/snapshot.js";
import { BlobStore } from "../nats/blob-store.js";
import { connectNats } from "../nats/connect.js";
import { startNatsServer, type NatsServerHandle } from "../nats/server-process.js";
import { createMessage, objectBucket, PROTOCOL_VERSION, type TaskPair, type TaskResultMessage } from "../protocol/index.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { loadConfig } from "./config/load.js";
import { Dispatcher, RunFailure, WORKER_SILENT_MS } from "./dispatcher.js";
import { LocalSwarm } from "./local-swarm.js";
import { PairRecords } from "./pair-records.js";
import { reducePairs, type Reduction } from "./reduce.js";
import { writeModel, writePairsJsonl, writeResultsJson } from "./report/outputs.js";
import { ProgressLine } from "./report/progress.js";
import { Journal, JournalError, type RecoveredJournal } from "./journal.js";
import { checkPayloads } from "./payload-check.js";
import { planTasks, prepareRun } from "./prepare.js";
import { planPair, type PairPlan } from "./sampler.js";
import { TaskTable } from "./task-table.js";

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
  run: Record<string, unknown>;
}

export class RunAborted extends Error {
  override name = "RunAborted";
}

function defaultOutDir(configPath: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return resolve("runs", `${basename(configPath, extname(configPath))}-${stamp}`);
}

/** What a result must satisfy beyond the wire contract; records it if so. */
function resultAcceptor(records: PairRecords, pairsOf: Map<string, TaskPair[]>, journal: Journal, layerSizes: Map<string, number>) {
  return (result: TaskResultMessage): string | null => {
    for (const [l, name] of result.layers.entries()) {
      // θ says how many parameters each layer has; vectors of another length are not θ's gradient.
      const size = layerSizes.get(name);
      if (size === undefined) return `layer ${name} is not a layer of the model`;
      if (result.layerSizes[l] !== size) return `layer ${name} has ${size} parameters, the result says ${result.layerSizes[l]}`;
    }
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
    const taken = result.pairs.map((p, i) => ({ ...p, batches: expected[i]!.batches }));
    // Durable before the worker hears "accepted": a coordinator killed now resumes with it.
    journal.append(result.layers, taken);
    for (const r of taken) records.set(r);
    return null;
  };
}

/** Pairs recorded by an earlier coordinator, checked against the plan; the rest to do. */
function recover(journal: RecoveredJournal, plan: PairPlan, records: PairRecords, log: (line: string) => void): number[] {
  for (const r of journal.records) {
    if (!Number.isSafeInteger(r.id) || r.id < 0 || r.id >= plan.count) throw new JournalError(`the journal holds pair ${r.id}, outside the plan of ${plan.count}`);
    const [b1, b2] = planPair(plan, r.id);
    if (JSON.stringify(r.batches) !== JSON.stringify([b1, b2])) throw new JournalError(`the journal's pair ${r.id} has other minibatches than the plan`);
    records.set(r);
  }
  records.layers = journal.layers;
  if (journal.droppedLines > 0) log(`resume: dropped ${journal.droppedLines} incomplete journal line (a write cut short); its pairs are computed again`);
  const todo: number[] = [];
  for (let i = 0; i < plan.count; i++) if (!records.has(i)) todo.push(i);
  log(`resume: ${records.size} of ${plan.count} pairs recorded earlier; ${todo.length} to compute`);
  return todo;
}

export async function runJob(options: RunOptions): Promise<RunResult> {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
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
  const records = new PairRecords(plan.count);
  const progress = new ProgressLine(plan.count, stream);
  const log = (line: string) => progress.log(line);
  let journal: Journal;
  let todo: number[];
  let resumedPairs = 0;
  if (options.resume) {
    const r = Journal.resume(outDir, prep.identity);
    journal = r.journal;
    todo = recover(r.recovered, plan, records, log);
    resumedPairs = records.size;
    progress.already = resumedPairs;
  } else {
    journal = Journal.create(outDir, prep.identity, cfg.file);
    todo = Array.from({ length: plan.count }, (_, i) => i);
  }
  const { tasks, pairs: pairsOf } = planTasks(plan, todo, cfg.pairs.perTask);
  const loadedMs = Date.now() - started;

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
      server = await startNatsServer({ exitWithParent: true });
      url = server.url;
      log(`embedded nats-server on ${url}; starting ${localCount} local worker${localCount === 1 ? "" : "s"} (logs in ${join(outDir, "logs")})`);
    }
    nc = await connectNats(url, "gradswarm-coordinator");
    const blobs = await BlobStore.open(nc, objectBucket(cfg.nats.prefix), true, cfg.nats.replicas);
    const putStarted = Date.now();
    const snapPut = await blobs.put(prep.snapshotBytes!, "gradswarm parameter snapshot", prep.snapshotHash);
    const dataPut = await blobs.put(prep.datasetBytes!, `gradswarm dataset ${dataset.name}`, prep.datasetHash);
    prep.snapshotBytes = null;
    prep.datasetBytes = null;
    const putMs = Date.now() - putStarted;
    if (!server) log(`using the workers on ${url} (subject prefix ${cfg.nats.prefix})`);

    const runId = randomUUID();
    const firstTask = tasks[0];
    if (firstTask) {
      const largest = createMessage("task", {
        runId,
        taskId: firstTask.id,
        leaseId: `${firstTask.id}.999999`,
        leaseMs: cfg.workers.leaseMs,
        snapshot: { hash: snapPut.hash, bytes: prep.snapshotSize },
        dataset: { hash: dataPut.hash, bytes: prep.datasetSize, name: dataset.name },
        returns: cfg.returns,
        pairs: pairsOf.get(firstTask.id)!,
      });
      checkPayloads(nc.info?.max_payload ?? 1024 * 1024, largest, layerNames(snapshot.weights), cfg.pairs.perTask);
    }
    const table = new TaskTable(tasks, { leaseMs: cfg.workers.leaseMs, maxAttempts: cfg.workers.maxAttempts, maxInFlight: cfg.workers.maxInFlight });
    dispatcher = new Dispatcher({
      nc,
      prefix: cfg.nats.prefix,
      runId,
      table,
      pairsOf: (id) => pairsOf.get(id)!,
      snapshot: { hash: snapPut.hash, bytes: prep.snapshotSize },
      dataset: { hash: dataPut.hash, bytes: prep.datasetSize, name: dataset.name },
      leaseMs: cfg.workers.leaseMs,
      waitMs: cfg.workers.waitMs,
      returns: cfg.returns,
      quarantineAfter: cfg.workers.quarantineAfter,
      accept: resultAcceptor(records, pairsOf, journal, trainableLayerSizes(snapshot.weights)),
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
      pairs: { count: plan.count, batch_size: plan.batchSize, pairing: plan.pairing, per_task: cfg.pairs.perTask, tasks: tasks.length, resumed: resumedPairs, computed: plan.count - resumedPairs },
      dataset: { name: dataset.name, hash: dataPut.hash, bytes: prep.datasetSize, n: dataset.n, feature_shape: dataset.featureShape, classes: dataset.numClasses },
      snapshot: { hash: snapPut.hash, bytes: prep.snapshotSize, parameters: parameterCount(snapshot.weights), weight_layers: layerNames(snapshot.weights), gradient_layers: layers },
      nats: { url: server ? "embedded" : url, prefix: cfg.nats.prefix },
      return: cfg.returns,
      workers: [...dispatcher.workers.values()].map((w) => ({
        id: w.id,
        host: w.host,
        backend: w.backend,
        device: w.device,
        version: w.version,
        tasks: w.tasksDone,
        pairs: w.pairsDone,
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
        pairs_per_s: (plan.count - resumedPairs) / Math.max(dispatchMs / 1000, 1e-9),
      },
    };
    await writeResultsJson(outDir, reduction, run);
    await writePairsJsonl(outDir, all, layers);
    await writeModel(outDir, snapshot);
    journal.remove();
    return { outDir, reduction, run };
  } finally {
    journal.close();
    options.signal?.removeEventListener("abort", onAbort);
    if (progressTimer) clearInterval(progressTimer);
    // Workers first, while the coordinator still answers their last pulls.
    await swarm?.stop();
    dispatcher?.stop();
    await nc?.drain().catch(() => undefined);
    await server?.stop();
  }
}
