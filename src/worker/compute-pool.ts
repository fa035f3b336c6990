// Several compute threads in one worker, each with its own TensorFlow.js: a task's pairs
// (or landscape points, or curvature items) are split between them and computed at once.
// On a CPU this is where a second core pays: one minibatch of 64 is too small for the
// matmul to use two threads well (bench/README.md), two minibatches side by side are not.
// Results come back merged in the task's order, so nothing downstream can tell.

import type { BackendChoice, BackendInfo, ConvGradChoice } from "./backend.js";
import { ComputeThreadClient, type BlobSource, type ComputeResult, type JobRequest, type VectorsHandler } from "./compute-client.js";
import type { GroupChoice, JobResult } from "./compute-messages.js";
import { computeThreadCount, wasmThreadsPerComputeThread, type ThreadOptions } from "./thread-plan.js";

export interface ComputeOptions extends ThreadOptions {
  backend: BackendChoice;
  group: GroupChoice;
  /** Conv gradients on webgpu (see BackendOptions). */
  convGrad?: ConvGradChoice;
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
    private readonly threads: ComputeThreadClient[],
    readonly info: BackendInfo,
  ) {}

  /**
   * Starts the threads: one first (it selects the backend), then as many more as
   * computeThreadCount says (src/worker/thread-plan.ts), on the backend the first one got,
   * each with wasmThreadsPerComputeThread wasm threads.
   */
  static async start(options: ComputeOptions): Promise<ComputePool> {
    const backendOptions = { wasmThreads: wasmThreadsPerComputeThread(options), convGrad: options.convGrad };
    const first = new ComputeThreadClient(options.backend, options.group, backendOptions);
    let info: BackendInfo;
    try {
      info = await first.backend();
    } catch (err) {
      await first.close();
      throw err;
    }
    const n = computeThreadCount(options, info);
    const threads = [first];
    for (let i = 1; i < n; i++) threads.push(new ComputeThreadClient(info.backend as BackendChoice, options.group, backendOptions));
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
