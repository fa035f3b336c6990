// return: vectors on a server with the default 1 MB max_payload: a layer's gradient of
// 1.6 MB travels in chunks, the coordinator reduces them as they come, and the measures
// equal those of the same run in stats mode, bit for bit.

import { describe, expect, it } from "vitest";
import { chaosConfig, runCoordinator, startSwarm } from "../chaos/harness.js";
import { natsSuite } from "../helpers/nats-suite.js";

describe("return: vectors", () => {
  const suite = natsSuite();

  it("chunks gradients larger than max_payload and gives the stats-mode measures", async () => {
    expect(suite.nats.nc.info?.max_payload).toBe(1024 * 1024);
    const big = (yaml: string) => yaml.replace("layers: [784, 24, 10]", "layers: [784, 512, 10]");
    const a = await startSwarm(suite.nats.nc, suite.nats.server.url, "vec-stats", 2);
    suite.workers.push(...a.workers);
    const stats = await runCoordinator("vec-stats", big(chaosConfig(a.prefix, { pairs: 12, perTask: 3 })), suite.nats.server.url);
    const b = await startSwarm(suite.nats.nc, suite.nats.server.url, "vec-vectors", 2);
    suite.workers.push(...b.workers);
    const vectors = await runCoordinator("vec-vectors", big(chaosConfig(b.prefix, { pairs: 12, perTask: 3, returns: "vectors" })), suite.nats.server.url);
    const v = (vectors.outcome.run as unknown as { vectors: { chunks: number; bytes: number } }).vectors;
    // 784×512 kernel: 1.6 MB per gradient, more than one chunk per pair for that layer.
    const params = 784 * 512 + 512 + 512 * 10 + 10;
    expect(v.bytes).toBe(12 * 2 * 4 * params);
    expect(v.chunks).toBeGreaterThan(12 * 4);
    expect(vectors.outcome.measures).toEqual(stats.outcome.measures);
    expect(vectors.outcome.layers).toEqual(stats.outcome.layers);
    expect(vectors.outcome.pairs).toBe(stats.outcome.pairs);
  });
});
