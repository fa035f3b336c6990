// The report's figure specs (src/coordinator/report/figures/): each drawn to SVG with Vega
// and read back: as many marks as data points, bound to the data (the values in their
// aria-labels, positions in the right place), titles that fit, nothing NaN.

import { describe, expect, it, vi } from "vitest";
import { cosHistogramSpec, cosMaxBins, pairCosines } from "../../src/coordinator/report/figures/cos-histogram.js";
import { indicatorGapSpec } from "../../src/coordinator/report/figures/indicator-gap.js";
import { indicatorTrainingSpec } from "../../src/coordinator/report/figures/indicator-training.js";
import { landscape1dSpec } from "../../src/coordinator/report/figures/landscape-1d.js";
import { CONTOUR_LEVELS, contourThresholds, landscape2dSpec } from "../../src/coordinator/report/figures/landscape-2d.js";
import { layerRegretSpec } from "../../src/coordinator/report/figures/layer-regret.js";
import { FIGURE_HEIGHT, TITLE_CHARS } from "../../src/coordinator/report/figures/style.js";
import { renderSvg, type FigureSpec } from "../../src/coordinator/report/render-svg.js";
import type { Estimate } from "../../src/coordinator/estimators/types.js";
import { Rng } from "../../src/util/rng.js";
import { ariaLabel, markGroups, markItems, pathNumbers, translateOf } from "../helpers/svg-marks.js";

function estimate(mean: number, half: number, n = 50): Estimate {
  return { mean, stderr: half / 2, ci95: [mean - half, mean + half], n, resolved: true };
}

function titleOf(f: FigureSpec): string {
  const t = (f.spec as { title?: string | { text: string } }).title;
  return typeof t === "string" ? t : (t?.text ?? "");
}

