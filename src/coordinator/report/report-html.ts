// report.html: one self-contained page per run — every figure as inline SVG drawn from
// Vega-Lite / Vega specs (figures/), the tables as HTML, the CSS inline; no script, no
// font or file from elsewhere, so it opens offline and prints as it shows. Each figure
// appears when its data exists: the histogram of cos(g₁, g₂) over pairs, the regret per
// layer, the landscapes, the invariance table; the training figures when given.

import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { cosHistogramSpec } from "./figures/cos-histogram.js";
import { indicatorGapSpec, type RunIndicatorGap } from "./figures/indicator-gap.js";
import { indicatorTrainingSpec, type IndicatorTraining } from "./figures/indicator-training.js";
import { landscape1dSpec } from "./figures/landscape-1d.js";
import { landscape2dSpec } from "./figures/landscape-2d.js";
import { layerRegretSpec } from "./figures/layer-regret.js";
import { escapeHtml, generalizationTable, invarianceTable, measuresTable } from "./html-tables.js";
import type { Landscape1d, Landscape2d } from "./landscape-figures.js";
import type { ResultsFile } from "./outputs.js";
import { renderSvg, type FigureSpec } from "./render-svg.js";

export interface ReportInput {
  results: ResultsFile;
  /** cos(g₁, g₂) of each of θ's pairs (figures/cos-histogram.ts pairCosines). */
  cosines: readonly number[];
  landscapes: { oneD: readonly Landscape1d[]; twoD: readonly Landscape2d[] };
}

/** Measurements along training and across runs (from the training work; not in results.json). */
export interface TrainingReport {
  overTraining?: readonly IndicatorTraining[];
  acrossRuns?: readonly { indicator: string; runs: readonly RunIndicatorGap[] }[];
}

interface Figure {
  /** A stable name: the figure's id in the page and its data-figure attribute. */
  id: string;
  caption: string;
  spec: FigureSpec;
}

