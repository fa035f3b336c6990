import { describe, expect, it } from "vitest";
import { kendallTauB } from "../../src/coordinator/experiment/rank-correlation.js";

describe("Kendall's τ_b", () => {
  it("is 1 for the same order, −1 for the reverse, and counts discordant pairs", () => {
    expect(kendallTauB([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(kendallTauB([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
    expect(kendallTauB([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(4 / 6, 15);
  });

  it("corrects for ties on either side (τ_b)", () => {
    // C = 4, D = 0; one pair tied in x only, one in y only: 4 / √(5 · 5).
    expect(kendallTauB([1, 2, 2, 3], [1, 2, 3, 3])).toBeCloseTo(0.8, 15);
    // x = [1,1,2,3], y = [1,2,2,2]: C = 2, D = 0, of 6 pairs 1 tied in x and 3 in y: 2 / √((6 − 1)(6 − 3)).
    expect(kendallTauB([1, 1, 2, 3], [1, 2, 2, 2])).toBeCloseTo(2 / Math.sqrt(15), 15);
  });

  it("is undefined without two distinct values, and refuses unequal lengths", () => {
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeNull();
    expect(kendallTauB([1], [1])).toBeNull();
    expect(() => kendallTauB([1, 2], [1])).toThrow(/2 indicator values but 1 gaps/);
  });
});
