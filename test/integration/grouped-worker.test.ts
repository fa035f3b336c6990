// A worker computing each task's minibatch gradients in grouped passes (replicated
// weights, batched matmul) gives the measures of one computing them one by one: on the
// cpu backend bit for bit (its float32 sums run in the same order either way).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects } from "../../src/protocol/index.js";
import { chaosConfig, runCoordinator } from "../chaos/harness.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

describe("grouped minibatch gradients in a worker", () => {
  let nats: NatsFixture;
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await nats?.close();
  });

  async function run(label: string, group: "on" | "off", returns: "stats" | "vectors") {
    const prefix = uniquePrefix(label);
    const w = spawnWorker(nats.server.url, prefix, `${label}-w`, ["--backend", "cpu", "--group", group]);
    workers.push(w);
    try {
      await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, [w.id]);
      const out = await runCoordinator(label, chaosConfig(prefix, { pairs: 24, perTask: 6, returns }), nats.server.url);
      return { outcome: out.outcome, log: w.output() };
    } finally {
      await stopWorkers([w]);
    }
  }

  it("gives the same measures as the loop, in stats and in vectors mode", { timeout: 180_000 }, async () => {
    for (const returns of ["stats", "vectors"] as const) {
      const loop = await run(`loop-${returns}`, "off", returns);
      const grouped = await run(`grouped-${returns}`, "on", returns);
      expect(grouped.log).toContain("grouped (replicated weights)");
      expect(loop.log).toContain("one at a time");
      expect(grouped.outcome.measures).toEqual(loop.outcome.measures);
      expect(grouped.outcome.pairs).toBe(loop.outcome.pairs);
    }
  });
});
