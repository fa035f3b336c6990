// Entry point of the compute thread: loads TensorFlow.js, selects the backend, and runs
// jobs one at a time. It keeps one GradientEngine for the (θ, dataset) it saw last, since
// consecutive tasks of a run share both, and a few vector blobs (metrics, directions).

import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { datasetFromBundleBytes } from "../data/bundle.js";
import type { Dataset } from "../data/dataset.js";
import { decodeSnapshot, type Snapshot } from "../model/snapshot.js";
import { decodeVector } from "../model/vector-blob.js";
import { selectBackend } from "./backend.js";
import type { ThreadBlob, ComputeFailure, FromCompute, Job, JobResult, ToCompute } from "./compute-messages.js";
import { GradientEngine } from "./gradients.js";
import { runCurvature, runLoss } from "./jobs.js";

const port = parentPort;
if (!port) throw new Error("compute-thread.js must run in a worker thread");

// tfjs greets every Node user with advice to install tfjs-node; that is the backend
// selection's business, reported once by the worker.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].includes("looks like you are running TensorFlow.js in Node.js")) return;
  warn(...args);
};

/** Vector blobs kept, most recent last: a run uses two metrics or two directions at a time. */
const VECTORS_KEPT = 6;

let snapshot: { hash: string; value: Snapshot } | null = null;
let dataset: { hash: string; value: Dataset } | null = null;
let engine: { key: string; value: GradientEngine } | null = null;
const vectors = new Map<string, Float32Array>();

class TaskFailure extends Error {
  constructor(
    readonly code: ComputeFailure,
    message: string,
  ) {
    super(message);
  }
}

function post(msg: FromCompute): void {
  if (msg.kind !== "vectors") return port!.postMessage(msg);
  // Gradients are handed over, not copied: for a 100M-parameter model each is 400 MB.
  // They come from tensor.data() after the tensors were disposed, so nothing else holds them.
  // Only buffers an array owns whole are transferred; a view into a shared buffer is copied.
  const buffers = new Set<ArrayBuffer>();
  for (const a of [...msg.g1, ...msg.g2]) {
    if (a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) buffers.add(a.buffer);
  }
  port!.postMessage(msg, [...buffers]);
}

type TaskMsg = Extract<ToCompute, { kind: "task" }>;

async function engineFor(task: TaskMsg): Promise<GradientEngine> {
  if (snapshot?.hash !== task.snapshot.hash) {
    if (!task.snapshot.bytes) throw new TaskFailure("blob_missing", `snapshot ${task.snapshot.hash} was not sent to the compute thread`);
    try {
      snapshot = { hash: task.snapshot.hash, value: decodeSnapshot(task.snapshot.bytes) };
    } catch (err) {
      throw new TaskFailure("bad_snapshot", `snapshot ${task.snapshot.hash}: ${(err as Error).message}`);
    }
  }
  if (dataset?.hash !== task.dataset.hash) {
    if (!task.dataset.bytes) throw new TaskFailure("blob_missing", `dataset ${task.dataset.hash} was not sent to the compute thread`);
    try {
      dataset = { hash: task.dataset.hash, value: datasetFromBundleBytes(task.dataset.bytes, task.dataset.name) };
    } catch (err) {
      throw new TaskFailure("bad_dataset", `dataset ${task.dataset.name} (${task.dataset.hash}): ${(err as Error).message}`);
    }
  }
  const key = `${snapshot.hash}/${dataset.hash}`;
  if (engine?.key !== key) {
    engine?.value.dispose();
    engine = null;
    try {
      engine = { key, value: await GradientEngine.create(tf, snapshot.value, dataset.value) };
    } catch (err) {
      throw new TaskFailure("model_mismatch", (err as Error).message);
    }
  }
  return engine.value;
}

function vectorOf(ref: ThreadBlob): Float32Array {
  let v = vectors.get(ref.hash);
  if (!v) {
    if (!ref.bytes) throw new TaskFailure("blob_missing", `vector ${ref.hash} was not sent to the compute thread`);
    try {
      v = decodeVector(ref.bytes).values;
    } catch (err) {
      throw new TaskFailure("bad_vector", `vector ${ref.hash}: ${(err as Error).message}`);
    }
  }
  vectors.delete(ref.hash);
  vectors.set(ref.hash, v);
  while (vectors.size > VECTORS_KEPT) vectors.delete(vectors.keys().next().value!);
  return v;
}

