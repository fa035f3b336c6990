// Train and test loss and accuracy through real runs (nats-server, worker processes): with
// `test: {fraction}` the held-out examples are a seeded split of `data` and the pairs come
// from the rest; with `test: {data}` a dataset of its own. The workers' chunked means agree
// with a float64 recomputation over every example of each set, and the gap is their
// difference. A resumed run recomputes nothing its journal holds.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { splitDataset } from "../../src/data/split.js";
import { featureSize, type Dataset } from "../../src/data/dataset.js";
import { evaluate64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { subjects } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const DATA = { n: 400, features: 12, classes: 3, seed: 6 };

function config(prefix: string, test: string): string {
  return `model: {kind: mlp, layers: [12, 16, 3], activation: tanh, seed: 2}
data: {kind: synthetic, n: ${DATA.n}, features: ${DATA.features}, classes: ${DATA.classes}, seed: ${DATA.seed}}
test: ${test}
pairs: {count: 4, batch_size: 8, seed: 1, per_task: 4}
workers: {lease_s: 20, wait_s: 60}
nats: {prefix: ${prefix}}
`;
}

interface Gen {
  generalization: { train: { loss: number; accuracy: number; examples: number }; test: { loss: number; accuracy: number; examples: number }; gap: { loss: number; accuracy: number } } | null;
  run: { dataset: { n: number } };
}

function all(ds: Dataset): number[] {
  return Array.from({ length: ds.n }, (_, i) => i);
}

describe("train and test loss, accuracy and the gap", () => {
  let nats: NatsFixture;
  let workers: TestWorker[] = [];
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-generalization-"));
  const prefix = uniquePrefix("gen");

  beforeAll(async () => {
    nats = await startNats();
    workers = ["gen-w0", "gen-w1"].map((id) => spawnWorker(nats.server.url, prefix, id));
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id), 60_000);
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await nats?.close();
  });

  async function run(name: string, test: string): Promise<{ out: string; results: Gen; log: string }> {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, config(prefix, test));
    const out = join(dir, name);
    let log = "";
    const stream = { isTTY: false, write: (s: string) => ((log += s), true) } as unknown as NodeJS.WriteStream;
    await runJob({ configPath: path, natsUrl: nats.server.url, outDir: out, stream });
    return { out, results: JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Gen, log };
  }

  it("test: {fraction}: a seeded split; the pairs come from the rest; every mean matches float64", async () => {
    // 64 examples a task: 300 training examples in 5 chunks (the last of 44), 100 test examples in 2.
    const { out, results, log } = await run("fraction", "{fraction: 0.25, seed: 3, examples_per_task: 64}");
    const { train, test } = splitDataset(makeSyntheticDataset(DATA), 0.25, 3);
    expect(results.run.dataset.n).toBe(300);
    const g = results.generalization!;
    expect(g.train.examples).toBe(300);
    expect(g.test.examples).toBe(100);
    const model = await loadMlp64FromLayersModel(out);
    for (const [got, ds] of [
      [g.train, train],
      [g.test, test],
    ] as const) {
      const want = evaluate64(model, ds.x, ds.y, all(ds), featureSize(ds));
      expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
      expect(got.accuracy).toBeCloseTo(want.accuracy, 12);
    }
    expect(g.gap.loss).toBeCloseTo(g.test.loss - g.train.loss, 15);
    expect(g.gap.accuracy).toBeCloseTo(g.train.accuracy - g.test.accuracy, 15);
    expect(log).toMatch(/theta\/evaluate-test/);
  });

  it("test: {data}: a dataset of its own; --resume recomputes none of it", async () => {
    const spec = `{data: {kind: synthetic, n: 150, features: ${DATA.features}, classes: ${DATA.classes}, seed: 9}, examples_per_task: 100}`;
    const first = await run("own", spec);
    const g = first.results.generalization!;
    expect(first.results.run.dataset.n).toBe(DATA.n);
    expect(g.train.examples).toBe(DATA.n);
    expect(g.test.examples).toBe(150);
    const model = await loadMlp64FromLayersModel(first.out);
    const own = makeSyntheticDataset({ n: 150, features: DATA.features, classes: DATA.classes, seed: 9 });
    const want = evaluate64(model, own.x, own.y, all(own), featureSize(own));
    expect(Math.abs(g.test.loss - want.loss) / want.loss).toBeLessThan(1e-5);
    // Interrupted once the test set's phase starts (the training set's chunks journaled), then
    // resumed: the training set is not computed again, and the numbers are the same.
    const cut = join(dir, "own-cut");
    // One example a task, so that the test set's phase is 150 tasks and lasts well past the
    // progress line's first update (250 ms), which is what triggers the abort: with a few
    // larger chunks the phase could end before any line named it (seen under load).
    writeFileSync(join(dir, "own-cut.yaml"), config(prefix, spec.replace("examples_per_task: 100", "examples_per_task: 1")));
    const abort = new AbortController();
    const watching = { isTTY: true, write: (t: string) => (t.includes("theta/evaluate-test") && abort.abort(), true) } as unknown as NodeJS.WriteStream;
    await expect(runJob({ configPath: join(dir, "own-cut.yaml"), natsUrl: nats.server.url, outDir: cut, signal: abort.signal, stream: watching })).rejects.toThrow();
    let log = "";
    const stream = { isTTY: false, write: (t: string) => ((log += t), true) } as unknown as NodeJS.WriteStream;
    await runJob({ configPath: join(dir, "own-cut.yaml"), natsUrl: nats.server.url, resume: cut, stream });
    const again = JSON.parse(readFileSync(join(cut, "results.json"), "utf8")) as Gen;
    // Other chunks, the same examples: equal up to the order of the float64 sums.
    expect(Math.abs(again.generalization!.test.loss - g.test.loss) / g.test.loss).toBeLessThan(1e-6);
    expect(again.generalization!.train.accuracy).toBeCloseTo(g.train.accuracy, 12);
    expect(log).toMatch(/theta\/evaluate-test/);
    // Nobody computed a training-set chunk in the resumed run: they came from the journal.
    const served = (again as unknown as { run: { workers: { units: Record<string, number> }[] } }).run.workers;
    expect(served.reduce((s, w) => s + (w.units["theta/evaluate-train"] ?? 0), 0)).toBe(0);
    expect(served.reduce((s, w) => s + (w.units["theta/evaluate-test"] ?? 0), 0)).toBeGreaterThan(0);
  });
});
