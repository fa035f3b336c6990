// Figure: the distribution over pairs of cos(g₁, g₂), the agreement of two minibatches'
// gradients whose mean, subtracted from 1, is cos_disagreement (README, "The measures").

import type { TopLevelSpec } from "vega-lite";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_CONFIG, FIGURE_HEIGHT, FIGURE_WIDTH, formatNumber } from "./style.js";

/** Bins of the histogram, on nice boundaries (Vega's bin transform): about 2√n, 10 to 50. */
export function cosMaxBins(pairs: number): number {
  return Math.max(10, Math.min(50, Math.round(2 * Math.sqrt(pairs))));
}

/** cos(g₁, g₂) of each pair from its norms and dot product; a pair with a zero gradient has none. */
export function pairCosines(records: readonly { norm: readonly [number, number] | number[]; dot: number }[]): number[] {
  const out: number[] = [];
  for (const r of records) {
    const denom = r.norm[0]! * r.norm[1]!;
    if (denom > 0 && Number.isFinite(denom) && Number.isFinite(r.dot)) out.push(Math.max(-1, Math.min(1, r.dot / denom)));
  }
  return out;
}

export function cosHistogramSpec(cosines: readonly number[], subject = "θ"): FigureSpec {
  const mean = cosines.length > 0 ? cosines.reduce((a, b) => a + b, 0) / cosines.length : NaN;
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: FIGURE_CONFIG,
    title: { text: `cos(g₁, g₂) over ${cosines.length} pairs at ${subject}`, subtitle: `mean ${formatNumber(mean)} (1 − mean = cos_disagreement)` },
    width: FIGURE_WIDTH,
    height: FIGURE_HEIGHT,
    data: { values: cosines.map((cos) => ({ cos })) },
    layer: [
      {
        name: "bins",
        mark: { type: "bar", color: "#4c78a8", binSpacing: 1 },
        encoding: {
          x: { field: "cos", type: "quantitative", bin: { maxbins: cosMaxBins(cosines.length) }, title: "cos(g₁, g₂)" },
          y: { aggregate: "count", type: "quantitative", title: "pairs" },
        },
      },
      {
        name: "mean",
        data: { values: Number.isFinite(mean) ? [{ mean }] : [] },
        mark: { type: "rule", color: "#d62728", strokeWidth: 2, strokeDash: [4, 3] },
        encoding: { x: { field: "mean", type: "quantitative" } },
      },
    ],
  };
  return { kind: "vega-lite", spec };
}
