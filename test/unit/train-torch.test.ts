// The training engine against PyTorch: torch.optim.SGD (with and without momentum,
// Nesterov, weight decay), Adam with L2 weight decay and AdamW, each under the three
// schedules, 6 steps of an MLP 8-6-3 (tanh) over minibatches of 8, 8 and 4 (two epochs),
// in float64 (scripts/make-train-fixtures.py). Ours runs in float32 on the cpu and wasm
// backends; after every step the weights must agree to float32 rounding: max |Δ| / max |w|
// per tensor ≤ 1e-6 (largest seen 4.0e-7; printed at the end). The schedules alone are checked against
// torch.optim.lr_scheduler's rates over longer horizons.

import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { learningRate } from "../../src/train/schedules.js";
import { Trainer } from "../../src/train/trainer.js";
import { setupWasm } from "../../src/worker/wasm/index.js";
import { maxRelErr } from "../helpers/rel-err.js";
import { fixtureDataset, fixtureSnapshot, loadTrainFixture } from "../helpers/train-fixture.js";

const fixture = loadTrainFixture();
const WEIGHT_BOUND = 1e-6;
const observed = new Map<string, number>();

afterAll(() => {
  console.log(`train-torch.test.ts (torch ${fixture.torch}), largest relative error over 6 steps:\n  ${[...observed].map(([k, v]) => `${k}: ${v.toExponential(2)}`).join("\n  ")}`);
});

describe("learning-rate schedules against torch.optim.lr_scheduler", () => {
  for (const s of fixture.schedules) {
    it(`${JSON.stringify(s.schedule)} over ${s.values.length} steps`, () => {
      s.values.forEach((want, step) => {
        const got = learningRate(s.schedule, s.lr, step);
        expect(Math.abs(got - want), `step ${step}: ${got} vs torch ${want}`).toBeLessThanOrEqual(1e-12 * s.lr);
      });
    });
  }
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`training steps against PyTorch (float64), ${backend} backend`, () => {
    it.each(fixture.runs.map((r) => [r.name, r] as const))("%s", async (_name, run) => {
      if (backend === "wasm") await setupWasm(tf, { threads: 1 });
      else await tf.setBackend("cpu");
      const trainer = await Trainer.create(tf, fixtureSnapshot(fixture), fixtureDataset(fixture), {
        batchSize: fixture.batch_size,
        optimizer: run.optimizer,
        schedule: run.schedule,
        data: { seed: 0, shuffle: false, dropLast: false },
        stop: { steps: fixture.steps },
        checkpointEvery: fixture.steps,
        evalSet: { kind: "all" },
      });
      try {
        let worst = 0;
        for (let step = 0; step < fixture.steps; step++) {
          expect(Math.abs(trainer.learningRate - run.lr[step]!)).toBeLessThanOrEqual(1e-12);
          trainer.trainStep();
          const state = await trainer.state();
          for (const w of state.weights) {
            const err = maxRelErr(w.data, run.weights[step]![w.name]!);
            worst = Math.max(worst, err);
            expect(err, `${run.name}, step ${step + 1}, ${w.name}`).toBeLessThanOrEqual(WEIGHT_BOUND);
          }
        }
        expect(trainer.position).toEqual({ epoch: 2, batch: 0 });
        observed.set(`${backend} ${run.name}`, worst);
      } finally {
        trainer.dispose();
      }
    });
  });
}
