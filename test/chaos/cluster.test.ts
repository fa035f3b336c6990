// Fault 4: a three-node NATS cluster (JetStream, the object store with 3 replicas), and
// the node the coordinator is connected to SIGKILLed in the middle of the run. The
// coordinator and the workers know all three URLs and move to the nodes left; the run
// completes with the measures of the fault-free run, bit for bit.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Objm } from "@nats-io/obj";
import { BlobStore } from "../../src/nats/blob-store.js";
import { objectBucket } from "../../src/protocol/index.js";
import { startNatsCluster, type ClusterNode, type NatsCluster } from "../helpers/nats-cluster.js";
import { stopWorkers, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, runCoordinator, startSwarm, watchHeartbeats, workDir, type ChaosOptions, type Outcome } from "./harness.js";

const OPTIONS: ChaosOptions = { pairs: 300, natsExtra: "replicas: 3" };
/**
 * The kill comes once every worker has started a task (so each holds the blobs in its
 * cache) and this many tasks have started. A worker that first fetches the blobs while
 * the object store's stream elects a new leader gets timeouts, each one a task error
 * that counts against max_attempts (see the report of this test's issue); the test
 * steers clear of that and checks the replicated store after the run instead.
 */
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

  /** Reads every listed blob back (checking its hash) from the nodes left, retrying while the store elects a leader. */
  async function readBlobsBack(prefix: string, listed: { name: string; size: number }[]): Promise<{ name: string; size: number }[]> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      try {
        const blobs = await BlobStore.open(cluster.nc, objectBucket(prefix), false);
        const out: { name: string; size: number }[] = [];
        for (const b of listed) out.push({ name: b.name, size: (await blobs.get(b.name)).length });
        return out;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the blobs could not be read from the nodes left: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  it("SIGKILL the coordinator's node: everyone reconnects to the others and the run completes", async () => {
    const { prefix, workers } = await startSwarm(cluster.nc, cluster.urls, "cluster", 3);
    all.push(...workers);
    const started = new Set<string>();
    const busy = new Set<string>();
    let runOver = false;
    let kill: Promise<string> | null = null;
    let blobsAfterKill: Promise<{ name: string; size: number }[]> | null = null;
    const doKill = async (): Promise<string> => {
      const tasks = started.size;
      // The blobs the coordinator put (name = sha256, size), to read them back after the kill.
      const listed = (await (await new Objm(cluster.nc).open(objectBucket(prefix))).list()).map((o) => ({ name: o.name, size: o.size }));
      // The coordinator's node, from the nodes' /connz; any node if it cannot be told.
      const hosting = await cluster.nodeWithClient(COORDINATOR_CLIENT);
      const victim: ClusterNode = hosting ?? cluster.nodes[0]!;
      await cluster.kill(cluster.nodes.indexOf(victim));
      blobsAfterKill = readBlobsBack(prefix, listed);
      blobsAfterKill.catch(() => undefined); // awaited after the run
      return `SIGKILL node ${victim.name} (${victim.url}, ${hosting ? "the coordinator's node" : "not known to hold the coordinator"}) after ${tasks} tasks started (run still going: ${!runOver})`;
    };
    const stop = watchHeartbeats(cluster.nc, prefix, (hb) => {
      if (hb.state === "busy" && hb.taskId) {
        started.add(hb.taskId);
        busy.add(hb.workerId);
      }
      if (!kill && started.size >= TASKS_BEFORE_KILL && busy.size === workers.length) {
        kill = doKill();
        kill.catch(() => undefined); // awaited after the run
      }
    });
    let outcome: Outcome;
    try {
      // Leader elections after the kill take seconds, more on a loaded machine; a stall ends
      // the run with the coordinator's report (run.stall_timeout_s) and its log.
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
    // The blobs (3 replicas) are still served by the two nodes left, once the object
    // store's stream has a leader again (read back while the run went on).
    const run = JSON.parse(readFileSync(join(workDir, "cluster", "results.json"), "utf8")) as { run: { snapshot: { hash: string; bytes: number }; dataset: { hash: string; bytes: number } } };
    const readBack = await (blobsAfterKill as Promise<{ name: string; size: number }[]> | null)!;
    expect(new Map(readBack.map((b) => [b.name, b.size]))).toEqual(
      new Map([
        [run.run.snapshot.hash, run.run.snapshot.bytes],
        [run.run.dataset.hash, run.run.dataset.bytes],
      ]),
    );
    expectSameAsBaseline("cluster", outcome, base, injected);
  });
});
