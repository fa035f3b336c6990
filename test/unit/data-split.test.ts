// splitDataset: a seeded held-out set, disjoint from the training set, together the whole.

import { describe, expect, it } from "vitest";
import { DataError } from "../../src/data/dataset.js";
import { splitDataset } from "../../src/data/split.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";

describe("splitDataset", () => {
  const ds = makeSyntheticDataset({ n: 50, features: 3, classes: 2, seed: 1 });
  const rows = (d: typeof ds) => Array.from({ length: d.n }, (_, i) => `${[...d.x.subarray(i * 3, i * 3 + 3)]}|${d.y[i]}`);

  it("cuts round(fraction · n) examples for the test set from the seed, the rest in order for training", () => {
    const { train, test } = splitDataset(ds, 0.2, 7);
    expect([train.n, test.n]).toEqual([40, 10]);
    const all = rows(ds);
    const trainRows = rows(train);
    const testRows = rows(test);
    expect([...trainRows, ...testRows].sort()).toEqual([...all].sort());
    expect(trainRows.filter((r) => testRows.includes(r))).toEqual([]);
    expect(trainRows.map((r) => all.indexOf(r))).toEqual([...trainRows.map((r) => all.indexOf(r))].sort((a, b) => a - b));
    expect(rows(splitDataset(ds, 0.2, 7).test)).toEqual(testRows);
    expect(rows(splitDataset(ds, 0.2, 8).test)).not.toEqual(testRows);
  });

  it("refuses fractions that leave either side empty", () => {
    expect(() => splitDataset(ds, 0, 1)).toThrow(DataError);
    expect(() => splitDataset(ds, 0.001, 1)).toThrow(/leaves 0 for the test set/);
    expect(() => splitDataset(ds, 0.999, 1)).toThrow(/0 for training/);
  });
});
