// The statistics of a pair of gradients, from the downloaded float32 gradients, in
// float64: per weight tensor Σg1², Σg2², Σg1·g2, in the Euclidean metric and in each diagonal
// metric M (Σg1²/M, Σg2²/M, Σg1·g2/M). Pure arithmetic, independent of TensorFlow.js.

import type { MetricStats, PairStats } from "../protocol/index.js";

interface Sums {
  sq1: Float64Array;
  sq2: Float64Array;
  dot: Float64Array;
}

/**
 * Per-tensor sums over the weights of a gradient (one array per trainable weight), each
 * coordinate weighted by 1/M_j when a metric is given. Coordinates with M_j = 0 are left
 * out: the first pass saw no gradient there, and the metric is undefined in that
 * direction (the coordinator reports how many there are: fisher.*.zero_parameters).
 */
function tensorSums(g1: Float32Array[], g2: Float32Array[], weightTensor: readonly number[], tensorCount: number, metric: Float32Array | null): Sums {
  const sums: Sums = { sq1: new Float64Array(tensorCount), sq2: new Float64Array(tensorCount), dot: new Float64Array(tensorCount) };
  let offset = 0;
  for (let w = 0; w < g1.length; w++) {
    const a = g1[w]!;
    const b = g2[w]!;
    let s1 = 0;
    let s2 = 0;
    let d = 0;
    if (metric === null) {
      for (let k = 0; k < a.length; k++) {
        const ak = a[k]!;
        const bk = b[k]!;
        s1 += ak * ak;
        s2 += bk * bk;
        d += ak * bk;
      }
    } else {
      for (let k = 0; k < a.length; k++) {
        const m = metric[offset + k]!;
        if (m <= 0) continue;
        const ak = a[k]!;
        const bk = b[k]!;
        s1 += (ak * ak) / m;
        s2 += (bk * bk) / m;
        d += (ak * bk) / m;
      }
    }
    const t = weightTensor[w]!;
    sums.sq1[t] = sums.sq1[t]! + s1;
    sums.sq2[t] = sums.sq2[t]! + s2;
    sums.dot[t] = sums.dot[t]! + d;
    offset += a.length;
  }
  return sums;
}

function statsOf(s: Sums): MetricStats {
  let t1 = 0;
  let t2 = 0;
  let td = 0;
  for (let t = 0; t < s.sq1.length; t++) {
    t1 += s.sq1[t]!;
    t2 += s.sq2[t]!;
    td += s.dot[t]!;
  }
  return {
    norm: [Math.sqrt(t1), Math.sqrt(t2)],
    dot: td,
    tensorNorm: [Array.from(s.sq1, Math.sqrt), Array.from(s.sq2, Math.sqrt)],
    tensorDot: Array.from(s.dot),
  };
}

export function pairStatistics(
  id: number,
  loss: [number, number],
  g1: Float32Array[],
  g2: Float32Array[],
  weightTensor: readonly number[],
  tensorCount: number,
  metrics: readonly Float32Array[],
): PairStats {
  const euclid = statsOf(tensorSums(g1, g2, weightTensor, tensorCount, null));
  return {
    id,
    loss,
    ...euclid,
    metrics: metrics.map((m) => statsOf(tensorSums(g1, g2, weightTensor, tensorCount, m))),
  };
}
