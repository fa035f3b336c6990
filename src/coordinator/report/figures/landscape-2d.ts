// Figure: a 2-D loss landscape as filled contours. Vega-Lite has no contour mark, so this
// one is a Vega spec: Vega's isocontour transform on the grid of losses (marching squares,
// equally spaced levels), each band filled from a continuous viridis scale, the grid
// points drawn as small dots (where the loss was evaluated) and θ marked at the origin.

import type { Spec } from "vega";
import type { FigureSpec } from "../render-svg.js";
import { FIGURE_HEIGHT, FIGURE_WIDTH, formatNumber } from "./style.js";

export interface LandscapeGrid {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Grid coordinates, ascending and evenly spaced. */
  xs: readonly number[];
  ys: readonly number[];
  /** values[j][i]: the loss at (xs[i], ys[j]); NaN where not evaluated. */
  values: readonly (readonly number[])[];
}

/** Contour levels: equally spaced, the first at the lowest loss, so that every grid cell lies in a filled band. */
export const CONTOUR_LEVELS = 12;
/** Grids with more points than this get no dot per point. */
export const MAX_DOTS = 2500;

/** The levels' thresholds; the transform's own `levels` starts a step above the lowest value (leaving it unfilled). */
export function contourThresholds(lo: number, hi: number, levels = CONTOUR_LEVELS): number[] {
  if (!(hi > lo)) return [lo];
  return Array.from({ length: levels }, (_, k) => lo + ((hi - lo) * k) / levels);
}

export function landscape2dSpec(g: LandscapeGrid): FigureSpec {
  const nx = g.xs.length;
  const ny = g.ys.length;
  for (const [j, row] of g.values.entries()) if (row.length !== nx) throw new Error(`landscape2dSpec: row ${j} has ${row.length} values, the grid has ${nx} columns`);
  if (g.values.length !== ny) throw new Error(`landscape2dSpec: ${g.values.length} rows of values, the grid has ${ny} rows`);
  if (nx < 2 || ny < 2) throw new Error(`landscape2dSpec: a ${nx} × ${ny} grid has no area to draw (at least 2 × 2)`);
  // The raster's row 0 is the top of the picture: the largest β first. The transform puts
  // value i at the centre of raster cell i, (i + 0.5) × scale; scale = plot size / (n − 1)
  // and translate = −scale / 2 put it on grid point i, the domains span the outermost grid
  // points, and the marks are clipped to them (outside, the transform only closes its rings).
  // One pixel scale on both axes (the transform takes one): a grid cell is square.
  const cell = Math.min((FIGURE_WIDTH * 0.8) / (nx - 1), FIGURE_HEIGHT / (ny - 1));
  const width = cell * (nx - 1);
  const height = cell * (ny - 1);
  const raster = { width: nx, height: ny, values: [...g.values].reverse().flat() };
  const points = g.ys.flatMap((y, j) => g.xs.map((x, i) => ({ x, y, loss: g.values[j]![i]! }))).filter((p) => Number.isFinite(p.loss));
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.loss);
    hi = Math.max(hi, p.loss);
  }
  const domain = points.length > 0 ? [lo, hi] : [0, 1];
  const thresholds = contourThresholds(domain[0]!, domain[1]!);
  const spec: Spec = {
    $schema: "https://vega.github.io/schema/vega/v6.json",
    width,
    height,
    padding: 5,
    autosize: "pad",
    background: "white",
    title: { text: g.title, anchor: "start", fontSize: 14, offset: 10, subtitle: `training loss on a ${nx} × ${ny} grid, ${formatNumber(domain[0])} to ${formatNumber(domain[1])}`, subtitleFontSize: 11, subtitleColor: "#555" },
    data: [
      // Dots at the evaluated points while they stay apart; a finer grid is shown by its contours alone.
      { name: "points", values: points.length <= MAX_DOTS ? points : [] },
      {
        name: "contours",
        values: [raster],
        transform: [{ type: "isocontour", thresholds, scale: cell, translate: [-cell / 2, -cell / 2] }],
      },
      { name: "origin", values: [{ x: 0, y: 0 }] },
    ],
    scales: [
      { name: "x", type: "linear", domain: [g.xs[0]!, g.xs[nx - 1]!], range: "width", nice: false, zero: false },
      { name: "y", type: "linear", domain: [g.ys[0]!, g.ys[ny - 1]!], range: "height", nice: false, zero: false },
      { name: "color", type: "linear", domain: domain, range: { scheme: "viridis" }, zero: false },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: g.xLabel, labelFontSize: 11, titleFontSize: 12, tickCount: 5 },
      { orient: "left", scale: "y", title: g.yLabel, labelFontSize: 11, titleFontSize: 12, tickCount: 5 },
    ],
    legends: [{ fill: "color", type: "gradient", title: "loss", titleFontSize: 11, labelFontSize: 11, gradientLength: FIGURE_HEIGHT - 40 }],
    marks: [
      {
        type: "shape",
        name: "bands",
        from: { data: "contours" },
        clip: true,
        encode: { enter: { fill: { scale: "color", field: "contour.value" }, stroke: { value: "#ffffff" }, strokeWidth: { value: 0.6 }, strokeOpacity: { value: 0.7 } } },
        transform: [{ type: "geoshape", field: "datum.contour" }],
      },
      {
        type: "symbol",
        name: "samples",
        from: { data: "points" },
        encode: { enter: { x: { scale: "x", field: "x" }, y: { scale: "y", field: "y" }, size: { value: 5 }, fill: { value: "#000000" }, fillOpacity: { value: 0.35 } } },
      },
      {
        type: "symbol",
        name: "theta-mark",
        from: { data: "origin" },
        encode: { enter: { x: { scale: "x", field: "x" }, y: { scale: "y", field: "y" }, shape: { value: "cross" }, size: { value: 110 }, fill: { value: "#d62728" }, stroke: { value: "#ffffff" }, strokeWidth: { value: 1 } } },
      },
      {
        type: "text",
        name: "theta-text",
        from: { data: "origin" },
        encode: { enter: { x: { scale: "x", field: "x", offset: 8 }, y: { scale: "y", field: "y", offset: -8 }, text: { value: "θ" }, fontSize: { value: 13 }, fill: { value: "#d62728" }, fontWeight: { value: "bold" } } },
      },
    ],
  };
  return { kind: "vega", spec };
}
