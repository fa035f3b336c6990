// What the landscape pictures show, from what was measured: for 1-D grids one figure per
// normalization with θ and its twins as curves, for 2-D grids one contour figure per
// (θ or twin, normalization). landscape-files.ts writes them as SVG files, report-html.ts
// puts the same figures into report.html.

import type { SubjectMeasurement } from "../measure-subject.js";
import type { LandscapeGrid } from "./figures/landscape-2d.js";
import { normalizationWords, type LandscapeSeries } from "./figures/landscape-1d.js";

export interface Landscape1d {
  normalization: string;
  series: LandscapeSeries[];
  /** landscape-1d-<normalization>.svg */
  svg: string;
}

export interface Landscape2d {
  subject: string;
  normalization: string;
  grid: LandscapeGrid;
  /** landscape-2d-<subject>-<normalization>.svg */
  svg: string;
}

export function subjectLabel(alpha: number | null): string {
  return alpha === null ? "θ" : `twin α=${alpha}`;
}

export function landscapeFigures(measured: readonly SubjectMeasurement[]): { oneD: Landscape1d[]; twoD: Landscape2d[] } {
  const oneD = new Map<string, Landscape1d>();
  const twoD: Landscape2d[] = [];
  for (const m of measured) {
    for (const l of m.landscapes) {
      const loss = l.values.map((v) => v?.loss ?? NaN);
      if (!l.points.some((p) => p.beta !== 0)) {
        const fig = oneD.get(l.normalization) ?? { normalization: l.normalization, series: [], svg: `landscape-1d-${l.normalization}.svg` };
        fig.series.push({ name: subjectLabel(m.subject.alpha), x: l.points.map((p) => p.alpha), loss });
        oneD.set(l.normalization, fig);
      } else {
        const xs = [...new Set(l.points.map((p) => p.alpha))].sort((a, b) => a - b);
        const ys = [...new Set(l.points.map((p) => p.beta))].sort((a, b) => a - b);
        const at = new Map(l.points.map((p, i) => [`${p.alpha},${p.beta}`, loss[i]!]));
        twoD.push({
          subject: m.subject.key,
          normalization: l.normalization,
          svg: `landscape-2d-${m.subject.key}-${l.normalization}.svg`,
          grid: {
            title: `loss around ${subjectLabel(m.subject.alpha)} (${normalizationWords(l.normalization)})`,
            xLabel: "α (direction 1)",
            yLabel: "β (direction 2)",
            xs,
            ys,
            values: ys.map((y) => xs.map((x) => at.get(`${x},${y}`) ?? NaN)),
          },
        });
      }
    }
  }
  return { oneD: [...oneD.values()], twoD };
}
