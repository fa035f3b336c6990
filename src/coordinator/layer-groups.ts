// Workers report statistics per trainable weight tensor; layers are sums of their
// tensors (squared norms and dot products add). Both views are reported: a rescaling
// acts uniformly on a tensor, not always on a layer (Dinh et al.'s twin rescales a
// layer's kernel and leaves its bias alone), and that is visible only per tensor.

import { layerOfWeight } from "../model/snapshot.js";
import type { PairRecord } from "./pair-records.js";

export interface Grouped {
  layers: string[];
  records: PairRecord[];
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
    records: records.map((r) => ({
      ...r,
      layerNorm: [sum(r.layerNorm[0], true), sum(r.layerNorm[1], true)],
      layerDot: sum(r.layerDot, false),
      metrics: r.metrics.map((m) => ({ ...m, layerNorm: [sum(m.layerNorm[0], true), sum(m.layerNorm[1], true)], layerDot: sum(m.layerDot, false) })),
    })),
  };
}
