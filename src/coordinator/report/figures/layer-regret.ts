// Figure: the regret of each layer (results.json `layers`) with its 95% confidence
// interval as an error bar; an unresolved estimate is left out and named in the subtitle.

import type { TopLevelSpec } from "vega-lite";
import type { Estimate } from "../../estimators/types.js";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_CONFIG, FIGURE_HEIGHT, FIGURE_WIDTH } from "./style.js";

export interface LayerEstimate {
  layer: string;
  estimate: Estimate;
}

export function layerRegretSpec(layers: readonly LayerEstimate[], measure = "regret"): FigureSpec {
  const rows = layers.filter((l) => l.estimate.resolved).map((l) => ({ layer: l.layer, mean: l.estimate.mean!, low: l.estimate.ci95![0], high: l.estimate.ci95![1] }));
  const unresolved = layers.filter((l) => !l.estimate.resolved).map((l) => l.layer);
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: FIGURE_CONFIG,
    title: {
      text: `${measure} per layer, with 95% CI`,
      subtitle: unresolved.length > 0 ? `not resolved (left out): ${unresolved.join(", ")}` : `${rows.length} layers`,
    },
    width: { step: Math.max(24, Math.min(70, (FIGURE_WIDTH * 1.5) / Math.max(1, rows.length))) },
    height: FIGURE_HEIGHT,
    data: { values: rows },
    encoding: { x: { field: "layer", type: "nominal", sort: null, title: "layer", axis: { labelAngle: rows.length > 6 ? -40 : 0 } } },
    layer: [
      { name: "bars", mark: { type: "bar", color: "#72b7b2" }, encoding: { y: { field: "mean", type: "quantitative", title: `E[${measure}]` } } },
      { name: "ci", mark: { type: "rule", color: "#333", strokeWidth: 1.5 }, encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } } },
      { name: "ci_low", mark: { type: "tick", color: "#333", thickness: 1.5, size: 12 }, encoding: { y: { field: "low", type: "quantitative" } } },
      { name: "ci_high", mark: { type: "tick", color: "#333", thickness: 1.5, size: 12 }, encoding: { y: { field: "high", type: "quantitative" } } },
    ],
  };
  return { kind: "vega-lite", spec };
}
