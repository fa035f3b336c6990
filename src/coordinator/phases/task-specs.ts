// Tasks of a phase: consecutive units (pairs, points, items) grouped a few at a time,
// each task named after its phase and its first unit so that the name survives a resume.

import type { TaskSpec } from "../task-table.js";

export function groupTasks(phase: string, units: readonly number[], perTask: number): TaskSpec[] {
  const tasks: TaskSpec[] = [];
  for (let start = 0; start < units.length; start += perTask) {
    const ids = units.slice(start, start + perTask);
    tasks.push({ id: `${phase}#${ids[0]}`, pairIds: ids });
  }
  return tasks;
}
