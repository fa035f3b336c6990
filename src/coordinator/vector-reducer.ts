// Gradient vectors (return: vectors) reduced as their chunks arrive: for every pair of a
// live lease, per weight tensor, Σg1², Σg2² and Σg1·g2 in float64, chunk by chunk in offset
// order (so the sums are deterministic), holding nothing of the vectors themselves. When
// the task's result commits, every tensor must be complete, and the worker's own statistics
// — whole network and per tensor — must agree with ours: a worker whose arithmetic or
// transport is corrupt is caught here.

import { float32View, type PairStats, type TaskChunkMessage, type TaskResultMessage } from "../protocol/index.js";

/** Worker-side and coordinator-side float64 sums of the same float32 values differ only by order. */
export const CROSS_CHECK_TOLERANCE = 1e-9;

interface TensorSums {
  next: number;
  sq1: number;
  sq2: number;
  dot: number;
}

interface PairSums {
  tensors: Map<number, TensorSums>;
  /** When its first and last chunk arrived (ms), for the transfer rate. */
  first: number;
  last: number;
}

export class VectorReducer {
  /** leaseId → pair id → sums. */
  private readonly leases = new Map<string, Map<number, PairSums>>();
  chunks = 0;
  bytes = 0;
  /** Σ over committed pairs of (last − first chunk arrival): time the vectors were on the wire. */
  transferMs = 0;

  /** Takes one chunk of a live lease whose task holds `pairIds`; returns why it is refused, or null. */
  add(chunk: TaskChunkMessage, pairIds: readonly number[]): string | null {
    if (!pairIds.includes(chunk.pair)) return `pair ${chunk.pair} is not in task ${chunk.taskId}`;
    let pairs = this.leases.get(chunk.leaseId);
    if (!pairs) this.leases.set(chunk.leaseId, (pairs = new Map()));
    let sums = pairs.get(chunk.pair);
    const now = performance.now();
    if (!sums) pairs.set(chunk.pair, (sums = { tensors: new Map(), first: now, last: now }));
    sums.last = now;
    let tensor = sums.tensors.get(chunk.tensor);
    if (!tensor) sums.tensors.set(chunk.tensor, (tensor = { next: 0, sq1: 0, sq2: 0, dot: 0 }));
    if (chunk.offset !== tensor.next) return `pair ${chunk.pair} tensor ${chunk.tensor}: chunk at offset ${chunk.offset}, expected ${tensor.next}`;
    const a = float32View(chunk.g1);
    const b = float32View(chunk.g2);
    let s1 = 0;
    let s2 = 0;
    let d = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      s1 += x * x;
      s2 += y * y;
      d += x * y;
    }
    tensor.sq1 += s1;
    tensor.sq2 += s2;
    tensor.dot += d;
    tensor.next += a.length;
    this.chunks++;
    this.bytes += chunk.g1.length + chunk.g2.length;
    return null;
  }

  /**
   * The task's pair statistics computed from the vectors, checked against the worker's
   * result; a string says why the result is refused. The lease's sums are dropped.
   */
  commit(result: TaskResultMessage): PairStats[] | string {
    const pairs = this.leases.get(result.leaseId);
    this.leases.delete(result.leaseId);
    const out: PairStats[] = [];
    for (const claimed of result.pairs) {
      const sums = pairs?.get(claimed.id);
      const T = result.tensors.length;
      const sq1: number[] = [];
      const sq2: number[] = [];
      const dot: number[] = [];
      for (let t = 0; t < T; t++) {
        const s = sums?.tensors.get(t);
        const expected = result.tensorSizes[t]!;
        if ((s?.next ?? 0) !== expected) return `pair ${claimed.id} tensor ${result.tensors[t]}: ${s?.next ?? 0} of ${expected} gradient values arrived`;
        sq1.push(s?.sq1 ?? 0);
        sq2.push(s?.sq2 ?? 0);
        dot.push(s?.dot ?? 0);
      }
      if (sums && [...sums.tensors.keys()].some((t) => t >= T)) return `pair ${claimed.id}: chunks for a tensor beyond the ${T} named`;
      if (sums) this.transferMs += sums.last - sums.first;
      const t1 = sq1.reduce((x, y) => x + y, 0);
      const t2 = sq2.reduce((x, y) => x + y, 0);
      const td = dot.reduce((x, y) => x + y, 0);
      const mine: PairStats = {
        id: claimed.id,
        loss: claimed.loss,
        norm: [Math.sqrt(t1), Math.sqrt(t2)],
        dot: td,
        tensorNorm: [sq1.map(Math.sqrt), sq2.map(Math.sqrt)],
        tensorDot: dot,
        metrics: claimed.metrics,
      };
      const scale = Math.max(mine.norm[0] * mine.norm[1], Number.MIN_VALUE);
      const off =
        Math.abs(mine.norm[0] - claimed.norm[0]) > CROSS_CHECK_TOLERANCE * Math.max(mine.norm[0], Number.MIN_VALUE) ||
        Math.abs(mine.norm[1] - claimed.norm[1]) > CROSS_CHECK_TOLERANCE * Math.max(mine.norm[1], Number.MIN_VALUE) ||
        Math.abs(mine.dot - claimed.dot) > CROSS_CHECK_TOLERANCE * scale;
      const tensorOff = mine.tensorDot.some((d, t) => {
        const n1 = mine.tensorNorm[0][t]!;
        const n2 = mine.tensorNorm[1][t]!;
        const tol = (x: number) => CROSS_CHECK_TOLERANCE * Math.max(x, Number.MIN_VALUE);
        return (
          Math.abs(n1 - claimed.tensorNorm[0][t]!) > tol(n1) ||
          Math.abs(n2 - claimed.tensorNorm[1][t]!) > tol(n2) ||
          Math.abs(d - claimed.tensorDot[t]!) > tol(n1 * n2)
        );
      });
      if (off || tensorOff) {
        return `pair ${claimed.id}: the worker's ‖g1‖, ‖g2‖, g1·g2 = ${claimed.norm[0]}, ${claimed.norm[1]}, ${claimed.dot} disagree with its vectors' ${mine.norm[0]}, ${mine.norm[1]}, ${mine.dot}`;
      }
      out.push(mine);
    }
    return out;
  }

  /** Forgets a lease that expired or was released. */
  drop(leaseId: string): void {
    this.leases.delete(leaseId);
  }

  /** Leases with sums held, for tests: the reducer must not grow with finished work. */
  get openLeases(): number {
    return this.leases.size;
  }
}