/**
 * Vega names its gradients and clip paths gradient_0, clip1, … in every SVG; inline in
 * one page those ids would collide and a url(#id) would find another figure's. Prefix them.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!));
  if (ids.size === 0) return svg;
  return svg
    .replace(/\sid="([^"]+)"/g, (_, id: string) => ` id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (whole, id: string) => (ids.has(id) ? `url(#${prefix}-${id})` : whole))
    .replace(/href="#([^"]+)"/g, (whole, id: string) => (ids.has(id) ? `href="#${prefix}-${id}"` : whole));
}

function figures(input: ReportInput, training: TrainingReport | undefined): Figure[] {
  const { results, cosines, landscapes } = input;
  const out: Figure[] = [];
  if (cosines.length > 0) {
    out.push({ id: "cos-histogram", caption: "How far apart two minibatches' gradients point: the cosine of each pair, binned. Near 1, the minibatches agree; the dashed line is the mean.", spec: cosHistogramSpec(cosines) });
  }
  const layers = Object.entries(results.layers ?? {}).filter(([, ms]) => ms.regret !== undefined);
  if (layers.length > 0) {
    out.push({ id: "layer-regret", caption: "The regret E[‖g₂‖ − g₁·g₂/‖g₁‖] of each layer's gradients alone, with 95% confidence intervals (Student t).", spec: layerRegretSpec(layers.map(([layer, ms]) => ({ layer, estimate: ms.regret }))) });
  }
  for (const f of landscapes.oneD) {
    out.push({ id: `landscape-1d-${f.normalization}`, caption: `The training loss along one seeded random direction (${f.normalization === "filter" ? "filter-normalized, Li et al." : "unnormalized"}), through θ and each function-preserving twin; curves that coincide lie on one another, the widest underneath.`, spec: landscape1dSpec(f.normalization, f.series) });
  }
  for (const f of landscapes.twoD) {
    out.push({ id: `landscape-2d-${f.subject}-${f.normalization}`, caption: `The training loss on a plane of two seeded random directions; filled contours at equally spaced levels, dots where the loss was evaluated, the cross at the measured point.`, spec: landscape2dSpec(f.grid) });
  }
  for (const [i, t] of (training?.overTraining ?? []).entries()) {
    out.push({ id: `training-${i}-${t.indicator}`, caption: `The ${t.indicator} at each checkpoint with its 95% CI (band), beside the train and test losses at the same steps.`, spec: indicatorTrainingSpec(t) });
  }
  for (const [i, a] of (training?.acrossRuns ?? []).entries()) {
    out.push({ id: `gap-${i}-${a.indicator}`, caption: `Each run's ${a.indicator} against its generalization gap; Kendall's τ_b says how well the ${a.indicator} ranks the runs.`, spec: indicatorGapSpec(a.indicator, a.runs).figure });
  }
  return out;
}

const CSS = `
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.run { color: #555; font-size: 13px; }
p { font-size: 14px; max-width: 900px; }
.figures { display: flex; flex-wrap: wrap; gap: 24px; }
figure.figure { margin: 0; padding: 8px; border: 1px solid #eee; border-radius: 4px; background: white; max-width: 100%; overflow-x: auto; }
figure.figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; max-width: 520px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f6f6; position: sticky; top: 0; }
td.name, th:first-child { text-align: left; font-family: monospace; }
/* Intervals stay on one line; a "not resolved" reason (the mean column) wraps instead. */
table.measures td:nth-child(4), table.invariance td { white-space: nowrap; }
table.measures td:nth-child(2) { max-width: 32em; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid #eee; display: inline-block; }
tr.moved td:last-child { color: #b00; font-weight: bold; }
tr.invariant td:last-child { color: #070; }
tr.not-resolved td:last-child { color: #888; }
`;

function runLine(results: ResultsFile): string {
  const r = results.run;
  const parts = [
    `config ${basename(r.config_file)}`,
    `run ${r.run_id}`,
    `${r.snapshot.parameters.toLocaleString("en")} parameters`,
    `dataset ${r.dataset.name} (${r.dataset.n.toLocaleString("en")} examples)`,
    `${r.pairs.count} pairs of minibatches of ${r.pairs.batch_size} (${r.pairs.pairing}, seed ${r.seed})`,
    `${r.workers.length} worker${r.workers.length === 1 ? "" : "s"}`,
    `finished ${r.timings.finished}`,
  ];
  return `<p class="run">${parts.map(escapeHtml).join(" · ")}</p>`;
}

/** The page. */
export async function reportHtml(input: ReportInput, training?: TrainingReport): Promise<string> {
  const { results } = input;
  const figs = figures(input, training);
  const blocks: string[] = [];
  for (const f of figs) {
    const svg = scopeSvgIds(await renderSvg(f.spec), f.id);
    blocks.push(`<figure class="figure" id="fig-${escapeHtml(f.id)}" data-figure="${escapeHtml(f.id)}">\n${svg}\n<figcaption>${escapeHtml(f.caption)}</figcaption>\n</figure>`);
  }
  const sections = [
    `<h1>gradswarm report</h1>`,
    runLine(results),
    `<h2>Measures at θ</h2>`,
    `<p>Every estimate over the pairs of minibatches, with its standard error and 95% confidence interval (README, "The measures"). All of them, per layer and tensor, are in measures.csv.</p>`,
    measuresTable(results.measures),
  ];
  if (results.generalization) sections.push(`<h2>Train and test</h2>`, `<p>θ's mean loss and accuracy over every example of the training data and of the held-out set (config <code>test</code>), computed by the workers.</p>`, generalizationTable(results.generalization));
  if (blocks.length > 0) sections.push(`<h2>Figures</h2>`, `<div class="figures">\n${blocks.join("\n")}\n</div>`);
  if (results.invariance) {
    const inv = results.invariance;
    sections.push(
      `<h2>Invariance under function-preserving rescaling</h2>`,
      `<p>θ's twins (layer ${inv.layer} × α, the next layer × 1/α: the same function) measured with the same seeds. A quantity "moved" when a twin's value differs from θ's by more than ${inv.tolerance} relatively.</p>`,
      `<div class="scroll">\n${invarianceTable(inv.rows, inv.alphas)}\n</div>`,
    );
  }
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>gradswarm report: ${escapeHtml(basename(results.run.config_file))}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${sections.join("\n")}\n</body>\n</html>\n`;
}

export async function writeReportHtml(dir: string, input: ReportInput, training?: TrainingReport): Promise<string> {
  const path = join(dir, "report.html");
  await writeFile(path, await reportHtml(input, training));
  return path;
}
