// The quickstart's task and result, as bench/swarm-queue.ts moves them: a "task" of 32
// pairs of minibatches of 32 (pairs.per_task's default, examples/quickstart.yaml's
// batch_size) and the task.result of MLP 784-64-10 (its four weight tensors) for them.

import { planPair, type PairPlan } from "../../src/coordinator/sampler.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { sha256Hex, trainableTensorSizes, type Snapshot } from "../../src/model/snapshot.js";
import { createMessage, type BlobRef, type Message } from "../../src/protocol/index.js";
import type { GradientLayout } from "../../src/worker/compute-messages.js";

export const PAIRS_PER_TASK = 32;
export const QUICKSTART_PLAN: PairPlan = { seed: 7, count: 1_000_000, datasetSize: 10_000, batchSize: 32, pairing: "independent" };

export function quickstartSnapshot(): Snapshot {
  return mlpSnapshot({ layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" });
}

/** The MLP's trainable tensors, as a worker reports them. */
export function quickstartLayout(): GradientLayout {
  const sizes = trainableTensorSizes(quickstartSnapshot());
  return { tensors: [...sizes.keys()], tensorSizes: [...sizes.values()], weightTensor: [...sizes.keys()].map((_, i) => i) };
}

/** Task `k` of a run: pairs 32k … 32k + 31 of the quickstart plan. */
export function quickstartTask(runId: string, taskId: string, leaseId: string, k: number, snapshot: BlobRef): Message {
  return createMessage("task", {
    runId,
    taskId,
    leaseId,
    leaseMs: 60_000,
    snapshot,
    dataset: { hash: sha256Hex(new Uint8Array([1])), bytes: 31_400_000, name: "mnist-idx" },
    returns: "stats",
    labels: "observed",
    labelSeed: 0,
    metrics: [],
    pairs: Array.from({ length: PAIRS_PER_TASK }, (_, i) => ({ id: k * PAIRS_PER_TASK + i, batches: planPair(QUICKSTART_PLAN, k * PAIRS_PER_TASK + i) })),
  });
}
