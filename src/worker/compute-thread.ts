// Entry point of the compute thread: loads TensorFlow.js, selects the backend, and
// computes tasks one at a time. It keeps one GradientEngine for the (θ, dataset) it saw
// last, since consecutive tasks of a run share both.

import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { datasetFromBundleBytes } from "../data/bundle.js";
import type { Dataset } from "../data/dataset.js";
import { decodeSnapshot, type Snapshot } from "../model/snapshot.js";
import { selectBackend } from "./backend.js";
import type { ComputeFailure, FromCompute, ToCompute } from "./compute-messages.js";
import { GradientEngine } from "./gradients.js";

const port = parentPort;
if (!port) throw new Error("compute-thread.js must run in a worker thread");

// tfjs greets every Node user with advice to install tfjs-node; that is the backend
// selection's business, reported once by the worker.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].includes("looks like you are running TensorFlow.js in Node.js")) return;
  warn(...args);
};

let snapshot: { hash: string; value: Snapshot } | null = null;
let dataset: { hash: string; value: Dataset } | null = null;
let engine: { key: string; value: GradientEngine } | null = null;

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
  const buffers = new Set<ArrayBuffer>();
  for (const a of [...msg.g1, ...msg.g2]) if (a.buffer instanceof ArrayBuffer) buffers.add(a.buffer);
  port!.postMessage(msg, [...buffers]);
}

async function engineFor(task: Extract<ToCompute, { kind: "task" }>): Promise<GradientEngine> {
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

/** Resolvers of the "continue" a vectors task waits for after each pair. */
const continuations = new Map<number, (abort: boolean) => void>();

async function runTask(task: Extract<ToCompute, { kind: "task" }>): Promise<void> {
  const started = performance.now();
  try {
    const e = await engineFor(task);
    const layout = { layers: e.layers, layerSizes: e.layerSizes, weightLayer: e.weightLayer };
    const pairs = [];
    for (const p of task.pairs) {
      if (!task.vectors) {
        pairs.push(await e.pairStats(p));
        continue;
      }
      const { stats, g1, g2 } = await e.pairGradients(p);
      pairs.push(stats);
      // One pair's vectors at a time: wait until they are sent before computing the next,
      // so a slow network never piles gradients up in memory.
      const go = new Promise<boolean>((resolve) => continuations.set(task.id, resolve));
      post({ kind: "vectors", id: task.id, pair: p.id, g1, g2, layout });
      if (await go) throw new TaskFailure("aborted", "the vectors were refused; the task is abandoned");
    }
    post({ kind: "result", id: task.id, layout, pairs, computeMs: performance.now() - started });
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
        post({ kind: "ready", info: await selectBackend(tf, msg.backend) });
      } catch (err) {
        post({ kind: "init-failed", message: (err as Error).message });
      }
    } else {
      await runTask(msg);
    }
  });
});
