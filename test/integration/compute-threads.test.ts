// A worker that splits each task between several compute threads (--compute-threads)
// gives the measures of one computing it on one thread: pairs, curvature items and
// landscape points all split, with task sizes that do not divide evenly (7 pairs on 3
// threads: 3 + 3 + 1). On the cpu backend bit for bit: each pair, item and point is
// computed exactly as it would be alone.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { subjects } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats } from "../helpers/workers.js";

function config(prefix: string): string {
  return `model: {kind: mlp, layers: [12, 16, 3], activation: tanh, seed: 2}
data: {kind: synthetic, n: 400, features: 12, classes: 3, seed: 6}
pairs: {count: 20, batch_size: 8, seed: 1, per_task: 7}
curvature: {minibatches: 5, batch_size: 8, iterations: 8, probes: 2}
landscape: {dims: 1, points: 9, examples: 200, per_task: 5}
workers: {lease_s: 30, wait_s: 60}
nats: {prefix: ${prefix}}
`;
}

describe("compute threads in one worker", () => {
  let nats: NatsFixture;
  const work = mkdtempSync(join(tmpdir(), "gradswarm-compute-threads-"));

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.close();
  });

  async function run(threads: number) {
    const prefix = uniquePrefix(`ct${threads}`);
    const w = spawnWorker(nats.server.url, prefix, `ct${threads}-w`, ["--backend", "cpu", "--compute-threads", String(threads)]);
    try {
      await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, [w.id]);
      const cfg = join(work, `ct${threads}.yaml`);
      writeFileSync(cfg, config(prefix));
      const outDir = join(work, `out${threads}`);
      let log = "";
      const stream = { isTTY: false, write: (s: string) => ((log += s), true) } as unknown as NodeJS.WriteStream;
      try {
        await runJob({ configPath: cfg, natsUrl: nats.server.url, outDir, stream });
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${log}\n--- worker log ---\n${w.output()}`, { cause: err });
      }
      const results = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) as Record<string, unknown>;
      const csv = ["filter", "none"].map((n) => readFileSync(join(outDir, `landscape-theta-${n}.csv`), "utf8"));
      return { results, csv, log: w.output() };
    } finally {
      await stopWorkers([w]);
    }
  }

  it("gives the measures of one thread, bit for bit", { timeout: 180_000 }, async () => {
    const one = await run(1);
    const three = await run(3);
    expect(one.log).toContain("1 compute thread;");
    expect(three.log).toContain("3 compute threads;");
    for (const key of ["measures", "layers", "tensors", "curvature"]) expect(three.results[key], key).toEqual(one.results[key]);
    expect(three.csv).toEqual(one.csv);
    expect(one.csv[0]!.trim().split("\n").length).toBe(1 + 9);
    // TIC's trace form from the pairs' tr C and the curvature pass's tr H (2 probes).
    const m = one.results.measures as Record<string, { mean: number | null; resolved: boolean; reason?: string }>;
    const trH = (one.results.curvature as { full_hessian_trace: { mean: number; probes: number } | null }).full_hessian_trace;
    expect(m.tic_trace, "measures.tic_trace").toBeDefined();
    if (m.tic_trace!.resolved) expect(m.tic_trace!.mean).toBeCloseTo(m.fisher_trace_per_example!.mean! / trH!.mean, 10);
    else expect(m.tic_trace!.reason).toMatch(/tr H|tr C|kink/);
    expect(trH?.probes ?? 2).toBe(2);
  });
});
