import { describe, expect, it } from "vitest";
import type { Estimate } from "../../src/coordinator/estimators/index.js";
import type { Measures } from "../../src/coordinator/reduce.js";
import { layerTable } from "../../src/coordinator/report/layer-table.js";

function est(mean: number | null, ci: [number, number] | null = null): Estimate {
  return { mean, stderr: mean === null ? null : 0.1, ci95: ci, n: 8, resolved: mean !== null } as Estimate;
}

function measures(regret: number, sq: number, cos: number): Measures {
  return { regret: est(regret, [regret - 1, regret + 1]), grad_sq_norm_mean: est(sq), cos_disagreement: est(cos) } as unknown as Measures;
}

describe("layerTable", () => {
  it("lists the layers in model order with regret, CI, share of E‖g‖² and 1 − cos", () => {
    const groups = { "layer1.0.conv1": measures(2.5, 30, 0.8), fc: measures(0.5, 10, 0.4) };
    const text = layerTable(["layer1.0.conv1", "fc"], groups, measures(3, 40, 0.7))!;
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^layer\s+regret\s+95% CI\s+share of E‖g‖²\s+1 − cos$/);
    expect(lines[1]).toMatch(/^layer1\.0\.conv1\s+2\.500\s+\[1\.500, 3\.500\]\s+75\.0%\s+0\.8000$/);
    expect(lines[2]).toMatch(/^fc\s+0\.5000\s+\[-0\.5000, 1\.500\]\s+25\.0%\s+0\.4000$/);
  });

  it("says so for a measure that is not resolved, and prints nothing for one layer", () => {
    const groups = { a: { ...measures(1, 1, 0.1), regret: est(null) } as Measures, b: measures(1, 1, 0.1) };
    expect(layerTable(["a", "b"], groups, measures(2, 2, 0.1))).toMatch(/^a\s+not resolved/m);
    expect(layerTable(["a"], groups, measures(2, 2, 0.1))).toBeNull();
  });
});
