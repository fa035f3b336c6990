// Figures are Vega-Lite (or, where Vega-Lite has no such mark, Vega) specs; this draws one
// to a standalone SVG document in Node, headless: no browser, no canvas, no network.
// Vega and Vega-Lite are loaded on the first figure drawn, not when the coordinator
// starts (a third of a second of imports that `coordinator verify` or `--help` never use).

import type { Spec } from "vega";
import type { TopLevelSpec } from "vega-lite";

export type FigureSpec = { kind: "vega-lite"; spec: TopLevelSpec } | { kind: "vega"; spec: Spec };

/** The SVG of a figure; the view is finalized afterwards so that nothing keeps running. */
export async function renderSvg(figure: FigureSpec): Promise<string> {
  const vega = await import("vega");
  const spec = figure.kind === "vega-lite" ? (await import("vega-lite")).compile(figure.spec).spec : figure.spec;
  // renderer "none": the scenegraph only, which toSVG() serializes; no DOM needed.
  const view = new vega.View(vega.parse(spec), { renderer: "none", logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
