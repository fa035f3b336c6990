// θ's loss and accuracy over a whole dataset (the training data, or the held-out set): the
// examples cut into chunks of `perTask`, one chunk per task, each a task.loss at θ itself
// (no direction) over the chunk's indices against the dataset it names. Each chunk's mean
// is journaled as it is accepted; the dataset's mean is the chunks' means weighted by their
// sizes, summed in chunk order (the same whatever the worker count).

import type { BlobRef, DatasetRef, TaskLossResultMessage } from "../../protocol/index.js";
import type { Journal } from "../journal.js";
import type { Phase } from "../phase.js";
import { TaskTable, type TaskTableOptions } from "../task-table.js";
import { lossTask, type PointValue } from "./landscape-phase.js";

export interface EvaluationPhaseOptions {
  name: string;
  /** Examples in the dataset; chunk k covers [k · perTask, min((k + 1) · perTask, n)). */
  n: number;
  perTask: number;
  todo: readonly number[];
  snapshot: BlobRef;
  dataset: DatasetRef;
  table: TaskTableOptions;
  journal: Journal;
  /** Filled by chunk id with each chunk's mean loss and accuracy. */
  values: Map<number, PointValue>;
}

export function chunkCount(n: number, perTask: number): number {
  return Math.ceil(n / perTask);
}

function chunkIndices(n: number, perTask: number, k: number): number[] {
  const start = k * perTask;
  return Array.from({ length: Math.min(perTask, n - start) }, (_, i) => start + i);
}

/** The dataset's mean loss and accuracy from its chunks' means (all of them present). */
export function combineChunks(n: number, perTask: number, values: ReadonlyMap<number, PointValue>): PointValue {
  let loss = 0;
  let accuracy = 0;
  for (let k = 0; k < chunkCount(n, perTask); k++) {
    const v = values.get(k);
    if (!v) throw new Error(`chunk ${k} has no result`);
    const size = Math.min(perTask, n - k * perTask);
    loss += v.loss * size;
    accuracy += v.accuracy * size;
  }
  return { loss: loss / n, accuracy: accuracy / n };
}

export function evaluationPhase(o: EvaluationPhaseOptions): Phase<TaskLossResultMessage> {
  const tasks = o.todo.map((k) => ({ id: `${o.name}#${k}`, pairIds: [k] }));
  const wanted = new Map(tasks.map((t) => [t.id, t.pairIds[0]!]));
  return {
    name: o.name,
    table: new TaskTable(tasks, o.table),
    resultType: "task.loss_result",
    vectors: false,
    // θ itself (no direction) over the chunk's examples.
    message: (lease, runId) => lossTask(lease, runId, { ...o, leaseMs: o.table.leaseMs, directions: [] }, [{ id: lease.task.pairIds[0]!, alpha: 0, beta: 0 }], chunkIndices(o.n, o.perTask, lease.task.pairIds[0]!)),
    durable: () => o.journal.durable(),
    accept: (result) => {
      const k = wanted.get(result.taskId);
      if (k === undefined || result.points.length !== 1 || result.points[0]!.id !== k) return `the result's points are not task ${result.taskId}'s`;
      o.journal.append(o.name, result.points);
      o.values.set(k, { loss: result.points[0]!.loss, accuracy: result.points[0]!.accuracy });
      return null;
    },
    units: () => 1,
  };
}
