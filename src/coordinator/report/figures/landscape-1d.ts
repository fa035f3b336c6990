// Figure: a 1-D loss landscape, θ and its twins as one curve each along the same random
// direction (the seed's critique: with filter normalization the twins' curves coincide,
// without it they do not). Dashes and point shapes differ per curve, so that coinciding
// curves stay visible as coinciding rather than one hiding the others.

import type { TopLevelSpec } from "vega-lite";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_CONFIG, FIGURE_HEIGHT, FIGURE_WIDTH } from "./style.js";

export interface LandscapeSeries {
  /** "θ", or "twin α=2". */
  name: string;
  x: readonly number[];
  loss: readonly (number | null)[];
}

export function normalizationWords(normalization: string): string {
  return normalization === "filter" ? "filter-normalized" : "unnormalized";
}

export function landscape1dSpec(normalization: string, series: readonly LandscapeSeries[]): FigureSpec {
  // A point not evaluated (null, NaN) has loss null: the curve breaks there (mark invalid
  // "break-paths-show-domains") rather than joining its neighbours, and it has no dot.
  const rows = series.flatMap((s) => s.x.map((x, i) => ({ series: s.name, step: x, loss: Number.isFinite(s.loss[i]) ? s.loss[i] : null })));
  const order = series.map((s) => s.name);
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: FIGURE_CONFIG,
    title: { text: `loss along ${normalization === "filter" ? "a filter-normalized" : "an unnormalized"} direction`, subtitle: `training loss along a seeded random direction; ${series.length} curve${series.length === 1 ? "" : "s"}` },
    width: FIGURE_WIDTH,
    height: FIGURE_HEIGHT,
    data: { values: rows },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step along the direction" },
      y: { field: "loss", type: "quantitative", title: "mean training loss", scale: { zero: false } },
      // One legend, below the plot (it never covers a curve): Vega-Lite merges channels on the same field and title.
      color: { field: "series", type: "nominal", sort: order, title: "curve", legend: { orient: "bottom", direction: "horizontal" } },
    },
    layer: [
      // Widths fall from the first curve (θ) to the last: a curve lying on another shows as a thin line inside a wider one.
      {
        name: "curves",
        mark: { type: "line", opacity: 0.85, invalid: "break-paths-show-domains" },
        encoding: {
          strokeDash: { field: "series", type: "nominal", sort: order, title: "curve" },
          strokeWidth: { field: "series", type: "nominal", sort: order, title: "curve", scale: { domain: order, range: order.map((_, i) => Math.max(1.2, 5 - 1.5 * i)) } },
        },
      },
      { name: "points", mark: { type: "point", filled: true, size: 30 }, encoding: { shape: { field: "series", type: "nominal", sort: order, title: "curve" } } },
    ],
  };
  return { kind: "vega-lite", spec };
}
