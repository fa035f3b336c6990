// Per-pair results as the coordinator keeps them: one slot per planned pair, filled
// once. Reductions always walk the slots in pair order, so the float64 sums — and so
// every reported number — are the same whatever the worker count or arrival order.

import type { PairStats } from "../protocol/index.js";

export interface PairRecord extends PairStats {
  batches: [number[], number[]];
}

export class PairRecords {
  private readonly slots: (PairRecord | undefined)[];
  private filled = 0;
  /** The weight tensors the per-tensor statistics follow, from the first result or journal line. */
  tensors: string[] | null = null;

  constructor(readonly count: number) {
    this.slots = new Array(count);
  }

  get size(): number {
    return this.filled;
  }

  has(pair: number): boolean {
    return this.slots[pair] !== undefined;
  }

  set(record: PairRecord): void {
    if (this.slots[record.id] !== undefined) throw new Error(`pair ${record.id} recorded twice`);
    this.slots[record.id] = record;
    this.filled++;
  }

  /** All records in pair order; throws if any is missing. */
  all(): PairRecord[] {
    // A plain loop: map() would skip the holes of a sparse array, i.e. the missing pairs.
    const out: PairRecord[] = [];
    for (let i = 0; i < this.count; i++) {
      const r = this.slots[i];
      if (!r) throw new Error(`pair ${i} has no result`);
      out.push(r);
    }
    return out;
  }
}
