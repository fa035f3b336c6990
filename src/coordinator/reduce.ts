// Pair records → estimates, for the whole network and for each group of parameters (a
// weight tensor, or a layer that layer-groups.ts sums from its tensors), adding pairs in
// pair order (see pair-records.ts for why).

import { MeasureSet, type Estimate, type MeasureName, type Sampling } from "./estimators/index.js";
import type { LayerStats } from "./layer-groups.js";
import type { MetricStats } from "../protocol/index.js";

export type Measures = Record<MeasureName, Estimate>;

/** One pair's statistics, for the whole network and per group, as reducePairs takes them. */
export interface GroupedPairStats {
  norm: [number, number];
  dot: number;
  groupNorm: [number[], number[]];
  groupDot: number[];
}

export interface Reduction {
  measures: Measures;
  /** Per group, by name: results.json's `layers` or `tensors`. */
  groups: Record<string, Measures>;
}

/** A pair's statistics per weight tensor (a task.result's pair, or its statistics in one metric). */
export function byTensor(s: MetricStats): GroupedPairStats {
  return { norm: s.norm, dot: s.dot, groupNorm: s.tensorNorm, groupDot: s.tensorDot };
}

/** A pair's statistics per layer (tensors summed by layer-groups.ts). */
export function byLayer(s: LayerStats): GroupedPairStats {
  return { norm: s.norm, dot: s.dot, groupNorm: s.layerNorm, groupDot: s.layerDot };
}

export function reducePairs(pairs: readonly GroupedPairStats[], groups: readonly string[], sampling: Sampling): Reduction {
  const whole = new MeasureSet(sampling);
  const perGroup = groups.map(() => new MeasureSet(sampling));
  for (const r of pairs) {
    whole.add({ a: r.norm[0], b: r.norm[1], c: r.dot });
    for (let g = 0; g < groups.length; g++) {
      perGroup[g]!.add({ a: r.groupNorm[0][g]!, b: r.groupNorm[1][g]!, c: r.groupDot[g]! });
    }
  }
  const byName: Record<string, Measures> = {};
  groups.forEach((name, g) => (byName[name] = perGroup[g]!.results()));
  return { measures: whole.results(), groups: byName };
}
