// A real worker process against a real nats-server, with the test playing coordinator:
// it keeps answering while a long step computes, refuses a blob whose content does not
// match its hash, refuses a coordinator of another protocol version, and drains on
// SIGTERM without losing the task in hand.

import type { Msg } from "@nats-io/transport-node";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { datasetToBundleBytes } from "../../src/data/bundle.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { encodeSnapshot } from "../../src/model/snapshot.js";
import { BlobStore } from "../../src/nats/blob-store.js";
import {
  createMessage,
  decodeMessage,
  decodeWorkerAnnounce,
  encodeMessage,
  objectBucket,
  PROTOCOL_VERSION,
  subjects,
  type TaskPair,
} from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";
import { fakeRun } from "../helpers/runs.js";
import { spawnWorker, waitForHeartbeats } from "../helpers/workers.js";

interface Served {
  results: ReturnType<typeof decodeMessage>[];
  errors: ReturnType<typeof decodeMessage>[];
}

describe("a worker process", () => {
  const suite = natsSuite();

  /** Plays coordinator on `prefix`: hands out `tasks` once each, records what comes back. */
  function serve(prefix: string, tasks: Uint8Array[]): Served {
    const s = fakeRun(suite.nats.nc, prefix, "r1").subjects;
    const served: Served = { results: [], errors: [] };
    const queue = [...tasks];
    suite.nats.nc.subscribe(s.pull, {
      callback: (_e, msg: Msg) => {
        const next = queue.shift();
        msg.respond(next ?? encodeMessage(createMessage("task.none", { runId: "r1", retryMs: 100, done: false })));
      },
    });
    for (const [subject, into] of [
      [s.result, served.results],
      [s.error, served.errors],
    ] as const) {
      suite.nats.nc.subscribe(subject, {
        callback: (_e, msg: Msg) => {
          into.push(decodeMessage(msg.data));
          msg.respond(encodeMessage(createMessage("ack", { accepted: true, reason: null })));
        },
      });
    }
    return served;
  }

  async function putBlobs(prefix: string, layers: number[], n: number, features: number) {
    const store = await BlobStore.open(suite.nats.nc, objectBucket(prefix), true);
    const snapshot = await store.put(encodeSnapshot(mlpSnapshot({ layers, activation: "relu", seed: 1, init: "glorot_uniform" })), "test");
    const dataset = makeSyntheticDataset({ n, features, classes: layers.at(-1)!, seed: 2 });
    const bytes = datasetToBundleBytes(dataset);
    const data = await store.put(bytes, "test");
    return { store, snapshot: { hash: snapshot.hash, bytes: 0 }, dataset: { hash: data.hash, bytes: bytes.length, name: "synthetic" } };
  }

  function task(refs: Awaited<ReturnType<typeof putBlobs>>, taskId: string, pairs: TaskPair[], leaseMs = 60_000): Uint8Array {
    return encodeMessage(createMessage("task", { runId: "r1", taskId, leaseId: `${taskId}.1`, leaseMs, snapshot: refs.snapshot, dataset: refs.dataset, returns: "stats", labels: "observed", labelSeed: 0, metrics: [], pairs }));
  }

  function pairsOf(count: number, n: number, batch: number): TaskPair[] {
    const rng = new Rng(5);
    return Array.from({ length: count }, (_, id) => ({ id, batches: [rng.sampleWithoutReplacement(n, batch), rng.sampleWithoutReplacement(n, batch)] as [number[], number[]] }));
  }

  async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("answers worker.list with state busy while a long step computes, then returns the result", async () => {
    const prefix = uniquePrefix("busy");
    const refs = await putBlobs(prefix, [256, 512, 512, 10], 1024, 256);
    // Four pairs of 1024-example minibatches: a step long enough to ask several times.
    const served = serve(prefix, [task(refs, "slow", pairsOf(4, 1024, 1024))]);
    const w = spawnWorker(suite.nats.server.url, prefix, "busy-w");
    suite.workers.push(w);
    await waitForHeartbeats(suite.nats.nc, subjects(prefix).heartbeat, [w.id]);
    const states: string[] = [];
    const deadline = Date.now() + 60_000;
    while (served.results.length === 0 && Date.now() < deadline) {
      // A reply must come within a second whatever the compute thread is doing.
      const reply = await suite.nats.nc.request(subjects(prefix).list, encodeMessage(createMessage("worker.list", { runId: "r1" })), { timeout: 1000 });
      states.push(decodeWorkerAnnounce(reply.data).state);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(served.results).toHaveLength(1);
    expect(states.filter((s) => s === "busy").length).toBeGreaterThanOrEqual(3);
    // The result reports per trainable weight tensor, with no metrics asked for.
    const result = served.results[0] as { tensors: string[]; tensorSizes: number[]; pairs: { metrics: unknown[] }[] };
    expect(result.tensors).toEqual(["dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias", "dense_3/kernel", "dense_3/bias"]);
    expect(result.tensorSizes).toEqual([256 * 512, 512, 512 * 512, 512, 512 * 10, 10]);
    expect(result.pairs.map((p) => p.metrics)).toEqual([[], [], [], []]);
  });

  it("refuses a dataset blob whose content does not match its hash", async () => {
    const prefix = uniquePrefix("hash");
    const refs = await putBlobs(prefix, [8, 4, 3], 64, 8);
    // A blob stored under the dataset's name with other content.
    const other = datasetToBundleBytes(makeSyntheticDataset({ n: 64, features: 8, classes: 3, seed: 99 }));
    const { Objm } = await import("@nats-io/obj");
    const os = await new Objm(suite.nats.nc).open(objectBucket(prefix));
    await os.putBlob({ name: refs.dataset.hash }, other);
    const served = serve(prefix, [task(refs, "bad-data", pairsOf(1, 64, 4))]);
    suite.workers.push(spawnWorker(suite.nats.server.url, prefix, "hash-w"));
    await until(() => served.errors.length > 0, 30_000, "the worker's task.error");
    const err = served.errors[0] as { code: string; message: string };
    expect(err.code).toBe("blob_hash_mismatch");
    expect(err.message).toContain(refs.dataset.hash);
    expect(served.results).toHaveLength(0);
  });

  it("stops with an error naming both versions when the coordinator speaks another protocol", async () => {
    const prefix = uniquePrefix("version");
    const packr = new Packr({ useRecords: false });
    suite.nats.nc.subscribe(fakeRun(suite.nats.nc, prefix, "r").subjects.pull, {
      callback: (_e, msg) => void msg.respond(packr.pack({ v: PROTOCOL_VERSION + 1, type: "task.none", runId: "r", retryMs: 10, done: false })),
    });
    const w = spawnWorker(suite.nats.server.url, prefix, "version-w");
    const code = await w.exited;
    expect(code).not.toBe(0);
    expect(w.output()).toContain(`v${PROTOCOL_VERSION}`);
    expect(w.output()).toContain(`v${PROTOCOL_VERSION + 1}`);
  });

  it("on SIGTERM finishes the task in hand, returns it, and exits 0", async () => {
    const prefix = uniquePrefix("drain");
    const refs = await putBlobs(prefix, [256, 512, 512, 10], 1024, 256);
    const served = serve(prefix, [task(refs, "in-hand", pairsOf(1, 1024, 1024)), task(refs, "never", pairsOf(1, 1024, 8))]);
    const w = spawnWorker(suite.nats.server.url, prefix, "drain-w");
    suite.workers.push(w);
    let busy = false;
    const sub = suite.nats.nc.subscribe(subjects(prefix).heartbeat, {
      callback: (_e, msg) => {
        const hb = decodeMessage(msg.data, ["worker.heartbeat"]);
        if (hb.state === "busy" && !busy) {
          busy = true;
          w.process.kill("SIGTERM");
        }
      },
    });
    expect(await w.exited).toBe(0);
    sub.unsubscribe();
    expect(busy).toBe(true);
    expect(served.results.map((r) => (r as { taskId: string }).taskId)).toEqual(["in-hand"]);
  });
});
