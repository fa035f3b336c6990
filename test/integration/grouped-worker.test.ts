// A worker computing each task's minibatch gradients in grouped passes (replicated
// weights, batched matmul) gives the measures of one computing them one by one: on the
// cpu backend bit for bit (its float32 sums run in the same order either way).

import { describe, expect, it } from "vitest";
import { subjects } from "../../src/protocol/index.js";
import { chaosConfig, runCoordinator } from "../chaos/harness.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";
import { spawnWorker, stopWorkers, waitForHeartbeats } from "../helpers/workers.js";

describe("grouped minibatch gradients in a worker", () => {
  const suite = natsSuite();

  async function run(label: string, group: "on" | "off", returns: "stats" | "vectors") {
    const prefix = uniquePrefix(label);
    const w = spawnWorker(suite.nats.server.url, prefix, `${label}-w`, ["--backend", "cpu", "--group", group]);
    suite.workers.push(w);
    try {
      await waitForHeartbeats(suite.nats.nc, subjects(prefix).heartbeat, [w.id]);
      const out = await runCoordinator(label, chaosConfig(prefix, { pairs: 24, perTask: 6, returns }), suite.nats.server.url);
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
