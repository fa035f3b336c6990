// A phase of a run: one kind of work over one θ (the pairs, a Fisher pass, curvature,
// a landscape), as the dispatcher sees it. The dispatcher runs one phase at a time; the
// phase says how a leased task reads on the wire and what a result must satisfy.

import type { Message, TaskCurvatureResultMessage, TaskLossResultMessage, TaskResultMessage } from "../protocol/index.js";
import type { Lease, TaskTable } from "./task-table.js";
import type { VectorStats } from "./vector-stats.js";

export type PhaseResult = TaskResultMessage | TaskLossResultMessage | TaskCurvatureResultMessage;
export type PhaseResultType = PhaseResult["type"];

/** A phase whose tasks come back as results of type R. */
export interface Phase<R extends PhaseResult = PhaseResult> {
  /** Unique within the run ("theta/pairs", "twin-2/landscape-filter"): task ids and the journal use it. */
  name: string;
  table: TaskTable;
  resultType: R["type"];
  /** The task message of a lease (a "task", "task.loss" or "task.curvature"). */
  message(lease: Lease, runId: string): Message;
  /** Checks a result beyond the wire contract and records it (journaled); null, or why it is refused. */
  accept(result: R): string | null;
  /** Resolves once everything accepted so far is durable: the worker's ack waits for it. */
  durable(): Promise<void>;
  /** Units of work in a result (pairs, points, items), for progress and worker credit. */
  units(result: R): number;
  /** Whether workers send gradient vectors (task.chunk) before their results. */
  vectors: boolean;
  /** Per-parameter statistics of the vectors, if the phase keeps them. */
  vectorStats?: VectorStats;
}

/** Whether `result` is of the kind `phase` takes: the one place a result is matched to its phase. */
export function isResultOf<R extends PhaseResult>(phase: Phase<R>, result: PhaseResult): result is R {
  return result.type === phase.resultType;
}

/** A phase with its result type left open: what can be done with it without a result in hand. */
export type AnyPhase = Omit<Phase, "accept" | "units" | "resultType"> & { resultType: PhaseResult["type"] };
