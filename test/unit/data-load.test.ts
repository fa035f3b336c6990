import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { datasetHash } from "../../src/data/bundle.js";
import { DataError } from "../../src/data/dataset.js";
import { loadDataset } from "../../src/data/load.js";
import { loadMnist } from "../../src/data/mnist.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("loadDataset", () => {
  it("loads the mnist package's digits in round-robin digit order", async () => {
    const ds = await loadDataset({ kind: "mnist" }, ROOT);
    expect(ds.name).toBe("mnist");
    expect(ds.n).toBe(10_000);
    expect(ds.featureShape).toEqual([784]);
    expect(ds.numClasses).toBe(10);
    expect(Array.from(ds.y.subarray(0, 23))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
    const counts = new Array(10).fill(0) as number[];
    for (const c of ds.y) counts[c]!++;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect([min, max]).toEqual([0, 1]);
    const again = await loadMnist();
    expect(datasetHash(again)).toBe(datasetHash(ds));
  });

  it("keeps the first `limit` examples", async () => {
    const all = await loadMnist();
    const some = await loadDataset({ kind: "mnist", limit: 25 }, ROOT);
    expect(some.n).toBe(25);
    expect(Array.from(some.x)).toEqual(Array.from(all.x.subarray(0, 25 * 784)));
    await expect(loadDataset({ kind: "mnist", limit: 20_000 }, ROOT)).rejects.toThrow(/limit 20000 exceeds/);
  });

  it("resolves IDX paths against baseDir", async () => {
    const ds = await loadDataset({ kind: "idx", images: "data/images-idx3-ubyte", labels: "data/labels-idx1-ubyte", limit: 100 }, `${ROOT}examples`);
    expect(ds.n).toBe(100);
    expect(ds.name).toBe("idx:images-idx3-ubyte");
    expect(ds.numClasses).toBe(10);
  });

  it("names a missing file, both when both are missing, in a fixed order", async () => {
    const err = await loadDataset({ kind: "idx", images: "no/such-images", labels: "no/such-labels" }, ROOT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    // Regression: the two reads race, and the message named whichever failed first (seen under load).
    expect((err as Error).message).toMatch(/such-images: file not found; .*such-labels: file not found$/);
    const one = await loadDataset({ kind: "idx", images: "data/images-idx3-ubyte", labels: "no/such-labels" }, `${ROOT}examples`).catch((e: unknown) => e);
    expect(one).toBeInstanceOf(DataError);
    expect((one as Error).message).toMatch(/such-labels: file not found$/);
  });

  it("makes synthetic data from the spec", async () => {
    const spec = { kind: "synthetic" as const, n: 30, features: 5, classes: 3, seed: 1, teacherHidden: 8, labelNoise: 0.2 };
    const ds = await loadDataset(spec, ROOT);
    expect(datasetHash(ds)).toBe(datasetHash(makeSyntheticDataset(spec)));
  });
});
