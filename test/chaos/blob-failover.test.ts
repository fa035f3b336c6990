// The root cause of the cluster test's stall at its last task, narrowed down: a blob read
// in progress when the reader's NATS node dies. The object store's reader (an ordered push
// consumer) notices its lost consumer only through missed 30 s idle heartbeats, so the read
// hung 30–60 s (measured), while the worker's heartbeats kept the task's lease alive. The
// read must instead give up after a stretch without data (blob_store_unavailable, which
// the worker retries), and a retry on the nodes left must bring the whole blob back.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BlobError, BlobStore } from "../../src/nats/blob-store.js";
import { sha256Hex } from "../../src/model/snapshot.js";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.js";

/** Large enough that a read is still streaming when the kill lands (1 MB chunks). */
const BLOB_BYTES = 64 * 1024 * 1024;
const STALL_MS = 2000;

describe("chaos: the reader's node dies in the middle of a blob read", () => {
  let cluster: NatsCluster;
  let reader: NatsConnection | null = null;

  beforeAll(async () => {
    cluster = await startNatsCluster();
  });
  afterAll(async () => {
    await reader?.close().catch(() => undefined);
    await cluster?.close();
  });

  it("the read gives up as stalled, not after the consumer's heartbeats, and a retry gets every byte", async () => {
    const bytes = randomBytes(BLOB_BYTES);
    const bucket = "failover";
    const hash = sha256Hex(bytes);
    await (await BlobStore.open(cluster.nc, bucket, true, 3)).put(bytes, "test blob", hash);

    // The reader on node 1 first (no shuffling), the others to fail over to.
    reader = await connect({ servers: cluster.nodes.map((n) => n.url), noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const home = cluster.nodes.findIndex((n) => n.name === reader!.info?.server_name);
    expect(home, "the reader's node").toBeGreaterThanOrEqual(0);
    const store = await BlobStore.open(reader, bucket, false);

    let kill: Promise<void> | null = null;
    let readBeforeKill = 0;
    const first = await store
      .get(hash, {
        stallMs: STALL_MS,
        onProgress: (at) => {
          if (kill) return;
          readBeforeKill = at;
          kill = cluster.kill(home);
        },
      })
      .then(
        (b) => ({ ok: true as const, length: b.length }),
        (e: unknown) => ({ ok: false as const, error: e }),
      );
    await kill;
    expect(kill, "the node was killed during the read").not.toBeNull();
    expect(readBeforeKill).toBeLessThan(BLOB_BYTES);
    expect(first.ok, "the read in progress when its node died completed; it should have been given up as stalled").toBe(false);
    const error = (first as { error: unknown }).error;
    expect(error).toBeInstanceOf(BlobError);
    expect((error as BlobError).code).toBe("blob_store_unavailable");
    expect((error as BlobError).message).toMatch(/no data for 2000 ms after \d+ of 67108864 bytes/);

    // What the worker does: retry while the store is unavailable (a new stream leader may
    // take seconds to be elected). The retry loop ends when the store answers or refuses.
    let again: Uint8Array | null = null;
    const failures: string[] = [];
    while (!again) {
      try {
        again = await store.get(hash, { stallMs: STALL_MS });
      } catch (err) {
        if (!(err instanceof BlobError) || err.code !== "blob_store_unavailable" || failures.length >= 30) throw err;
        failures.push(err.message);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(again.length).toBe(BLOB_BYTES);
    expect(sha256Hex(again)).toBe(hash);
  });
});
