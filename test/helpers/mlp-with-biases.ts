// An MLP snapshot whose biases are set to small random values: mlpSnapshot's zero biases
// would leave the bias paths (and ReLU offsets) less exercised in gradient tests.

import { mlpSnapshot, type MlpActivation } from "../../src/model/mlp.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";

export function snapshotWithBiases(layers: number[], activation: MlpActivation, seed: number): Snapshot {
  const s = mlpSnapshot({ layers, activation, seed, init: "glorot_uniform" });
  const rng = new Rng(seed, 99);
  const views = weightViews(s);
  s.weights.forEach((w, i) => {
    if (w.name.endsWith("/bias")) {
      const v = views[i]!;
      for (let k = 0; k < v.length; k++) v[k] = 0.1 * rng.nextNormal();
    }
  });
  return s;
}
