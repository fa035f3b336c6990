// report.html and measures.csv from a synthetic results file: every figure whose data
// exists is in the page (and none whose data does not), the page needs nothing from
// elsewhere, and measures.csv has one row per estimate with its numbers.

import { describe, expect, it } from "vitest";
import type { Estimate } from "../../src/coordinator/estimators/types.js";
import { measureRows, measuresCsv, MEASURES_CSV_COLUMNS } from "../../src/coordinator/report/measures-csv.js";
import type { ResultsFile } from "../../src/coordinator/report/outputs.js";
import { reportHtml, scopeSvgIds, type ReportInput } from "../../src/coordinator/report/report-html.js";

const est = (mean: number): Estimate => ({ mean, stderr: 0.01, ci95: [mean - 0.02, mean + 0.02], n: 64, resolved: true });
const unresolved: Estimate = { mean: null, stderr: null, ci95: null, n: 64, resolved: false, reason: "‖ḡ‖² = 1e-5 ± 3e-5 is not resolved from zero" };

function results(withTwins: boolean): ResultsFile {
  const measures = { regret: est(0.7), noise_scale: unresolved, fisher_regret_empirical: est(0.4) };
  const layers = { dense_1: { regret: est(0.5) }, dense_2: { regret: est(0.3) } };
  const tensors = { "dense_1/kernel": { regret: est(0.45) } };
  const metrics = { empirical: { measures: { regret: est(0.4) }, layers: { dense_1: { regret: est(0.2) } }, tensors: {} } };
  const subject = { measures, layers, tensors, metrics, fisher: {}, vector_stats: null, curvature: null } as unknown as ResultsFile;
  return {
    ...subject,
    twins: withTwins ? [{ ...subject, alpha: 2, layer: 0, snapshot: "abc" }] : undefined,
    invariance: withTwins ? { layer: 0, alphas: [2], tolerance: 1e-3, rows: [{ quantity: "regret", theta: est(0.7), twins: [0.9], max_rel_change: 0.2857, verdict: "moved" }] } : undefined,
    run: {
      run_id: "run-1",
      config_file: "examples/x.yaml",
      seed: 7,
      pairs: { count: 64, batch_size: 16, pairing: "independent" },
      dataset: { name: "synthetic", n: 400 },
      snapshot: { hash: "f".repeat(64), parameters: 259 },
      workers: [{}],
      timings: { finished: "2026-01-01T00:00:00.000Z" },
    },
  } as unknown as ResultsFile;
}

describe("measures.csv", () => {
  it("has one row per (subject, metric, scope, part, measure), unresolved estimates with empty numbers", () => {
    const rows = measureRows(results(true));
    // θ: network 2 (fisher_regret_* listed under its metric), layers 2, tensors 1, fisher network 1 + layer 1; twin the same.
    expect(rows).toHaveLength(14);
    const csv = measuresCsv(rows).trim().split("\n");
    expect(csv[0]).toBe(MEASURES_CSV_COLUMNS.join(","));
    expect(csv[0]).toBe("run,checkpoint,subject,metric,scope,part,measure,estimate,stderr,ci_low,ci_high,n,resolved");
    const hash = "f".repeat(64);
    expect(csv[1]).toBe(`run-1,${hash},theta,euclidean,network,,regret,0.7,0.01,0.6799999999999999,0.72,64,true`);
    expect(csv[2]).toBe(`run-1,${hash},theta,euclidean,network,,noise_scale,,,,,64,false`);
    expect(csv).toContain(`run-1,${hash},theta,euclidean,tensor,dense_1/kernel,regret,0.45,0.01,0.43,0.47000000000000003,64,true`);
    expect(csv).toContain(`run-1,${hash},theta,fisher_empirical,layer,dense_1,regret,0.2,0.01,0.18000000000000002,0.22,64,true`);
    expect(csv.filter((l) => l.includes(",twin-a2,"))).toHaveLength(7);
    expect(csv.some((l) => l.includes("fisher_regret_empirical"))).toBe(false);
  });

  it("quotes a name with a comma or quote", () => {
    const r = results(false);
    r.layers = { 'odd,"name"': { regret: est(1) } } as unknown as ResultsFile["layers"];
    expect(measuresCsv(measureRows(r))).toContain(`layer,"odd,""name""",regret,1,`);
  });
});

describe("report.html", () => {
  const landscapes: ReportInput["landscapes"] = {
    oneD: [{ normalization: "filter", svg: "landscape-1d-filter.svg", series: [{ name: "θ", x: [-1, 0, 1], loss: [2, 1, 2] }, { name: "twin α=2", x: [-1, 0, 1], loss: [2, 1, 2] }] }],
    twoD: [{ subject: "theta", normalization: "none", svg: "x.svg", grid: { title: "loss around θ", xLabel: "α", yLabel: "β", xs: [-1, 0, 1], ys: [-1, 0, 1], values: [[3, 2, 3], [2, 1, 2], [3, 2, 3]] } }],
  };

  it("shows each figure whose data exists, the tables, and needs no script or network", async () => {
    const html = await reportHtml({ results: results(true), cosines: [0.1, 0.5, 0.6, 0.9], landscapes });
    const figures = [...html.matchAll(/data-figure="([^"]+)"/g)].map((m) => m[1]);
    expect(figures).toEqual(["cos-histogram", "layer-regret", "landscape-1d-filter", "landscape-2d-theta-none"]);
    expect(html).not.toMatch(/<script|<link|<img|@import|src=/i);
    // The only URLs are the SVG namespaces.
    expect([...html.matchAll(/https?:\/\/[^"\s)]+/g)].map((m) => m[0]).filter((u) => !u.startsWith("http://www.w3.org/"))).toEqual([]);
    expect(html).toContain("<table class=\"measures\">");
    expect(html).toContain("not resolved: ‖ḡ‖² = 1e-5 ± 3e-5 is not resolved from zero");
    expect(html).toContain('<tr class="moved"><td class="name">regret</td>');
    // Every id in the page once (Vega's gradient ids scoped per figure).
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(html).not.toMatch(/NaN/);
  });

  it("leaves out what has no data and adds the training figures when given", async () => {
    const html = await reportHtml(
      { results: { ...results(false), layers: {} }, cosines: [], landscapes: { oneD: [], twoD: [] } },
      {
        overTraining: [{ indicator: "regret", checkpoints: [0, 1, 2].map((step) => ({ step, indicator: { mean: step, ci_low: step - 0.5, ci_high: step + 0.5 }, train_loss: 1 / (step + 1), test_loss: 1.2 / (step + 1) })) }],
        acrossRuns: [{ indicator: "regret", runs: [1, 2, 3].map((i) => ({ run: `r${i}`, indicator: i, ci_low: i - 0.1, ci_high: i + 0.1, gap: i })) }],
      },
    );
    expect([...html.matchAll(/data-figure="([^"]+)"/g)].map((m) => m[1])).toEqual(["training-0-regret", "gap-0-regret"]);
    expect(html).toContain("Kendall's τ = 1: regret against gap");
    expect(html).not.toContain("Invariance under");
  });

  it("scopes SVG ids and their references to one figure", () => {
    const svg = '<svg><defs><linearGradient id="gradient_0"/></defs><rect fill="url(#gradient_0)"/><use href="#gradient_0"/><rect fill="url(#other)"/></svg>';
    expect(scopeSvgIds(svg, "fig")).toBe('<svg><defs><linearGradient id="fig-gradient_0"/></defs><rect fill="url(#fig-gradient_0)"/><use href="#fig-gradient_0"/><rect fill="url(#other)"/></svg>');
  });
});
