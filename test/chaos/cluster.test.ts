// Fault 4: a three-node NATS cluster (JetStream, the object store with 3 replicas), and
// the node the coordinator is connected to SIGKILLed in the middle of the run. The
// coordinator and the workers know all three URLs and move to the nodes left; the run
// completes with the measures of the fault-free run, bit for bit.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type ClusterNode, type NatsCluster } from "../helpers/nats-cluster.js";
import { stopWorkers, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, runCoordinator, startSwarm, watchHeartbeats, type ChaosOptions, type Outcome } from "./harness.js";

const OPTIONS: ChaosOptions = { pairs: 300, natsExtra: "replicas: 3" };
const TASKS_BEFORE_KILL = 4;
/** The connection name runJob gives the coordinator's connection (src/coordinator/run.ts). */
const COORDINATOR_CLIENT = "gradswarm-coordinator";

describe("chaos: a node of a 3-node NATS cluster killed mid-run", () => {
  let cluster: NatsCluster;
  let base: Outcome;
  const all: TestWorker[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster();
    base = await baseline(cluster.nc, cluster.urls, "cluster", OPTIONS);
  });
  afterAll(async () => {
    await stopWorkers(all);
    await cluster?.close();
  });

  it("SIGKILL the coordinator's node: everyone reconnects to the others and the run completes", async () => {
    const { prefix, workers } = await startSwarm(cluster.nc, cluster.urls, "cluster", 3);
    all.push(...workers);
    const started = new Set<string>();
    let runOver = false;
    let kill: Promise<string> | null = null;
    const doKill = async (): Promise<string> => {
      const tasks = started.size;
      // The coordinator's node, from the nodes' /connz; any node if it cannot be told.
      const hosting = await cluster.nodeWithClient(COORDINATOR_CLIENT);
      const victim: ClusterNode = hosting ?? cluster.nodes[0]!;
      await cluster.kill(cluster.nodes.indexOf(victim));
      return `SIGKILL node ${victim.name} (${victim.url}, ${hosting ? "the coordinator's node" : "not known to hold the coordinator"}) after ${tasks} tasks started (run still going: ${!runOver})`;
    };
    const stop = watchHeartbeats(cluster.nc, prefix, (hb) => {
      if (hb.state === "busy" && hb.taskId) started.add(hb.taskId);
      if (!kill && started.size >= TASKS_BEFORE_KILL) kill = doKill();
    });
    let outcome: Outcome;
    try {
      ({ outcome } = await runCoordinator("cluster", chaosConfig(prefix, OPTIONS), cluster.urls));
    } finally {
      runOver = true;
      stop();
    }
    const killed = kill as Promise<string> | null; // set in the heartbeat callback
    expect(killed, "no node was killed (no task seen started)").not.toBeNull();
    const injected = await killed!;
    expect(injected).toMatch(/run still going: true/);
    expect(injected).toMatch(/the coordinator's node/);
    expect(cluster.nodes.filter((n) => n.up)).toHaveLength(2);
    expectSameAsBaseline("cluster", outcome, base, injected);
  });
});
