// The look all figures share: sizes, fonts, and the colours of θ and its twins (Vega's
// default category scheme, so that a series keeps its colour from figure to figure).

import type { Config } from "vega-lite";

export const FIGURE_WIDTH = 420;
export const FIGURE_HEIGHT = 260;
/** About the longest title (14 px) that fits over a FIGURE_WIDTH plot with its axis. */
export const TITLE_CHARS = 42;

/**
 * Vega-Lite config: readable axis text, titles left-aligned above the plot. Without a
 * canvas Vega estimates a text's width as 0.8 × font size per character and sizes the SVG
 * to fit it, so a title much longer than the plot leaves blank space beside it in the
 * browser: keep titles under about TITLE_CHARS characters and put the rest in the subtitle.
 */
export const FIGURE_CONFIG: Config = {
  font: "sans-serif",
  background: "white",
  title: { fontSize: 14, anchor: "start", offset: 10, subtitleFontSize: 11, subtitleColor: "#555" },
  axis: { labelFontSize: 11, titleFontSize: 12, labelOverlap: true, labelFlush: true },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 220 },
  view: { stroke: "#ccc" },
};

/** A number for a title or a table: five significant digits, exponent outside [1e-3, 1e5). */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? String(Number(x.toPrecision(5))) : x.toExponential(3);
}
