// Fault 3: the nats-server SIGKILLed in the middle of a run and started again a second
// later on the same port and the same JetStream store. Workers and the coordinator
// reconnect by themselves, the object store's blobs survive, and the run completes with
// the measures of the fault-free run, bit for bit.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobError, BlobStore } from "../../src/nats/blob-store.js";
import { connectNats } from "../../src/nats/connect.js";
import { startNatsServer, type NatsServerHandle } from "../../src/nats/server-process.js";
import { objectBucket } from "../../src/protocol/index.js";
import { freePort } from "../helpers/nats-cluster.js";
import { stopWorkers, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, runCoordinator, startSwarm, watchHeartbeats, workDir, type ChaosOptions, type Outcome } from "./harness.js";

const OPTIONS: ChaosOptions = { pairs: 300 };
/** Tasks seen started (busy heartbeats) before the server is killed. */
const TASKS_BEFORE_KILL = 4;
const DOWN_MS = 1000;

describe("chaos: nats-server restarted mid-run", () => {
  const storeDir = mkdtempSync(join(tmpdir(), "gradswarm-chaos-store-"));
  let port: number;
  let url: string;
  let server: NatsServerHandle | null = null;
  let nc: NatsConnection;
  let base: Outcome;
  const all: TestWorker[] = [];

  beforeAll(async () => {
    port = await freePort();
    server = await startNatsServer({ port, storeDir });
    url = server.url;
    // The test's own connection (heartbeats) must outlive the restart too.
    nc = await connectNats(url, "chaos-watch");
    base = await baseline(nc, url, "restart", OPTIONS);
  });
  afterAll(async () => {
    await stopWorkers(all);
    await nc?.close().catch(() => undefined);
    await server?.stop();
    rmSync(storeDir, { recursive: true, force: true });
  });

  it("SIGKILL the server, start it again on the same port and store: the run completes", async () => {
    const { prefix, workers } = await startSwarm(nc, url, "restart", 3);
    all.push(...workers);
    const started = new Set<string>();
    let runOver = false;
    let restart: Promise<string> | null = null;
    const doRestart = async (): Promise<string> => {
      const old = server!;
      const tasks = started.size;
      await old.kill();
      const killed = Date.now();
      await old.stop(); // already dead: removes its ports folder, keeps our store
      server = null;
      await new Promise((r) => setTimeout(r, DOWN_MS));
      server = await startNatsServer({ port, storeDir });
      expect(server.url).toBe(url);
      return `nats-server SIGKILLed after ${tasks} tasks started (run still going: ${!runOver}), down ${Date.now() - killed} ms, restarted on port ${port} with the same store`;
    };
    const stop = watchHeartbeats(nc, prefix, (hb) => {
      if (hb.state === "busy" && hb.taskId) started.add(hb.taskId);
      if (!restart && started.size >= TASKS_BEFORE_KILL) {
        restart = doRestart();
        restart.catch(() => undefined); // awaited after the run
      }
    });
    let outcome: Outcome;
    try {
      ({ outcome } = await runCoordinator("restart", chaosConfig(prefix, OPTIONS), url));
    } finally {
      runOver = true;
      stop();
    }
    const restarted = restart as Promise<string> | null; // set in the heartbeat callback
    expect(restarted, "the server was never restarted (no task seen started)").not.toBeNull();
    const injected = await restarted!;
    expect(injected).toMatch(/run still going: true/);
    // The blobs the coordinator put before the kill are still in the restarted server's store.
    const run = JSON.parse(readFileSync(join(workDir, "restart", "results.json"), "utf8")) as { run: { snapshot: { hash: string; bytes: number }; dataset: { hash: string; bytes: number } } };
    const blobs = await BlobStore.open(nc, objectBucket(prefix), false);
    expect((await blobs.get(run.run.snapshot.hash)).length).toBe(run.run.snapshot.bytes);
    expect((await blobs.get(run.run.dataset.hash)).length).toBe(run.run.dataset.bytes);
    expectSameAsBaseline("restart", outcome, base, injected);
  });

  // Regression: an object store that does not answer (a server down or restarting, a
  // cluster electing the stream's leader) once made `get` throw the client's bare
  // timeout, so the worker reported worker_failed and did not retry the fetch.
  it("a blob fetch from a server that does not answer fails as blob_store_unavailable", async () => {
    const own = await startNatsServer();
    const c = await connectNats(own.url, "chaos-blob-timeout");
    try {
      const store = await BlobStore.open(c, objectBucket(`test.blob-timeout.${process.pid}`), true);
      const { hash } = await store.put(new Uint8Array(1000).fill(7), "a small blob");
      own.process.kill("SIGSTOP"); // the server answers nothing until SIGCONT
      const err = await store.get(hash).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BlobError);
      expect((err as BlobError).code).toBe("blob_store_unavailable");
    } finally {
      own.process.kill("SIGCONT");
      await c.close().catch(() => undefined);
      await own.stop();
    }
  });
});
