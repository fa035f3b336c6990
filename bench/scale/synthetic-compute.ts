// A stand-in for a worker's compute threads (WorkerOptions.compute): each pairs task is
// answered after a fixed delay with seeded statistics of θ's real tensor layout, so the
// coordinator's checks (tensor names and sizes, finite numbers, Cauchy–Schwarz) pass and
// it does all its real work per result. The numbers are synthetic: a bench of the
// coordinator's throughput, not of any measure.

import { setTimeout as sleep } from "node:timers/promises";
import { decodeSnapshot, trainableTensorSizes } from "../../src/model/snapshot.js";
import type { MetricStats, PairStats } from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";
import type { BlobSource, ComputeResult, JobRequest } from "../../src/worker/compute-client.js";
import type { GradientLayout } from "../../src/worker/compute-messages.js";
import type { WorkerCompute } from "../../src/worker/serve.js";

/** θ's layout by snapshot hash, shared by the simulated workers of one process: θ is fetched and decoded once. */
const layouts = new Map<string, Promise<GradientLayout>>();

function layoutOf(snapshot: BlobSource): Promise<GradientLayout> {
  let layout = layouts.get(snapshot.hash);
  if (!layout) {
    layout = snapshot.get().then((bytes) => {
      const sizes = trainableTensorSizes(decodeSnapshot(bytes));
      return { tensors: [...sizes.keys()], tensorSizes: [...sizes.values()], weightTensor: [...sizes.keys()].map((_, i) => i) };
    });
    layouts.set(snapshot.hash, layout);
  }
  return layout;
}

/** Per-tensor norms in [0.5, 1.5) and dots of cosine in (-0.3, 0.3): |g1·g2| ≤ ‖g1‖‖g2‖ holds per tensor and in total. */
function stats(rng: Rng, tensors: number): MetricStats {
  const n1: number[] = [];
  const n2: number[] = [];
  const dots: number[] = [];
  for (let t = 0; t < tensors; t++) {
    const a = 0.5 + rng.nextFloat();
    const b = 0.5 + rng.nextFloat();
    n1.push(a);
    n2.push(b);
    dots.push((rng.nextFloat() - 0.5) * 0.6 * a * b);
  }
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return { norm: [norm(n1), norm(n2)], dot: dots.reduce((s, x) => s + x, 0), tensorNorm: [n1, n2], tensorDot: dots };
}

/** Seeded statistics of one pair: the same pair id and seed give the same numbers in every process. */
export function syntheticPair(seed: number, id: number, tensors: number, metrics: number): PairStats {
  const rng = new Rng(seed, id);
  const own = stats(rng, tensors);
  const loss: [number, number] = [2 + rng.nextFloat(), 2 + rng.nextFloat()];
  return { id, loss, ...own, metrics: Array.from({ length: metrics }, () => stats(rng, tensors)) };
}

export function syntheticCompute(delayMs: number, seed: number): WorkerCompute {
  return {
    info: { backend: "synthetic", device: `none (statistics after ${delayMs} ms)`, gpu: false, skipped: [] },
    size: 1,
    grouping: false,
    async run(snapshot: BlobSource, _dataset: BlobSource, request: JobRequest): Promise<ComputeResult> {
      if (request.type !== "pairs") throw new Error(`the synthetic compute answers pairs tasks only, not ${request.type}`);
      const started = performance.now();
      const layout = await layoutOf(snapshot);
      // No timer at 0 ms: a timer waits at least 1 ms, which would be the whole cost.
      if (delayMs > 0) await sleep(delayMs);
      const pairs = request.pairs.map((p) => syntheticPair(seed, p.id, layout.tensors.length, request.metrics.length));
      return { result: { type: "pairs", layout, pairs }, computeMs: performance.now() - started };
    },
    async close() {},
  };
}
