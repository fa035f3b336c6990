// Landscape outputs: a CSV per (θ or twin, normalization), and the SVG pictures of
// landscape-figures.ts (1-D: θ and its twins as curves per normalization; 2-D: contours
// per θ or twin and normalization), drawn with Vega-Lite / Vega (render-svg.ts).

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { landscapeCsv } from "../../measures/landscape.js";
import type { SubjectMeasurement } from "../measure-subject.js";
import { landscape1dSpec } from "./figures/landscape-1d.js";
import { landscape2dSpec } from "./figures/landscape-2d.js";
import { landscapeFigures } from "./landscape-figures.js";
import type { LandscapeFile } from "./outputs.js";
import { renderSvg } from "./render-svg.js";

/** Writes the files; returns their names by subject and normalization. */
export async function writeLandscapes(dir: string, measured: readonly SubjectMeasurement[]): Promise<LandscapeFile[]> {
  const { oneD, twoD } = landscapeFigures(measured);
  const out: LandscapeFile[] = [];
  for (const m of measured) {
    for (const l of m.landscapes) {
      const csv = `landscape-${m.subject.key}-${l.normalization}.csv`;
      await writeFile(join(dir, csv), landscapeCsv(l.points, l.values.map((v) => v ?? { loss: NaN, accuracy: NaN })));
      const twoDimensional = l.points.some((p) => p.beta !== 0);
      const svg = (twoDimensional ? twoD.find((f) => f.subject === m.subject.key && f.normalization === l.normalization) : oneD.find((f) => f.normalization === l.normalization))?.svg ?? null;
      out.push({ subject: m.subject.key, normalization: l.normalization, csv, svg });
    }
  }
  for (const f of oneD) await writeFile(join(dir, f.svg), await renderSvg(landscape1dSpec(f.normalization, f.series)));
  for (const f of twoD) await writeFile(join(dir, f.svg), await renderSvg(landscape2dSpec(f.grid)));
  return out;
}
