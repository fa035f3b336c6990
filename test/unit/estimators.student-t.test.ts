import { describe, expect, it } from "vitest";
import { normalQuantile, studentTQuantile } from "../../src/coordinator/estimators/index.js";

describe("studentTQuantile", () => {
  it("matches the printed table of two-sided 95% values", () => {
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [5, 2.571],
      [10, 2.228],
      [30, 2.042],
      [Infinity, 1.96],
    ];
    for (const [df, want] of table) expect(Math.abs(studentTQuantile(0.975, df) - want), `df ${df}`).toBeLessThan(5e-4);
  });

  it("matches high-precision reference values (scipy.stats.t.ppf) to 1e-9 relative", () => {
    const ref: [number, number, number][] = [
      [0.975, 1, 12.706204736174694],
      [0.975, 2, 4.302652729749462],
      [0.975, 3, 3.1824463052837078],
      [0.975, 5, 2.5705818356363146],
      [0.975, 10, 2.228138851986274],
      [0.975, 30, 2.0422724563012378],
      [0.975, 100, 1.9839715185235518],
      [0.975, 1000, 1.9623390808264083],
      [0.975, 1e6, 1.959966356814107],
      [0.975, Infinity, 1.959963984540054],
      [0.95, 1, 6.313751514675037],
      [0.995, 3, 5.840909309733355],
      [0.9999, 2.5, 34.867969321116306],
      [0.001, 4, -7.1731822197823085],
    ];
    for (const [p, df, want] of ref) {
      expect(Math.abs(studentTQuantile(p, df) - want) / Math.abs(want), `p ${p} df ${df}`).toBeLessThan(1e-9);
    }
  });

  it("is odd around p = 1/2 and increases towards the normal quantile as df grows", () => {
    expect(studentTQuantile(0.5, 7)).toBe(0);
    expect(studentTQuantile(0.025, 7)).toBeCloseTo(-studentTQuantile(0.975, 7), 12);
    let prev = Infinity;
    for (const df of [1, 2, 3, 4, 8, 16, 64, 256, 4096, 1e5, 1e7]) {
      const q = studentTQuantile(0.975, df);
      expect(q).toBeLessThan(prev);
      expect(q).toBeGreaterThan(normalQuantile(0.975));
      prev = q;
    }
  });

  it("normal quantile in the far tail", () => {
    expect(Math.abs(normalQuantile(1e-12) - -7.034483825301131)).toBeLessThan(1e-9);
    expect(Math.abs(normalQuantile(0.3) - -0.5244005127080409)).toBeLessThan(1e-12);
  });

  it("rejects p outside (0, 1) and df ≤ 0", () => {
    for (const p of [0, 1, -0.1, Number.NaN]) expect(() => studentTQuantile(p, 5)).toThrow(RangeError);
    for (const df of [0, -1, Number.NaN]) expect(() => studentTQuantile(0.975, df)).toThrow(RangeError);
  });
});
