import { describe, expect, it } from "vitest";
import { datasetHash, datasetToBundleBytes } from "../../src/data/bundle.js";
import { DataError } from "../../src/data/dataset.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";

const base = { n: 2000, features: 10, classes: 4, seed: 7 };

describe("synthetic teacher–student data", () => {
  it("gives the same bytes for the same seed", () => {
    const a = datasetToBundleBytes(makeSyntheticDataset(base));
    const b = datasetToBundleBytes(makeSyntheticDataset({ ...base }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("gives different data for a different seed", () => {
    expect(datasetHash(makeSyntheticDataset({ ...base, seed: 8 }))).not.toBe(datasetHash(makeSyntheticDataset(base)));
  });

  it("has the declared shape, standard-normal features and every class", () => {
    const ds = makeSyntheticDataset(base);
    expect(ds.n).toBe(2000);
    expect(ds.featureShape).toEqual([10]);
    expect(ds.numClasses).toBe(4);
    expect(ds.x.length).toBe(20_000);
    let sum = 0;
    let sq = 0;
    for (const v of ds.x) {
      sum += v;
      sq += v * v;
    }
    expect(Math.abs(sum / ds.x.length)).toBeLessThan(0.03);
    expect(Math.abs(sq / ds.x.length - 1)).toBeLessThan(0.05);
    const counts = [0, 0, 0, 0];
    for (const c of ds.y) counts[c]!++;
    for (const c of counts) expect(c).toBeGreaterThan(300); // 500 each if balanced
  });

  it("keeps the teacher when n changes (a prefix of the features and clean labels)", () => {
    const small = makeSyntheticDataset({ ...base, n: 100 });
    const big = makeSyntheticDataset(base);
    expect(Array.from(small.x)).toEqual(Array.from(big.x.subarray(0, 1000)));
    expect(Array.from(small.y)).toEqual(Array.from(big.y.subarray(0, 100)));
  });

  it("replaces about labelNoise of the labels by random classes", () => {
    const clean = makeSyntheticDataset(base);
    for (const labelNoise of [0.1, 0.4]) {
      const noisy = makeSyntheticDataset({ ...base, labelNoise });
      expect(Array.from(noisy.x)).toEqual(Array.from(clean.x));
      let changed = 0;
      for (let i = 0; i < base.n; i++) if (noisy.y[i] !== clean.y[i]) changed++;
      // A replaced label keeps its class with probability 1/classes.
      const expected = labelNoise * (1 - 1 / base.classes) * base.n;
      expect(Math.abs(changed - expected)).toBeLessThan(4 * Math.sqrt(expected));
    }
    const none = makeSyntheticDataset({ ...base, labelNoise: 0 });
    expect(Array.from(none.y)).toEqual(Array.from(clean.y));
  });

  it("names a bad parameter", () => {
    expect(() => makeSyntheticDataset({ ...base, classes: 1 })).toThrow(DataError);
    expect(() => makeSyntheticDataset({ ...base, n: 0 })).toThrow(/synthetic\.n/);
    expect(() => makeSyntheticDataset({ ...base, labelNoise: 1.5 })).toThrow(/synthetic\.labelNoise/);
    expect(() => makeSyntheticDataset({ ...base, seed: 0.5 })).toThrow(/synthetic\.seed/);
  });
});
