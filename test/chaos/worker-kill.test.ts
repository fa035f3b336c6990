// Fault 1: a worker SIGKILLed in the middle of its task; then a worker killed every
// couple of seconds (and replaced) over a whole run. Its leases expire and the tasks are
// done elsewhere; the measures are bit-identical to the fault-free run.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, runCoordinator, startSwarm, watchHeartbeats, type Outcome } from "./harness.js";

describe("chaos: workers killed", () => {
  let nats: NatsFixture;
  let base: Outcome;
  const all: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
    base = await baseline(nats.nc, nats.server.url, "kill");
  });
  afterAll(async () => {
    await stopWorkers(all);
    await nats?.close();
  });

  it("one worker SIGKILLed while it holds a task", async () => {
    const { prefix, workers } = await startSwarm(nats.nc, nats.server.url, "kill-one", 3);
    all.push(...workers);
    let killed = "";
    const stop = watchHeartbeats(nats.nc, prefix, (hb) => {
      if (!killed && hb.workerId === workers[2]!.id && hb.state === "busy") {
        killed = `SIGKILL ${hb.workerId} during ${hb.taskId}`;
        workers[2]!.process.kill("SIGKILL");
      }
    });
    const { outcome } = await runCoordinator("kill-one", chaosConfig(prefix), nats.server.url);
    stop();
    expectSameAsBaseline("kill-one", outcome, base, killed || "none (the victim never held a task)");
  });

  it("a worker killed every 2 seconds over a whole run, each replaced", { timeout: 240_000 }, async () => {
    const { prefix, workers } = await startSwarm(nats.nc, nats.server.url, "kill-many", 3);
    all.push(...workers);
    const live = [...workers];
    // A worker counts once it heartbeats (TensorFlow.js up, pulling). On a loaded machine a
    // replacement can take longer to start than the kill interval: the oldest worker is
    // killed only while another live one is up, so the run always makes progress.
    const up = new Set(workers.map((w) => w.id));
    const stopWatch = watchHeartbeats(nats.nc, prefix, (hb) => up.add(hb.workerId));
    let kills = 0;
    let spawned = 0;
    const reaper = setInterval(() => {
      const victim = live[0];
      if (!victim || live.filter((w) => up.has(w.id)).length < 2 || !up.has(victim.id)) return;
      live.shift();
      victim.process.kill("SIGKILL");
      kills++;
      const fresh = spawnWorker(nats.server.url, prefix, `kill-many-new${++spawned}`);
      all.push(fresh);
      live.push(fresh);
    }, 2000);
    try {
      // Enough work for several kills: ~240 pairs.
      const { outcome } = await runCoordinator("kill-many", chaosConfig(prefix, { pairs: 240 }), nats.server.url);
      clearInterval(reaper);
      const longBase = await baseline(nats.nc, nats.server.url, "kill-many", { pairs: 240 });
      expectSameAsBaseline("kill-many", outcome, longBase, `${kills} SIGKILLs, at most one every 2 s while another worker was up, each worker replaced`);
      expect(kills, "workers killed during the run").toBeGreaterThanOrEqual(2);
    } finally {
      clearInterval(reaper);
      stopWatch();
    }
  });
});
