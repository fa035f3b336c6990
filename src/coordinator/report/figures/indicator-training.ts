// Figure, for runs measured along training: an indicator (e.g. regret) at each checkpoint
// step with its 95% CI as a band, and beside it the train and test losses at the same
// steps, so that one reads whether the indicator moves with the generalization gap.

import type { TopLevelSpec } from "vega-lite";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_CONFIG, FIGURE_HEIGHT, FIGURE_WIDTH } from "./style.js";

export interface TrainingCheckpoint {
  step: number;
  /** The indicator's estimate and 95% CI; null where it was not resolved. */
  indicator: { mean: number; ci_low: number; ci_high: number } | null;
  train_loss: number | null;
  test_loss: number | null;
}

export interface IndicatorTraining {
  /** The measure's name, as in results.json (e.g. "regret"). */
  indicator: string;
  checkpoints: readonly TrainingCheckpoint[];
}

const finite = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);

export function indicatorTrainingSpec(t: IndicatorTraining): FigureSpec {
  const indicatorRows = t.checkpoints.filter((c) => c.indicator !== null && finite(c.indicator.mean)).map((c) => ({ step: c.step, ...c.indicator! }));
  const lossRows = t.checkpoints.flatMap((c) => [
    ...(finite(c.train_loss) ? [{ step: c.step, split: "train", loss: c.train_loss }] : []),
    ...(finite(c.test_loss) ? [{ step: c.step, split: "test", loss: c.test_loss }] : []),
  ]);
  const x = { field: "step", type: "quantitative" as const, title: "training step" };
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: FIGURE_CONFIG,
    title: { text: `${t.indicator} over training`, subtitle: `${t.checkpoints.length} checkpoints; band: 95% CI` },
    hconcat: [
      {
        name: "indicator",
        width: FIGURE_WIDTH * 0.75,
        height: FIGURE_HEIGHT * 0.85,
        data: { values: indicatorRows },
        encoding: { x },
        layer: [
          { name: "band", mark: { type: "area", opacity: 0.3, color: "#4c78a8" }, encoding: { y: { field: "ci_low", type: "quantitative", title: t.indicator, scale: { zero: false } }, y2: { field: "ci_high" } } },
          { name: "line", mark: { type: "line", color: "#4c78a8", point: true }, encoding: { y: { field: "mean", type: "quantitative" } } },
        ],
      },
      {
        name: "losses",
        width: FIGURE_WIDTH * 0.75,
        height: FIGURE_HEIGHT * 0.85,
        data: { values: lossRows },
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "loss", type: "quantitative", title: "mean loss", scale: { zero: false } },
          color: { field: "split", type: "nominal", sort: ["train", "test"], title: null, scale: { range: ["#f58518", "#54a24b"] }, legend: { orient: "bottom", direction: "horizontal" } },
        },
      },
    ],
  };
  return { kind: "vega-lite", spec };
}
