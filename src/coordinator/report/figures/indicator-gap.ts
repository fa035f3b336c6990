// Figure, across runs: each run's indicator (with its 95% CI as a horizontal bar) against
// its generalization gap (test − train loss), Kendall's τ_b of the two in the title: how
// well the indicator ranks the runs by how badly they generalize.

import type { TopLevelSpec } from "vega-lite";
import { kendallTauB } from "../../experiment/rank-correlation.js";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_CONFIG, FIGURE_HEIGHT, FIGURE_WIDTH, formatNumber } from "./style.js";

export interface RunIndicatorGap {
  run: string;
  indicator: number;
  ci_low: number;
  ci_high: number;
  /** Test loss − train loss at the same checkpoint. */
  gap: number;
}

export function indicatorGapSpec(indicator: string, runs: readonly RunIndicatorGap[]): { figure: FigureSpec; tau: number | null } {
  const rows = runs.filter((r) => Number.isFinite(r.indicator) && Number.isFinite(r.gap));
  const tau = rows.length >= 2 ? kendallTauB(rows.map((r) => r.indicator), rows.map((r) => r.gap)) : null;
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: FIGURE_CONFIG,
    title: { text: `Kendall's τ = ${tau === null ? "undefined" : formatNumber(tau)}: ${indicator} against gap`, subtitle: `${rows.length} runs; generalization gap = test − train loss; bars: 95% CI` },
    width: FIGURE_WIDTH,
    height: FIGURE_HEIGHT,
    data: { values: rows },
    encoding: { y: { field: "gap", type: "quantitative", title: "test loss − train loss", scale: { zero: false } } },
    layer: [
      { name: "ci", mark: { type: "rule", color: "#999" }, encoding: { x: { field: "ci_low", type: "quantitative", title: indicator, scale: { zero: false } }, x2: { field: "ci_high" } } },
      { name: "runs", mark: { type: "point", filled: true, size: 50, color: "#4c78a8" }, encoding: { x: { field: "indicator", type: "quantitative" }, tooltip: { field: "run", type: "nominal" } } },
    ],
  };
  return { figure: { kind: "vega-lite", spec }, tau };
}
