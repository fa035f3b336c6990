// TIC's trace form tr C / tr H: the point value, Fieller's interval by hand for
// independent estimates, its coverage by simulation, and each case where no number is honest.
import { describe, expect, it } from "vitest";
import { ticTrace } from "../../src/coordinator/estimators/tic.js";
import { t95 } from "../../src/coordinator/estimators/student-t.js";
import type { Estimate } from "../../src/coordinator/estimators/types.js";
import { Rng } from "../../src/util/rng.js";

const est = (mean: number, stderr: number, n: number): Estimate => ({ mean, stderr, ci95: [mean - 2 * stderr, mean + 2 * stderr], n, resolved: true });

describe("ticTrace", () => {
  it("tr C / tr H with Fieller's interval: the roots of (F − ρH)² = t²(vF + ρ² vH)", () => {
    const r = ticTrace(est(69.4, 0.9, 256), { mean: 12.5, stderr: 0.8, probes: 10 });
    expect(r.resolved).toBe(true);
    expect(r.mean).toBeCloseTo(69.4 / 12.5, 12);
    const t = t95(9); // the smaller of 255 and 9 degrees of freedom
    for (const rho of r.ci95!) expect((69.4 - rho * 12.5) ** 2).toBeCloseTo(t * t * (0.81 + rho * rho * 0.64), 8);
    expect(r.ci95![0]).toBeLessThan(r.mean!);
    expect(r.ci95![1]).toBeGreaterThan(r.mean!);
    // Delta method: se² = vF/H² + F²vH/H⁴.
    expect(r.stderr).toBeCloseTo(Math.sqrt(0.81 / 12.5 ** 2 + (69.4 ** 2 * 0.64) / 12.5 ** 4), 12);
  });

  it("covers the true ratio about 95% of the time", () => {
    const rng = new Rng(1906, 7774);
    const [F, H, sF, sH, probes] = [50, 10, 2, 1.5, 8];
    let hits = 0;
    const reps = 2000;
    for (let i = 0; i < reps; i++) {
      // H's estimate from `probes` normal draws (its stderr estimated too), F's from many pairs.
      const xs = Array.from({ length: probes }, () => H + sH * Math.sqrt(probes) * rng.nextNormal());
      const mH = xs.reduce((s, x) => s + x, 0) / probes;
      const seH = Math.sqrt(xs.reduce((s, x) => s + (x - mH) ** 2, 0) / (probes - 1) / probes);
      const r = ticTrace(est(F + sF * rng.nextNormal(), sF, 500), { mean: mH, stderr: seH, probes });
      if (r.resolved && r.ci95![0] <= F / H && F / H <= r.ci95![1]) hits++;
    }
    expect(hits / reps).toBeGreaterThan(0.93);
    expect(hits / reps).toBeLessThan(0.975);
  });

  it("no number where none is honest", () => {
    const unresolvedF: Estimate = { mean: null, stderr: null, ci95: null, n: 2, resolved: false, reason: "no sampling noise" };
    expect(ticTrace(unresolvedF, { mean: 1, stderr: 0.1, probes: 10 }).reason).toMatch(/tr C .* not resolved: no sampling noise/);
    expect(ticTrace(est(1, 0.1, 100), null).reason).toMatch(/kink/);
    expect(ticTrace(est(1, 0.1, 100), { mean: 1, stderr: Number.NaN, probes: 1 }).reason).toMatch(/probes ≥ 2/);
    const flat = ticTrace(est(1, 0.1, 100), { mean: 0.1, stderr: 0.2, probes: 10 });
    expect(flat.resolved).toBe(false);
    expect(flat.reason).toMatch(/tr H = .* not resolved above zero/);
    expect(flat.mean).toBeNull();
  });
});
