// Pair records → estimates, for the whole network and for each layer, adding pairs in
// pair order (see pair-records.ts for why).

import { MeasureSet, type Estimate, type MeasureName, type Sampling } from "./estimators/index.js";
import type { PairRecord } from "./pair-records.js";

export type Measures = Record<MeasureName, Estimate>;

export interface Reduction {
  measures: Measures;
  layers: Record<string, Measures>;
}

export function reducePairs(records: readonly PairRecord[], layers: readonly string[], sampling: Sampling): Reduction {
  const whole = new MeasureSet(sampling);
  const perLayer = layers.map(() => new MeasureSet(sampling));
  for (const r of records) {
    whole.add({ a: r.norm[0], b: r.norm[1], c: r.dot });
    for (let l = 0; l < layers.length; l++) {
      perLayer[l]!.add({ a: r.layerNorm[0][l]!, b: r.layerNorm[1][l]!, c: r.layerDot[l]! });
    }
  }
  const byLayer: Record<string, Measures> = {};
  layers.forEach((name, l) => (byLayer[name] = perLayer[l]!.results()));
  return { measures: whole.results(), layers: byLayer };
}