/** Draws the figure, which must compile and render without a warning from Vega-Lite or Vega. */
async function draw(f: FigureSpec): Promise<string> {
  const warn = vi.spyOn(console, "warn");
  let svg: string;
  try {
    svg = await renderSvg(f);
    expect(warn.mock.calls).toEqual([]);
  } finally {
    warn.mockRestore();
  }
  expect(svg.startsWith("<svg")).toBe(true);
  expect(svg).not.toMatch(/NaN|Infinity/);
  expect(titleOf(f).length).toBeGreaterThan(0);
  expect(titleOf(f).length).toBeLessThanOrEqual(TITLE_CHARS);
  const drawn = /<g class="mark-text role-title-text"[^>]*><text[^>]*>([^<]*)<\/text>/.exec(svg)?.[1];
  expect(drawn?.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")).toBe(titleOf(f));
  return svg;
}

describe("the histogram of cos(g₁, g₂)", () => {
  it("computes each pair's cosine from its norms and dot product, skipping zero gradients", () => {
    expect(pairCosines([{ norm: [2, 3], dot: 3 }, { norm: [0, 1], dot: 0 }, { norm: [1, 1], dot: -1 }])).toEqual([0.5, -1]);
  });

  it("draws one bar per non-empty bin whose counts add up to the pairs", async () => {
    const rng = new Rng(5, 0);
    const cosines = Array.from({ length: 300 }, () => 0.2 + 0.5 * rng.nextFloat());
    const svg = await draw(cosHistogramSpec(cosines));
    const bars = markItems(svg, "bins_marks");
    expect(bars.length).toBeGreaterThan(5);
    expect(bars.length).toBeLessThanOrEqual(cosMaxBins(300));
    // Each bar says its bin and count: "cos(g₁, g₂): 0.2 – 0.22; pairs: 7".
    let total = 0;
    for (const bar of bars) {
      const m = /: ([-−\d.]+) – ([-−\d.]+); pairs: (\d+)$/.exec(ariaLabel(bar));
      expect(m, ariaLabel(bar)).not.toBeNull();
      const [lo, hi] = [Number(m![1]!.replace("−", "-")), Number(m![2]!.replace("−", "-"))];
      expect(Number(m![3])).toBe(cosines.filter((c) => c >= lo && c < hi).length);
      total += Number(m![3]);
    }
    expect(total).toBe(300);
    expect(markItems(svg, "mean_marks")).toHaveLength(1);
  });
});

describe("regret per layer", () => {
  it("draws a bar and an error bar per resolved layer and names the unresolved one", async () => {
    const f = layerRegretSpec([
      { layer: "dense_1", estimate: estimate(0.5, 0.05) },
      { layer: "dense_2", estimate: estimate(0.3, 0.1) },
      { layer: "dense_3", estimate: { mean: null, stderr: null, ci95: null, n: 4, resolved: false, reason: "too few pairs" } },
    ]);
    const svg = await draw(f);
    const bars = markItems(svg, "bars_marks");
    expect(bars.map(ariaLabel)).toEqual(["layer: dense_1; E[regret]: 0.5", "layer: dense_2; E[regret]: 0.3"]);
    expect(markItems(svg, "ci_marks")).toHaveLength(2);
    expect(markItems(svg, "ci_low_marks")).toHaveLength(2);
    expect(svg).toContain("not resolved (left out): dense_3");
    // The error bar of dense_2 spans 0.2 to 0.4 and dense_1's 0.45 to 0.55: a longer rule.
    const lengths = markItems(svg, "ci_marks").map((l) => Math.abs(Number(/y2="([-\d.]+)"/.exec(l)![1])));
    expect(lengths[1]! / lengths[0]!).toBeCloseTo(2, 1);
  });
});

describe("the 1-D landscape", () => {
  it("draws one curve per subject and one dot per evaluated point, breaking at a missing point", async () => {
    const x = [-1, -0.5, 0, 0.5, 1];
    const svg = await draw(
      landscape1dSpec("filter", [
        { name: "θ", x, loss: [2, 1.2, 1, 1.3, 2.1] },
        { name: "twin α=2", x, loss: [2, 1.2, NaN, 1.3, 2.1] },
        { name: "twin α=0.5", x, loss: [2, null, 1, 1.3, 2.1] },
      ]),
    );
    const curves = markGroups(svg).filter((g) => g.name === "curves_marks");
    expect(curves).toHaveLength(3);
    // Two segments (two M commands) for each curve with a hole.
    expect(curves.map((c) => (c.items[0]!.match(/M/g) ?? []).length)).toEqual([1, 2, 2]);
    expect(markItems(svg, "points_marks")).toHaveLength(13);
    expect(svg).toContain("twin α=2");
  });
});

describe("the 2-D landscape", () => {
  const xs = [-1, -0.5, 0, 0.5, 1];
  const ys = [-1, 0, 1];

  it("draws a dot per grid point, a band per contour level, θ at the origin", async () => {
    const values = ys.map((y) => xs.map((x) => 1 + x * x + 0.5 * y * y));
    const svg = await draw(landscape2dSpec({ title: "loss around θ", xLabel: "α", yLabel: "β", xs, ys, values }));
    expect(markItems(svg, "samples")).toHaveLength(15);
    expect(markItems(svg, "bands")).toHaveLength(CONTOUR_LEVELS);
    const [tx, ty] = translateOf(markItems(svg, "theta-mark")[0]!)!;
    const dots = markItems(svg, "samples").map((d) => translateOf(d)!);
    // θ sits on the middle grid point (index 7 of 15: row 1, column 2).
    expect(tx).toBeCloseTo(dots[7]![0], 6);
    expect(ty).toBeCloseTo(dots[7]![1], 6);
  });

  it("puts the grid's rows the right way up: loss rising with β fills the top with the highest band", async () => {
    const values = ys.map((y) => xs.map(() => 10 + y));
    const svg = await draw(landscape2dSpec({ title: "rising with β", xLabel: "α", yLabel: "β", xs, ys, values }));
    const bands = markItems(svg, "bands");
    const top = pathNumbers(bands.at(-1)!).filter((_, i) => i % 2 === 1);
    const dots = markItems(svg, "samples").map((d) => translateOf(d)!);
    const rowY = (j: number) => dots[j * xs.length]![1];
    // Row β = 1 is drawn above row β = −1 (smaller y), and the top band stays above the middle row.
    expect(rowY(2)).toBeLessThan(rowY(0));
    expect(Math.max(...top)).toBeLessThan(rowY(1));
  });

  it("draws each contour where the loss crosses its level: a loss equal to α puts level t at α = t", async () => {
    const values = ys.map(() => xs.map((x) => x));
    const svg = await draw(landscape2dSpec({ title: "loss = α", xLabel: "α", yLabel: "β", xs, ys, values }));
    const dots = markItems(svg, "samples").map((d) => translateOf(d)!);
    const [left, right] = [dots[0]![0], dots[xs.length - 1]![0]];
    const thresholds = contourThresholds(-1, 1);
    const bands = markItems(svg, "bands");
    expect(bands).toHaveLength(thresholds.length);
    for (const [k, t] of thresholds.entries()) {
      const bandX = pathNumbers(bands[k]!).filter((_, i) => i % 2 === 0);
      // The band {loss ≥ t} starts at α = t (the first, at the lowest loss, covers the grid) and runs to its right edge.
      if (k === 0) expect(Math.min(...bandX)).toBeLessThanOrEqual(left + 1e-6);
      else expect(Math.min(...bandX)).toBeCloseTo(left + ((t - xs[0]!) / (xs.at(-1)! - xs[0]!)) * (right - left), 1);
      expect(Math.max(...bandX)).toBeGreaterThanOrEqual(right - 1e-6);
    }
  });

  it("spaces the thresholds from the lowest value, and refuses a grid of the wrong shape", () => {
    expect(contourThresholds(1, 2, 4)).toEqual([1, 1.25, 1.5, 1.75]);
    expect(contourThresholds(3, 3)).toEqual([3]);
    expect(() => landscape2dSpec({ title: "t", xLabel: "", yLabel: "", xs, ys, values: [[1, 2]] })).toThrow(/row 0 has 2 values, the grid has 5 columns/);
    expect(() => landscape2dSpec({ title: "t", xLabel: "", yLabel: "", xs: [0], ys: [0], values: [[1]] })).toThrow(/1 × 1 grid has no area/);
  });
});

describe("the training figures", () => {
  it("draws the indicator with its CI band and the two losses over the steps", async () => {
    const checkpoints = [0, 100, 200, 300].map((step, i) => ({ step, indicator: i === 2 ? null : { mean: 1 + i, ci_low: 0.8 + i, ci_high: 1.2 + i }, train_loss: 2 - 0.5 * i, test_loss: i === 3 ? null : 2.1 - 0.3 * i }));
    const svg = await draw(indicatorTrainingSpec({ indicator: "regret", checkpoints }));
    expect(markItems(svg, "band_marks")).toHaveLength(1);
    expect(markItems(svg, "line_marks")).toHaveLength(1);
    expect(markItems(svg, "indicator_layer_1_layer_1_marks")).toHaveLength(3);
    expect(markGroups(svg).filter((g) => g.name === "losses_marks")).toHaveLength(2);
    expect(markItems(svg, "concat_1_layer_1_marks")).toHaveLength(7);
    expect(svg).toContain("regret over training");
    expect(Number(/height="(\d+)"/.exec(svg)![1])).toBeGreaterThan(FIGURE_HEIGHT * 0.8);
  });

  it("puts Kendall's τ of indicator and gap in the title, a point and a CI bar per run", async () => {
    const runs = [
      { run: "a", indicator: 1, ci_low: 0.9, ci_high: 1.1, gap: 0.1 },
      { run: "b", indicator: 2, ci_low: 1.9, ci_high: 2.1, gap: 0.3 },
      { run: "c", indicator: 3, ci_low: 2.9, ci_high: 3.1, gap: 0.2 },
      { run: "d", indicator: 4, ci_low: 3.9, ci_high: 4.1, gap: 0.4 },
    ];
    const { figure, tau } = indicatorGapSpec("regret", runs);
    // Pairs: 6, one discordant (b, c): τ = (5 − 1)/6.
    expect(tau).toBeCloseTo(4 / 6, 12);
    const svg = await draw(figure);
    expect(titleOf(figure)).toBe("Kendall's τ = 0.66667: regret against gap");
    expect(markItems(svg, "runs_marks")).toHaveLength(4);
    expect(markItems(svg, "ci_marks")).toHaveLength(4);
  });
});
