import { describe, expect, it } from "vitest";
import { normalQuantile, studentTQuantile } from "../../src/coordinator/estimators/index.js";
import { logGamma, t95 } from "../../src/coordinator/estimators/student-t.js";

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

  // Every path of the computation: fractional df (log Γ's reflection below 1/2), both
  // branches of the incomplete beta (p near 1/2 takes the other one), p below 1/2, the far
  // tail, and the Cornish–Fisher answer of df > 10⁶.
  it("matches scipy.stats.t.ppf over df from 0.5 to 5e7 and p from 0.4 to 1 − 1e-7, to 1e-9 relative", () => {
    const ref: [number, number, number][] = [
      [0.51, 0.5, 0.03710700354529343],
      [0.6, 0.5, 0.3979754267847907],
      [0.75, 0.5, 1.5537739740300383],
      [0.4, 0.5, -0.3979754267847907],
      [0.975, 0.5, 164.55767348048818],
      [0.9999999, 0.5, 10284911573990.447],
      [0.51, 1.5, 0.0293553462550805],
      [0.6, 1.5, 0.30074539256979543],
      [0.75, 1.5, 0.8725946625415716],
      [0.4, 1.5, -0.30074539256979543],
      [0.975, 1.5, 6.016663104427929],
      [0.9999999, 1.5, 24226.630997734752],
      [0.51, 3, 0.027211467049117997],
      [0.6, 3, 0.2766706623326898],
      [0.75, 3, 0.7648923284043444],
      [0.4, 3, -0.2766706623326898],
      [0.975, 3, 3.1824463052837078],
      [0.9999999, 3, 222.57159098625124],
      [0.51, 7, 0.025977941569516962],
      [0.6, 7, 0.2631668613520229],
      [0.75, 7, 0.7111417780817866],
      [0.4, 7, -0.2631668613520229],
      [0.975, 7, 2.364624251592784],
      [0.9999999, 7, 19.93390224944619],
      [0.51, 50, 0.025194638118957557],
      [0.6, 50, 0.254699342988588],
      [0.75, 50, 0.6794282003263461],
      [0.4, 50, -0.254699342988588],
      [0.975, 50, 2.008559112100761],
      [0.9999999, 50, 6.025227833103438],
      [0.51, 2e+06, 0.02506891139429411],
      [0.6, 2e+06, 0.25334713683681803],
      [0.75, 2e+06, 0.6744898728635644],
      [0.4, 2e+06, -0.25334713683681803],
      [0.975, 2e+06, 1.9599651706763748],
      [0.9999999, 2e+06, 5.199355801547171],
      [0.51, 5e+07, 0.025068908384134374],
      [0.6, 5e+07, 0.2533471044838404],
      [0.75, 5e+07, 0.6744897551027804],
      [0.4, 5e+07, -0.2533471044838404],
      [0.975, 5e+07, 1.9599640319854799],
      [0.9999999, 5e+07, 5.199338311058796],
    ];
    for (const [p, df, want] of ref) {
      expect(Math.abs(studentTQuantile(p, df) - want) / Math.abs(want), `p ${p} df ${df}`).toBeLessThan(1e-9);
    }
  });

  it("matches scipy.stats.norm.ppf near 1/2 (to 1e-13), in the body and in both tails (to 1e-9 relative)", () => {
    const ref: [number, number][] = [
      [0.5000001, 2.506628273311648e-07],
      [0.6, 0.2533471031357997],
      [0.9, 1.2815515655446004],
      [0.975, 1.959963984540054],
      [1e-05, -4.264890793922825],
      [0.99999, 4.264890793923841],
      [1e-100, -21.273453560965322],
    ];
    for (const [p, want] of ref) {
      const tol = Math.max(1e-9 * Math.abs(want), 1e-13);
      expect(Math.abs(normalQuantile(p) - want), `p ${p}`).toBeLessThan(tol);
      expect(Math.abs(studentTQuantile(p, Infinity) - want), `p ${p} df ∞`).toBeLessThan(tol);
    }
    expect(normalQuantile(0.5)).toBe(0);
  });

  it("the memoized 95% multiplier is the quantile, for many df (past the memo's size)", () => {
    for (let df = 1; df <= 5000; df += 7) expect(t95(df)).toBe(studentTQuantile(0.975, df));
    expect(t95(3)).toBe(studentTQuantile(0.975, 3));
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

  it("log Γ matches known values, below 1/2 (reflection) too", () => {
    const ref: [number, number][] = [
      [0.1, Math.log(9.513507698668732)],
      [0.25, Math.log(3.625609908221908)],
      [0.5, Math.log(Math.sqrt(Math.PI))],
      [1, 0],
      [4.5, Math.log(11.631728396567448)],
      [10, Math.log(362880)],
    ];
    for (const [x, want] of ref) expect(Math.abs(logGamma(x) - want), `x ${x}`).toBeLessThan(1e-12 * Math.max(1, Math.abs(want)));
  });

  it("rejects p outside (0, 1) and df ≤ 0, saying which", () => {
    expect(() => studentTQuantile(1.5, 5)).toThrow("probability must be in (0, 1), got 1.5");
    expect(() => studentTQuantile(0.975, -2)).toThrow("studentTQuantile: df must be > 0, got -2");
    for (const p of [0, 1, -0.1, Number.NaN]) expect(() => studentTQuantile(p, 5)).toThrow(RangeError);
    for (const df of [0, -1, Number.NaN]) expect(() => studentTQuantile(0.975, df)).toThrow(RangeError);
  });
});
