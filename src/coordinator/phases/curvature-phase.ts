// Curvature at one θ: the dominant Hessian eigenvalue (and Hutchinson's trace) of K
// minibatch losses and of the full-data loss, each computed by one worker from gradients
// at perturbed θ. One item per task: items are long and independent.

import { createMessage, type BlobRef, type CurvatureItem, type DatasetRef, type TaskCurvatureResultMessage } from "../../protocol/index.js";
import type { Journal } from "../journal.js";
import type { Phase } from "../phase.js";
import { TaskTable, type TaskTableOptions } from "../task-table.js";
import { groupTasks } from "./task-specs.js";

export interface CurvatureSettings {
  maxIterations: number;
  tolerance: number;
  probes: number;
  step: number;
  seed: number;
}

export interface CurvaturePhaseOptions {
  name: string;
  /** Item id → example indices of its loss. */
  items: Map<number, number[]>;
  todo: readonly number[];
  snapshot: BlobRef;
  dataset: DatasetRef;
  table: TaskTableOptions;
  settings: CurvatureSettings;
  journal: Journal;
  results: Map<number, CurvatureItem>;
}

export function curvaturePhase(o: CurvaturePhaseOptions): Phase<TaskCurvatureResultMessage> {
  const tasks = groupTasks(o.name, o.todo, 1);
  const wanted = new Map(tasks.map((t) => [t.id, t.pairIds]));
  return {
    name: o.name,
    table: new TaskTable(tasks, o.table),
    resultType: "task.curvature_result",
    vectors: false,
    message: (lease, runId) =>
      createMessage("task.curvature", {
        runId,
        taskId: lease.task.id,
        leaseId: lease.leaseId,
        leaseMs: o.table.leaseMs,
        snapshot: o.snapshot,
        dataset: o.dataset,
        items: lease.task.pairIds.map((id) => ({ id, indices: o.items.get(id)! })),
        ...o.settings,
      }),
    durable: () => o.journal.durable(),
    accept: (result) => {
      const ids = wanted.get(result.taskId);
      if (!ids || result.items.length !== ids.length || result.items.some((it, i) => it.id !== ids[i])) return `the result's items are not task ${result.taskId}'s`;
      o.journal.append(o.name, result.items);
      for (const it of result.items) o.results.set(it.id, it);
      return null;
    },
    units: (r) => r.items.length,
  };
}
