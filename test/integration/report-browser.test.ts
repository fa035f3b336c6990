// report.html as a user sees it: two small real runs (runJob against a real nats-server and
// a worker process) — one with a 1-D landscape and invariance twins, one with a 2-D
// landscape — and a page with the training figures added, each opened from its file:// URL
// in headless Chromium (playwright-core). In the browser: every figure drew marks from its
// data (as many as the data have points where that is known), no coordinate is NaN, each
// has its title, axis labels do not overlap, the page logs no error; the screenshot is
// saved beside it as report.png.

/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTOUR_LEVELS } from "../../src/coordinator/report/figures/landscape-2d.js";
import { pairCosines } from "../../src/coordinator/report/figures/cos-histogram.js";
import { landscapeFigures } from "../../src/coordinator/report/landscape-figures.js";
import type { ResultsFile } from "../../src/coordinator/report/outputs.js";
import { writeReportHtml } from "../../src/coordinator/report/report-html.js";
import { runJob, type RunResult } from "../../src/coordinator/run.js";
import { subjects } from "../../src/protocol/index.js";
import { launchChromium } from "../helpers/chromium.js";
import { markItems } from "../helpers/svg-marks.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const POINTS_1D = 9;
const POINTS_2D = 7;
const ALPHAS = [0.5, 3];

function config(prefix: string, landscape: string, invariance: boolean): string {
  return `model: {kind: mlp, layers: [12, 16, 3], activation: relu, seed: 2}
data: {kind: synthetic, n: 400, features: 12, classes: 3, seed: 4}
pairs: {count: 64, batch_size: 16, seed: 7, per_task: 16}
landscape: ${landscape}
${invariance ? `invariance: {layer: 0, alphas: [${ALPHAS.join(", ")}]}\n` : ""}workers: {lease_s: 30, wait_s: 60}
nats: {prefix: ${prefix}}
`;
}

function quietStream(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/** What the page shows of one figure, read in the browser. */
interface FigureView {
  id: string;
  title: string;
  width: number;
  height: number;
  /** Items per named mark (a line mark: one group per series, counted as groups here). */
  marks: Record<string, { groups: number; items: number }>;
  /** Attributes holding NaN or Infinity. */
  bad: string[];
  /** Axis labels that overlap a visible neighbour on the same axis. */
  overlaps: string[];
}

interface PageView {
  figures: FigureView[];
  measureRows: number;
  invarianceRows: number;
  errors: string[];
}

async function look(browser: Browser, dir: string): Promise<PageView> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") errors.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  // Nothing may be fetched: every request other than the page itself is an error.
  const url = pathToFileURL(join(dir, "report.html")).href;
  page.on("request", (r) => {
    if (r.url() !== url) errors.push(`request: ${r.url()}`);
  });
  await page.goto(url);
  const view = await page.evaluate(() => {
    const figures = [...document.querySelectorAll<HTMLElement>("figure.figure")].map((fig) => {
      const svg = fig.querySelector("svg")!;
      const box = svg.getBoundingClientRect();
      const marks: Record<string, { groups: number; items: number }> = {};
      for (const g of fig.querySelectorAll("g.role-mark")) {
        const name = [...g.classList].find((c) => !c.startsWith("mark-") && c !== "role-mark") ?? "?";
        const m = (marks[name] ??= { groups: 0, items: 0 });
        m.groups++;
        m.items += g.querySelectorAll(":scope > path, :scope > line, :scope > text").length;
      }
      const bad: string[] = [];
      for (const el of svg.querySelectorAll("*")) {
        for (const a of el.attributes) if (/NaN|Infinity/.test(a.value)) bad.push(`<${el.tagName} ${a.name}="${a.value.slice(0, 60)}">`);
      }
      const overlaps: string[] = [];
      for (const axis of svg.querySelectorAll("g.role-axis")) {
        const labels = [...axis.querySelectorAll<SVGTextElement>("g.role-axis-label text")].filter((t) => t.getAttribute("opacity") !== "0");
        const boxes = labels.map((t) => t.getBoundingClientRect());
        for (let i = 0; i + 1 < boxes.length; i++) {
          const [a, b] = [boxes[i]!, boxes[i + 1]!];
          if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps.push(`${labels[i]!.textContent} / ${labels[i + 1]!.textContent}`);
        }
      }
      return { id: fig.dataset.figure!, title: fig.querySelector(".role-title-text text")?.textContent ?? "", width: box.width, height: box.height, marks, bad, overlaps };
    });
    return {
      figures,
      measureRows: document.querySelectorAll("table.measures tbody tr").length,
      invarianceRows: document.querySelectorAll("table.invariance tbody tr").length,
    };
  });
  await page.screenshot({ path: join(dir, "report.png"), fullPage: true });
  await page.close();
  return { ...view, errors };
}

