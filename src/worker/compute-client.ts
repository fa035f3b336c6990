// The NATS side's handle on the compute thread: starts it, sends it tasks, and remembers
// which blobs it already holds so that θ and the dataset cross the thread boundary once.

import { Worker } from "node:worker_threads";
import { distFile } from "../util/package-root.js";
import type { BackendChoice, BackendInfo, BackendOptions } from "./backend.js";
import type { LabelMode } from "../protocol/index.js";
import type { ThreadBlob, ComputeFailure, FromCompute, GradientLayout, GroupChoice, Job, JobResult, ToCompute } from "./compute-messages.js";
import type { PairInput } from "./gradients.js";

export interface ComputeResult {
  result: JobResult;
  computeMs: number;
}

/**
 * A blob (θ, the dataset, a metric or direction vector) by hash; `get` is called only if
 * the thread lacks it. Bytes in a SharedArrayBuffer (as BlobStore fetches them) reach the
 * thread as a view, not a copy.
 */
export interface BlobSource {
  hash: string;
  get: () => Promise<Uint8Array>;
}

export type JobRequest =
  | { type: "pairs"; pairs: PairInput[]; labels: LabelMode; labelSeed: number; metrics: BlobSource[] }
  | { type: "loss"; points: { id: number; alpha: number; beta: number }[]; directions: BlobSource[]; indices: number[] }
  | Extract<Job, { type: "curvature" }>;

/** As many vector blobs as the compute thread keeps (compute-thread.ts), touched in the same order. */
const VECTORS_KEPT = 6;

/** Receives one pair's two gradients (vectors tasks); a rejection abandons the task. */
export type VectorsHandler = (pair: number, g1: Float32Array[], g2: Float32Array[], layout: GradientLayout) => Promise<void>;

export class ComputeError extends Error {
  override name = "ComputeError";
  constructor(
    readonly code: ComputeFailure | "thread_died",
    message: string,
  ) {
    super(message);
  }
}

/** A compute thread as the NATS side sees it: the client end of one worker_threads Worker. */
export class ComputeThreadClient {
  private readonly thread: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ComputeResult) => void; reject: (e: Error) => void; onVectors?: VectorsHandler }>();
  private heldSnapshot: string | null = null;
  private heldDataset: string | null = null;
  private readonly heldVectors: string[] = [];
  private ready: Promise<BackendInfo>;
  private died: Error | null = null;

  /** Whether the thread computes pairs in grouped passes (known once ready). */
  grouping = false;

  /**
   * Starts the thread. Everything it needs comes in its init message (`options`), none of
   * it from the environment.
   */
  constructor(backend: BackendChoice, group: GroupChoice = "auto", options: BackendOptions = {}) {
    this.thread = new Worker(distFile("worker/compute-thread.js"));
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (msg: FromCompute) => {
        if (msg.kind === "ready") {
          this.grouping = msg.grouping;
          resolve(msg.info);
        }
        else if (msg.kind === "init-failed") reject(new ComputeError("compute_failed", msg.message));
        else if (msg.kind === "vectors") this.forwardVectors(msg);
        else this.settle(msg);
      };
      this.thread.on("message", onMessage);
      this.thread.on("error", (err) => this.fail(err, reject));
      this.thread.on("exit", (code) => this.fail(new Error(`compute thread exited with code ${code}`), reject));
    });
    this.post({ kind: "init", backend, group, options });
  }

  /** Resolves with the backend the thread selected. */
  backend(): Promise<BackendInfo> {
    return this.ready;
  }

  private post(msg: ToCompute): void {
    // Blobs are copied, not transferred: the worker's blob cache keeps its own bytes.
    this.thread.postMessage(msg);
  }

  private fail(err: Error, rejectReady: (e: Error) => void): void {
    if (this.died) return;
    this.died = err;
    rejectReady(err);
    for (const p of this.pending.values()) p.reject(new ComputeError("thread_died", err.message));
    this.pending.clear();
  }

  private forwardVectors(msg: Extract<FromCompute, { kind: "vectors" }>): void {
    const handler = this.pending.get(msg.id)?.onVectors;
    const reply = (abort: boolean) => this.post({ kind: "continue", id: msg.id, abort });
    if (!handler) return reply(true);
    handler(msg.pair, msg.g1, msg.g2, msg.layout).then(
      () => reply(false),
      () => reply(true),
    );
  }

  private settle(msg: Extract<FromCompute, { kind: "result" | "task-failed" }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.kind === "result") p.resolve({ result: msg.result, computeMs: msg.computeMs });
    else p.reject(new ComputeError(msg.code, msg.message));
  }

  /** The vector's reference for the thread: with its bytes unless the thread holds it. */
  private async vectorRef(v: BlobSource): Promise<ThreadBlob> {
    const at = this.heldVectors.indexOf(v.hash);
    const ref: ThreadBlob = { hash: v.hash };
    if (at === -1) ref.bytes = await v.get();
    else this.heldVectors.splice(at, 1);
    this.heldVectors.push(v.hash);
    while (this.heldVectors.length > VECTORS_KEPT) this.heldVectors.shift();
    return ref;
  }

  /**
   * Runs a job. `getSnapshot`/`getDataset` (and each vector's `get`) are called only when
   * the thread does not hold that blob yet. `onVectors` makes a pairs job send its vectors.
   */
  async run(
    snapshot: BlobSource,
    dataset: BlobSource & { name: string },
    request: JobRequest,
    onVectors?: VectorsHandler,
  ): Promise<ComputeResult> {
    await this.ready;
    if (this.died) throw new ComputeError("thread_died", this.died.message);
    const snap: ThreadBlob = { hash: snapshot.hash };
    if (this.heldSnapshot !== snapshot.hash) snap.bytes = await snapshot.get();
    const data: ThreadBlob & { name: string } = { hash: dataset.hash, name: dataset.name };
    if (this.heldDataset !== dataset.hash) data.bytes = await dataset.get();
    let job: Job;
    if (request.type === "pairs") {
      const metrics = [];
      for (const m of request.metrics) metrics.push(await this.vectorRef(m));
      job = { type: "pairs", pairs: request.pairs, vectors: onVectors !== undefined, labels: request.labels, labelSeed: request.labelSeed, metrics };
    } else if (request.type === "loss") {
      const directions = [];
      for (const d of request.directions) directions.push(await this.vectorRef(d));
      job = { type: "loss", points: request.points, directions, indices: request.indices };
    } else {
      job = request;
    }
    const id = this.nextId++;
    const result = new Promise<ComputeResult>((resolve, reject) => this.pending.set(id, { resolve, reject, onVectors }));
    this.post({ kind: "task", id, snapshot: snap, dataset: data, job });
    try {
      const r = await result;
      this.heldSnapshot = snapshot.hash;
      this.heldDataset = dataset.hash;
      return r;
    } catch (err) {
      // After a failure we do not know what the thread kept: send everything again next time.
      this.heldSnapshot = null;
      this.heldDataset = null;
      this.heldVectors.length = 0;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.thread.terminate();
  }
}
