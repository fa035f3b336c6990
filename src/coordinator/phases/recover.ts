// What a resumed run takes back from the journal, phase by phase: each line checked as
// strictly as the result that carried it was on the wire (RESULT_PARTS of the protocol),
// then against the run (an id outside the plan, tensors other than earlier lines'), so that
// a corrupted journal stops the resume with a JournalLineError naming the file, the line
// and the field instead of feeding a wrong number into the estimates. A unit journaled
// twice (a result re-sent after a crash before its ack) counts once: the first line wins.

import { RESULT_PARTS, type Checked, type CurvatureItem, type Exact } from "../../protocol/index.js";
import { checkJournalLine, journalLineError, type JournalLine, type PairsLine } from "../journal.js";
import type { PairRecords } from "../pair-records.js";
import { planPair, type PairPlan } from "../sampler.js";
import type { PointValue } from "./landscape-phase.js";

/** Ids a phase planned: a line naming any other is not this run's. */
export interface PlannedIds {
  has(id: number): boolean;
}

// Compile-time: the checker of a pairs line gives exactly what the pairs phase journals.
const pairsLineMatches: Exact<Checked<typeof RESULT_PARTS.pairs>, PairsLine> = true;
void pairsLineMatches;

/** Pairs a previous coordinator journaled for this phase, checked against the plan; the ids still to do. */
export function recoverPairs(lines: readonly JournalLine[], plan: PairPlan, records: PairRecords): number[] {
  for (const at of lines) {
    const line = checkJournalLine(at, RESULT_PARTS.pairs);
    if (records.tensors && (records.tensors.length !== line.tensors.length || records.tensors.some((t, i) => t !== line.tensors[i]))) {
      throw journalLineError(at, "data.tensors", `[${line.tensors}] differ from earlier lines' [${records.tensors}]`);
    }
    records.tensors ??= line.tensors;
    line.pairs.forEach((r, i) => {
      if (r.id >= plan.count) throw journalLineError(at, `data.pairs[${i}].id`, `pair ${r.id} is outside the plan of ${plan.count} pairs`);
      if (records.has(r.id)) return; // journaled twice: counts once
      records.set({ ...r, batches: planPair(plan, r.id) });
    });
  }
  const todo: number[] = [];
  for (let i = 0; i < plan.count; i++) if (!records.has(i)) todo.push(i);
  return todo;
}

/** Landscape points journaled for this phase, each a point of the grid (`planned`). */
export function recoverLandscape(lines: readonly JournalLine[], planned: PlannedIds, values: Map<number, PointValue>): void {
  for (const at of lines) {
    checkJournalLine(at, RESULT_PARTS.lossPoints).forEach((p, i) => {
      if (!planned.has(p.id)) throw journalLineError(at, `data[${i}].id`, `point ${p.id} is not a point of the grid`);
      if (!values.has(p.id)) values.set(p.id, { loss: p.loss, accuracy: p.accuracy });
    });
  }
}

/** Curvature items journaled for this phase, each one the phase planned (`planned`). */
export function recoverCurvature(lines: readonly JournalLine[], planned: PlannedIds, results: Map<number, CurvatureItem>): void {
  for (const at of lines) {
    checkJournalLine(at, RESULT_PARTS.curvatureItems).forEach((it, i) => {
      if (!planned.has(it.id)) throw journalLineError(at, `data[${i}].id`, `item ${it.id} is not one the phase planned`);
      if (!results.has(it.id)) results.set(it.id, it);
    });
  }
}
