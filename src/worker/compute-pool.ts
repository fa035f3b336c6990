// Several compute threads in one worker, each with its own TensorFlow.js: a task's pairs
// (or landscape points, or curvature items) are split between them and computed at once.
// On a CPU this is where a second core pays: one minibatch of 64 is too small for the
// matmul to use two threads well (bench/README.md), two minibatches side by side are not.
// Results come back merged in the task's order, so nothing downstream can tell.

import { availableParallelism } from "node:os";
import type { BackendChoice, BackendInfo } from "./backend.js";
import { ComputeThread, type BlobSource, type ComputeResult, type JobRequest, type VectorsHandler } from "./compute-client.js";
import type { GroupChoice, JobResult } from "./compute-messages.js";

function positiveIntegerEnv(name: string): number | null {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n >= 1 ? n : null;
}

/**
 * Threads for `auto`: GRADSWARM_COMPUTE_THREADS where set; else, on a CPU backend, one per
 * core the worker may use (GRADSWARM_CPU_CORES, which the embedded default sets to split
 * the machine between its local workers, or every core), one wasm thread each; on a GPU one.
 */
export function autoComputeThreads(info: BackendInfo): number {
  const explicit = positiveIntegerEnv("GRADSWARM_COMPUTE_THREADS");
  if (explicit !== null) return explicit;
  const cpu = info.backend === "wasm" || info.backend === "cpu";
  return cpu ? (positiveIntegerEnv("GRADSWARM_CPU_CORES") ?? availableParallelism()) : 1;
}

function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  const per = Math.ceil(items.length / parts);
  for (let start = 0; start < items.length; start += per) out.push(items.slice(start, start + per));
  return out;
}

function splitRequest(request: JobRequest, parts: number): JobRequest[] {
  if (request.type === "pairs") return split(request.pairs, parts).map((pairs) => ({ ...request, pairs }));
  if (request.type === "loss") return split(request.points, parts).map((points) => ({ ...request, points }));
  return split(request.items, parts).map((items) => ({ ...request, items }));
}

function merge(results: ComputeResult[]): ComputeResult {
  const first = results[0]!.result;
  const computeMs = Math.max(...results.map((r) => r.computeMs));
  let result: JobResult;
  if (first.type === "pairs") result = { type: "pairs", layout: first.layout, pairs: results.flatMap((r) => (r.result as typeof first).pairs) };
  else if (first.type === "loss") result = { type: "loss", points: results.flatMap((r) => (r.result as typeof first).points) };
  else result = { type: "curvature", items: results.flatMap((r) => (r.result as typeof first).items) };
  return { result, computeMs };
}

export class ComputePool {
  private constructor(
    private readonly threads: ComputeThread[],
    readonly info: BackendInfo,
  ) {}

  /**
   * Starts the threads: one first (it selects the backend), then, for `count: "auto"`, as
   * many more as autoComputeThreads says, on the backend the first one got. With more
   * than one thread each runs wasm on a single thread of its own, unless
   * GRADSWARM_WASM_THREADS says otherwise.
   */
  static async start(backend: BackendChoice, group: GroupChoice, count: number | "auto"): Promise<ComputePool> {
    // An explicit GRADSWARM_WASM_THREADS still wins (a user who measured otherwise).
    const single = count === "auto" || count > 1 ? { ...process.env, GRADSWARM_WASM_THREADS: process.env.GRADSWARM_WASM_THREADS ?? "1" } : process.env;
    const first = new ComputeThread(backend, group, single);
    let info: BackendInfo;
    try {
      info = await first.backend();
    } catch (err) {
      await first.close();
      throw err;
    }
    const n = count === "auto" ? autoComputeThreads(info) : count;
    const threads = [first];
    for (let i = 1; i < n; i++) threads.push(new ComputeThread(info.backend as BackendChoice, group, single));
    try {
      await Promise.all(threads.map((t) => t.backend()));
    } catch (err) {
      await Promise.all(threads.map((t) => t.close()));
      throw err;
    }
    return new ComputePool(threads, info);
  }

  get size(): number {
    return this.threads.length;
  }

  get grouping(): boolean {
    return this.threads[0]!.grouping;
  }

  async run(
    snapshot: BlobSource,
    dataset: BlobSource & { name: string },
    request: JobRequest,
    onVectors?: VectorsHandler,
  ): Promise<ComputeResult> {
    // A vectors task stays on one thread: its chunks then go out one pair after another,
    // as the coordinator's chunk assembly expects, and it is sender-bound anyway.
    const parts = onVectors ? [request] : splitRequest(request, this.threads.length);
    // The worker's blobs are in shared memory (BlobStore), so N threads view one copy.
    const results = await Promise.all(parts.map((part, i) => this.threads[i]!.run(snapshot, dataset, part, onVectors)));
    return merge(results);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
