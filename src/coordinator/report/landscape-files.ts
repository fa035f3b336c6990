// Landscape outputs: a CSV per (θ or twin, normalization), and SVG pictures — for 1-D
// grids one chart per normalization with θ and its twins as curves (the picture the
// seed's critique is about: with filter normalization the twins' curves coincide,
// without it they do not), for 2-D grids a contour per (θ or twin, normalization).

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { landscapeCsv } from "../../measures/landscape.js";
import type { SubjectMeasurement } from "../measure-subject.js";
import { contourSvg, lineChartSvg } from "./svg-plot.js";

function label(m: SubjectMeasurement): string {
  return m.subject.alpha === null ? "θ" : `twin α=${m.subject.alpha}`;
}

/** Writes the files; returns their names by subject and normalization. */
export async function writeLandscapes(dir: string, measured: readonly SubjectMeasurement[]): Promise<{ subject: string; normalization: string; csv: string; svg: string | null }[]> {
  const out: { subject: string; normalization: string; csv: string; svg: string | null }[] = [];
  const charts = new Map<string, { name: string; x: number[]; y: number[] }[]>();
  for (const m of measured) {
    for (const l of m.landscapes) {
      const csv = `landscape-${m.subject.key}-${l.normalization}.csv`;
      await writeFile(join(dir, csv), landscapeCsv(l.points, l.values.map((v) => v ?? { loss: NaN, accuracy: NaN })));
      let svg: string | null = null;
      const dims = l.points.some((p) => p.beta !== 0) ? 2 : 1;
      if (dims === 1) {
        const series = charts.get(l.normalization) ?? [];
        series.push({ name: label(m), x: l.points.map((p) => p.alpha), y: l.values.map((v) => v?.loss ?? NaN) });
        charts.set(l.normalization, series);
        svg = `landscape-1d-${l.normalization}.svg`;
      } else {
        const xs = [...new Set(l.points.map((p) => p.alpha))].sort((a, b) => a - b);
        const ys = [...new Set(l.points.map((p) => p.beta))].sort((a, b) => a - b);
        const at = new Map(l.points.map((p, i) => [`${p.alpha},${p.beta}`, l.values[i]?.loss ?? NaN]));
        const values = ys.map((y) => xs.map((x) => at.get(`${x},${y}`) ?? NaN));
        svg = `landscape-2d-${m.subject.key}-${l.normalization}.svg`;
        await writeFile(
          join(dir, svg),
          contourSvg({ title: `training loss around ${label(m)}, ${l.normalization === "filter" ? "filter-normalized" : "unnormalized"} directions`, xLabel: "α (direction 1)", yLabel: "β (direction 2)", xs, ys, values }),
        );
      }
      out.push({ subject: m.subject.key, normalization: l.normalization, csv, svg });
    }
  }
  for (const [normalization, series] of charts) {
    await writeFile(
      join(dir, `landscape-1d-${normalization}.svg`),
      lineChartSvg({
        title: `training loss along ${normalization === "filter" ? "a filter-normalized" : "an unnormalized"} random direction`,
        xLabel: "step along the direction",
        yLabel: "mean training loss",
        series,
      }),
    );
  }
  return out;
}
