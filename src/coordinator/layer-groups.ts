// Workers report statistics per trainable weight tensor; layers are sums of their
// tensors (squared norms and dot products add). Both views are reported: a rescaling
// acts uniformly on a tensor, not always on a layer (Dinh et al.'s twin rescales a
// layer's kernel and leaves its bias alone), and that is visible only per tensor.

import { layerOfWeight } from "../model/snapshot.js";
import type { PairRecord } from "./pair-records.js";

/** A pair's statistics (Euclidean, or in one metric) with its per-tensor arrays summed into layers. */
export interface LayerStats {
  norm: [number, number];
  dot: number;
  /** Per layer, in the order of Grouped.layers. */
  layerNorm: [number[], number[]];
  layerDot: number[];
}

/** A pair record summed into layers, as pairs.jsonl reports it. */
export interface LayerPairRecord extends Omit<PairRecord, "tensorNorm" | "tensorDot" | "metrics">, LayerStats {
  metrics: LayerStats[];
}

export interface Grouped {
  layers: string[];
  records: LayerPairRecord[];
}

export function tensorsToLayers(records: readonly PairRecord[], tensors: readonly string[]): Grouped {
  const layers = [...new Set(tensors.map(layerOfWeight))];
  const of = tensors.map((t) => layers.indexOf(layerOfWeight(t)));
  const sum = (values: readonly number[], square: boolean): number[] => {
    const out = new Array<number>(layers.length).fill(0);
    values.forEach((v, t) => (out[of[t]!] = out[of[t]!]! + (square ? v * v : v)));
    return square ? out.map(Math.sqrt) : out;
  };
  return {
    layers,
    records: records.map(({ tensorNorm, tensorDot, metrics, ...r }) => ({
      ...r,
      layerNorm: [sum(tensorNorm[0], true), sum(tensorNorm[1], true)],
      layerDot: sum(tensorDot, false),
      metrics: metrics.map((m) => ({ norm: m.norm, dot: m.dot, layerNorm: [sum(m.tensorNorm[0], true), sum(m.tensorNorm[1], true)], layerDot: sum(m.tensorDot, false) })),
    })),
  };
}
