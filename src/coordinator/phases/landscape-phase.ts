// A loss landscape at one θ: the training loss (over a fixed subset) at grid points
// θ + α·d1 + β·d2, a few points per task, each point journaled as it is accepted so that
// a resumed run computes only the missing ones.

import { createMessage, type BlobRef, type DatasetRef, type TaskLossResultMessage } from "../../protocol/index.js";
import type { GridPoint } from "../../measures/landscape.js";
import type { Journal } from "../journal.js";
import type { Phase } from "../phase.js";
import { TaskTable, type TaskTableOptions } from "../task-table.js";
import { groupTasks } from "./task-specs.js";

export interface PointValue {
  loss: number;
  accuracy: number;
}

export interface LandscapePhaseOptions {
  name: string;
  points: GridPoint[];
  todo: readonly number[];
  perTask: number;
  directions: BlobRef[];
  indices: number[];
  snapshot: BlobRef;
  dataset: DatasetRef;
  table: TaskTableOptions;
  journal: Journal;
  values: Map<number, PointValue>;
}

/** A task.loss under a lease: θ (plus the directions at each point) over `indices` of `dataset`. */
export function lossTask(
  lease: { leaseId: string; task: { id: string } },
  runId: string,
  o: { leaseMs: number; snapshot: BlobRef; dataset: DatasetRef; directions: BlobRef[] },
  points: GridPoint[],
  indices: number[],
) {
  return createMessage("task.loss", { runId, taskId: lease.task.id, leaseId: lease.leaseId, leaseMs: o.leaseMs, snapshot: o.snapshot, dataset: o.dataset, directions: o.directions, points, indices });
}

export function landscapePhase(o: LandscapePhaseOptions): Phase<TaskLossResultMessage> {
  const tasks = groupTasks(o.name, o.todo, o.perTask);
  const wanted = new Map(tasks.map((t) => [t.id, t.pairIds]));
  const byId = new Map(o.points.map((p) => [p.id, p]));
  return {
    name: o.name,
    table: new TaskTable(tasks, o.table),
    resultType: "task.loss_result",
    vectors: false,
    message: (lease, runId) => lossTask(lease, runId, { ...o, leaseMs: o.table.leaseMs }, lease.task.pairIds.map((id) => byId.get(id)!), o.indices),
    durable: () => o.journal.durable(),
    accept: (result) => {
      const ids = wanted.get(result.taskId);
      if (!ids || result.points.length !== ids.length || result.points.some((p, i) => p.id !== ids[i])) return `the result's points are not task ${result.taskId}'s`;
      o.journal.append(o.name, result.points);
      for (const p of result.points) o.values.set(p.id, { loss: p.loss, accuracy: p.accuracy });
      return null;
    },
    units: (r) => r.points.length,
  };
}