/** Set at init: whether pairs are computed in groups (replicated weights) when the model allows. */
let grouping = false;
/** Memory one group may take (replicated weights, activations, their gradients). */
const GROUP_BUDGET_BYTES = 1 << 30;
const MAX_GROUP = 64;

/** Resolvers of the "continue" a vectors task waits for after each pair. */
const continuations = new Map<number, (abort: boolean) => void>();

async function runPairs(id: number, e: GradientEngine, job: Extract<Job, { type: "pairs" }>): Promise<JobResult> {
  const layout = { tensors: e.tensors, tensorSizes: e.tensorSizes, weightTensor: e.weightTensor };
  const options = { labels: job.labels, labelSeed: job.labelSeed, metrics: job.metrics.map(vectorOf) };
  const pairs = [];
  // Pairs in chunks: one chunk's gradients at a time, computed in one grouped pass when
  // grouping is on and the model allows it, else one minibatch after the other.
  const grouped = grouping && e.whyNotGrouped === null;
  const k = grouped ? e.groupSize(Math.max(...job.pairs.map((p) => Math.max(p.batches[0].length, p.batches[1].length))), GROUP_BUDGET_BYTES, MAX_GROUP) : 1;
  const perChunk = grouped ? Math.max(1, Math.floor(k / 2)) : 1;
  for (let start = 0; start < job.pairs.length; start += perChunk) {
    const chunk = job.pairs.slice(start, start + perChunk);
    const done = grouped ? await e.pairGradientsGrouped(chunk, options, k) : [await e.pairGradients(chunk[0]!, options)];
    for (const [i, { stats, g1, g2 }] of done.entries()) {
      pairs.push(stats);
      if (!job.vectors) continue;
      // One pair's vectors at a time: wait until they are sent before going on, so a slow
      // network never piles gradients up in memory.
      const go = new Promise<boolean>((resolve) => continuations.set(id, resolve));
      post({ kind: "vectors", id, pair: chunk[i]!.id, g1, g2, layout });
      if (await go) throw new TaskFailure("aborted", "the vectors were refused; the task is abandoned");
    }
  }
  return { type: "pairs", layout, pairs };
}

async function runTask(task: TaskMsg): Promise<void> {
  const started = performance.now();
  try {
    const e = await engineFor(task);
    const job = task.job;
    let result: JobResult;
    if (job.type === "pairs") result = await runPairs(task.id, e, job);
    else if (job.type === "loss") result = { type: "loss", points: await runLoss(e, job.points, job.directions.map(vectorOf), job.indices) };
    else result = { type: "curvature", items: await runCurvature(e, job) };
    post({ kind: "result", id: task.id, result, computeMs: performance.now() - started });
  } catch (err) {
    const code = err instanceof TaskFailure ? err.code : "compute_failed";
    post({ kind: "task-failed", id: task.id, code, message: (err as Error).message ?? String(err) });
  }
}

let queue = Promise.resolve();
port.on("message", (msg: ToCompute) => {
  if (msg.kind === "continue") {
    // Answered at once, not queued: the task waiting for it is what holds the queue.
    continuations.get(msg.id)?.(msg.abort);
    continuations.delete(msg.id);
    return;
  }
  // One task at a time, in arrival order.
  queue = queue.then(async () => {
    if (msg.kind === "init") {
      try {
        const info = await selectBackend(tf, msg.backend, msg.options);
        // Grouping pays where many small matmuls are launch-bound: a GPU (18× on an H200,
        // docs/design.md "Measured facts"); on CPU backends the loop is as fast or faster (bench/README.md).
        grouping = msg.group === "on" || (msg.group === "auto" && info.gpu);
        post({ kind: "ready", info, grouping });
      } catch (err) {
        post({ kind: "init-failed", message: (err as Error).message });
      }
    } else {
      await runTask(msg);
    }
  });
});
