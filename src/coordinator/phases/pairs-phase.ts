// Pairs of minibatch gradients at one θ: the main measurement, and (with labels observed
// or sampled from the model, returning vectors) the passes that estimate the Fisher
// diagonals. Results are checked against θ and the plan, journaled, then recorded.

import type { BlobRef, DatasetRef, LabelMode, PairStats, TaskPair, TaskResultMessage } from "../../protocol/index.js";
import { createMessage } from "../../protocol/index.js";
import type { Journal, PairsLine } from "../journal.js";
import type { PairRecords } from "../pair-records.js";
import type { Phase } from "../phase.js";
import { planPair, type PairPlan } from "../sampler.js";
import { TaskTable, type TaskTableOptions } from "../task-table.js";
import type { VectorStats } from "../vector-stats.js";
import { groupTasks } from "./task-specs.js";

export interface PairsPhaseOptions {
  name: string;
  plan: PairPlan;
  /** Pairs still to compute (all, unless a resume recovered some). */
  todo: readonly number[];
  perTask: number;
  snapshot: BlobRef;
  dataset: DatasetRef;
  table: TaskTableOptions;
  labels: LabelMode;
  labelSeed: number;
  metrics: BlobRef[];
  vectors: boolean;
  vectorStats?: VectorStats;
  /** θ's trainable weight tensors and their sizes: a result's tensors must be exactly these. */
  tensorSizes: Map<string, number>;
  journal: Journal;
  records: PairRecords;
}

function checkResult(o: PairsPhaseOptions, pairsOf: Map<string, TaskPair[]>, result: TaskResultMessage): string | null {
  // θ says which tensors have gradients and how large they are; anything else (a tensor
  // left out, vectors of another length) is not θ's gradient.
  for (const [t, name] of result.tensors.entries()) {
    const size = o.tensorSizes.get(name);
    if (size === undefined) return `${name} is not a trainable weight of the model`;
    if (result.tensorSizes[t] !== size) return `${name} has ${size} parameters, the result says ${result.tensorSizes[t]}`;
  }
  if (result.tensors.length !== o.tensorSizes.size || [...o.tensorSizes.keys()].some((t, i) => result.tensors[i] !== t)) {
    return `the result covers [${result.tensors}], the model's trainable weights are [${[...o.tensorSizes.keys()]}]`;
  }
  const expected = pairsOf.get(result.taskId);
  if (!expected) return `unknown task ${result.taskId}`;
  if (result.pairs.length !== expected.length || result.pairs.some((p, i) => p.id !== expected[i]!.id)) {
    return `the result's pairs [${result.pairs.map((p) => p.id)}] are not the task's [${expected.map((p) => p.id)}]`;
  }
  const records = o.records;
  if (records.tensors && (records.tensors.length !== result.tensors.length || records.tensors.some((t, i) => t !== result.tensors[i]))) {
    return `tensors [${result.tensors}] differ from earlier results' [${records.tensors}]`;
  }
  for (const p of result.pairs) {
    if (p.metrics.length !== o.metrics.length) return `pair ${p.id} has statistics in ${p.metrics.length} metrics, the task named ${o.metrics.length}`;
    for (const s of [p, ...p.metrics]) {
      if (s.norm[0] === 0 || s.norm[1] === 0) continue;
      // Cauchy–Schwarz with float32 slack: a larger |dot| is corrupt data, not rounding.
      if (Math.abs(s.dot) > s.norm[0] * s.norm[1] * (1 + 1e-3)) return `pair ${p.id}: |g1·g2| = ${Math.abs(s.dot)} exceeds ‖g1‖‖g2‖ = ${s.norm[0] * s.norm[1]}`;
    }
  }
  return null;
}

export function pairsPhase(o: PairsPhaseOptions): Phase<TaskResultMessage> {
  const tasks = groupTasks(o.name, o.todo, o.perTask);
  const pairsOf = new Map<string, TaskPair[]>(tasks.map((t) => [t.id, t.pairIds.map((i) => ({ id: i, batches: planPair(o.plan, i) }))]));
  return {
    name: o.name,
    table: new TaskTable(tasks, o.table),
    resultType: "task.result",
    vectors: o.vectors,
    vectorStats: o.vectorStats,
    message: (lease, runId) =>
      createMessage("task", {
        runId,
        taskId: lease.task.id,
        leaseId: lease.leaseId,
        leaseMs: o.table.leaseMs,
        snapshot: o.snapshot,
        dataset: o.dataset,
        returns: o.vectors ? "vectors" : "stats",
        labels: o.labels,
        labelSeed: o.labelSeed,
        metrics: o.metrics,
        pairs: pairsOf.get(lease.task.id)!,
      }),
    durable: () => o.journal.durable(),
    accept: (result) => {
      const refusal = checkResult(o, pairsOf, result);
      if (refusal) return refusal;
      const expected = pairsOf.get(result.taskId)!;
      const taken = result.pairs.map((p, i) => ({ ...p, batches: expected[i]!.batches }));
      // Durable before the worker hears "accepted": a coordinator killed now resumes with it.
      // The minibatches are left out: the plan (whose seed the manifest pins) gives them back.
      o.journal.append(o.name, { tensors: result.tensors, pairs: result.pairs } satisfies PairsLine);
      o.records.tensors ??= result.tensors;
      for (const rec of taken) o.records.set(rec);
      return null;
    },
    units: (r) => r.pairs.length,
  };
}

export type { PairStats };