function figure(view: PageView, id: string): FigureView {
  const f = view.figures.find((x) => x.id === id);
  expect(f, `figure ${id} in ${view.figures.map((x) => x.id).join(", ")}`).toBeDefined();
  return f!;
}

/** What every figure must show: a title, a size, marks, no NaN, no overlapping axis labels. */
function expectDrawn(f: FigureView): void {
  expect(f.title.length, `${f.id}: title`).toBeGreaterThan(0);
  expect(f.width, `${f.id}: width`).toBeGreaterThan(100);
  expect(f.height, `${f.id}: height`).toBeGreaterThan(100);
  expect(Object.values(f.marks).reduce((a, m) => a + m.items, 0), `${f.id}: marks`).toBeGreaterThan(0);
  expect(f.bad, `${f.id}: NaN coordinates`).toEqual([]);
  expect(f.overlaps, `${f.id}: overlapping axis labels`).toEqual([]);
}

describe("report.html in a real browser", () => {
  let nats: NatsFixture;
  let workers: TestWorker[] = [];
  let browser: Browser | undefined;
  const work = mkdtempSync(join(tmpdir(), "gradswarm-report-"));
  const out1d = join(work, "run-1d");
  const out2d = join(work, "run-2d");
  const outTraining = join(work, "training");
  let run1d: RunResult;

  async function run(label: string, text: string, outDir: string): Promise<RunResult> {
    const cfg = join(work, `${label}.yaml`);
    await writeFile(cfg, text);
    const log = quietStream();
    try {
      return await runJob({ configPath: cfg, natsUrl: nats.server.url, outDir, stream: log.stream });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${log.text()}\n--- workers ---\n${workers.map((w) => w.output()).join("\n")}`, { cause: err });
    }
  }

  beforeAll(async () => {
    // First, so that a machine without Chromium fails at once with the message saying how to get it.
    browser = await launchChromium();
    nats = await startNats();
    const prefix = uniquePrefix("report");
    workers = [spawnWorker(nats.server.url, prefix, "report-w0")];
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id), 60_000);
    run1d = await run("one-d", config(prefix, `{dims: 1, points: ${POINTS_1D}, examples: 200}`, true), out1d);
    await run("two-d", config(prefix, `{dims: 2, points: ${POINTS_2D}, examples: 200, normalizations: [filter]}`, false), out2d);
    // The training figures come from measurements along training (not a run's results.json): synthetic ones here.
    const results = JSON.parse(readFileSync(join(out1d, "results.json"), "utf8")) as ResultsFile;
    const checkpoints = [0, 200, 400, 600, 800].map((step, i) => ({ step, indicator: { mean: 1 - 0.1 * i, ci_low: 0.95 - 0.1 * i, ci_high: 1.05 - 0.1 * i }, train_loss: 1.1 - 0.2 * i, test_loss: 1.15 - 0.15 * i }));
    const runs = ["a", "b", "c", "d", "e"].map((r, i) => ({ run: r, indicator: 0.5 + 0.1 * i, ci_low: 0.45 + 0.1 * i, ci_high: 0.55 + 0.1 * i, gap: [0.1, 0.3, 0.2, 0.4, 0.5][i]! }));
    await mkdir(outTraining, { recursive: true });
    await writeReportHtml(outTraining, { results, cosines: pairCosines(run1d.measured[0]!.records), landscapes: landscapeFigures(run1d.measured) }, { overTraining: [{ indicator: "regret", checkpoints }], acrossRuns: [{ indicator: "regret", runs }] });
  });

  afterAll(async () => {
    await browser?.close();
    await stopWorkers(workers);
    await nats?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("the 1-D run's page: histogram, regret per layer, θ and twins along each direction, the tables", async () => {
    const view = await look(browser!, out1d);
    expect(view.errors).toEqual([]);
    expect(view.figures.map((f) => f.id)).toEqual(["cos-histogram", "layer-regret", "landscape-1d-filter", "landscape-1d-none"]);
    view.figures.forEach(expectDrawn);
    const results = JSON.parse(readFileSync(join(out1d, "results.json"), "utf8")) as ResultsFile;
    expect(figure(view, "cos-histogram").marks.bins_marks!.items).toBeGreaterThan(3);
    expect(figure(view, "layer-regret").marks.bars_marks!.items).toBe(Object.keys(results.layers).length);
    expect(figure(view, "layer-regret").marks.ci_marks!.items).toBe(Object.keys(results.layers).length);
    for (const id of ["landscape-1d-filter", "landscape-1d-none"]) {
      const f = figure(view, id);
      expect(f.marks.curves_marks!.groups, `${id}: a curve per subject`).toBe(1 + ALPHAS.length);
      expect(f.marks.points_marks!.items, `${id}: a dot per point`).toBe((1 + ALPHAS.length) * POINTS_1D);
    }
    expect(view.measureRows).toBe(Object.keys(results.measures).length);
    expect(view.invarianceRows).toBe(results.invariance!.rows.length);
    expect(statSync(join(out1d, "report.png")).size).toBeGreaterThan(10_000);
    // The landscape SVG files beside it are the same figures.
    for (const normalization of ["filter", "none"]) {
      const svg = readFileSync(join(out1d, `landscape-1d-${normalization}.svg`), "utf8");
      expect(markItems(svg, "points_marks")).toHaveLength((1 + ALPHAS.length) * POINTS_1D);
    }
    // measures.csv beside it: one header, a row per estimate of θ and of each twin.
    const csv = readFileSync(join(out1d, "measures.csv"), "utf8").trim().split("\n");
    expect(csv[0]).toBe("run,checkpoint,subject,metric,scope,part,measure,estimate,stderr,ci_low,ci_high,n,resolved");
    expect(new Set(csv.slice(1).map((l) => l.split(",")[2]))).toEqual(new Set(["theta", ...ALPHAS.map((a) => `twin-a${a}`)]));
    const regret = csv.find((l) => l.includes(",theta,euclidean,network,,regret,"))!.split(",");
    expect(Number(regret[7])).toBe(results.measures.regret!.mean);
    expect([Number(regret[9]), Number(regret[10])]).toEqual(results.measures.regret!.ci95);
  });

  it("the 2-D run's page: filled contours on the grid, a dot per evaluated point", async () => {
    const view = await look(browser!, out2d);
    expect(view.errors).toEqual([]);
    expect(view.figures.map((f) => f.id)).toEqual(["cos-histogram", "layer-regret", "landscape-2d-theta-filter"]);
    view.figures.forEach(expectDrawn);
    const f = figure(view, "landscape-2d-theta-filter");
    expect(f.marks.samples!.items).toBe(POINTS_2D * POINTS_2D);
    expect(f.marks.bands!.items).toBe(CONTOUR_LEVELS);
    expect(f.marks["theta-mark"]!.items).toBe(1);
    expect(view.invarianceRows).toBe(0);
    expect(markItems(readFileSync(join(out2d, "landscape-2d-theta-filter.svg"), "utf8"), "samples")).toHaveLength(POINTS_2D * POINTS_2D);
  });

  it("a page with the training figures: indicator over training, indicator against the gap", async () => {
    const view = await look(browser!, outTraining);
    expect(view.errors).toEqual([]);
    view.figures.forEach(expectDrawn);
    const training = figure(view, "training-0-regret");
    expect(training.title).toBe("regret over training");
    expect(training.marks.band_marks!.items).toBe(1);
    expect(training.marks.losses_marks!.groups).toBe(2);
    const gap = figure(view, "gap-0-regret");
    // Gaps 0.1, 0.3, 0.2, 0.4, 0.5 against increasing indicators: 9 of 10 pairs concordant, τ = 0.8.
    expect(gap.title).toBe("Kendall's τ = 0.8: regret against gap");
    expect(gap.marks.runs_marks!.items).toBe(5);
  });
});
