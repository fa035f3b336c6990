// A worker whose pull was taken by a coordinator that then ends its run, without answering
// (what a coordinator stopping at the moment a pull arrives does: the pull reaches it, and it
// unsubscribes before it answers), stops waiting for that pull when it hears the run.end:
// its next pull goes to the next run at once. Before, it waited out the whole pull timeout
// (5 s by default) away from every run; the stall test's resumed run, with a 4 s stall
// timeout, could see no pull in that time. Here the pull timeout is 10 minutes, so a worker
// that waits for it never reaches run B within the test.

import { describe, expect, it } from "vitest";
import type { Msg } from "@nats-io/transport-node";
import { createMessage, encodeMessage } from "../../src/protocol/index.js";
import { SwarmWorker, type WorkerCompute } from "../../src/worker/serve.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";
import { fakeRun } from "../helpers/runs.js";
import { waitUntil } from "../chaos/fault-helpers.js";

const idle: WorkerCompute = {
  info: { backend: "injected", device: "the test", gpu: false, skipped: [] },
  size: 1,
  grouping: false,
  run: () => Promise.reject(new Error("no task is handed out here")),
  close: () => Promise.resolve(),
};

describe("a pull in flight when its run ends", () => {
  const suite = natsSuite();

  it("is given up at the run.end: the worker pulls the next run instead of waiting out its pull timeout", async () => {
    const prefix = uniquePrefix("run-end");
    const nc = suite.nats.nc;
    const logs: string[] = [];
    const a = fakeRun(nc, prefix, "run-a");
    const taken: Msg[] = [];
    // Run A's coordinator takes the pull and never answers.
    const pullsA = nc.subscribe(a.subjects.pull, { callback: (err, msg) => void (!err && taken.push(msg)) });
    const worker = new SwarmWorker({ natsUrl: suite.nats.server.url, prefix, id: "run-end-1", backend: "cpu", compute: async () => idle, pullTimeoutMs: 600_000, log: (l) => logs.push(l) });
    let b: ReturnType<typeof fakeRun> | null = null;
    let pullsB = 0;
    try {
      await worker.start();
      await waitUntil(() => taken.length > 0, "the worker's pull to reach run A", () => logs.length);
      pullsA.unsubscribe();
      a.end();
      b = fakeRun(nc, prefix, "run-b");
      const subB = nc.subscribe(b.subjects.pull, {
        callback: (err, msg) => {
          if (err) return;
          pullsB++;
          msg.respond(encodeMessage(createMessage("task.none", { runId: "run-b", retryMs: 200, done: false })));
        },
      });
      await waitUntil(() => pullsB > 0, "a pull to run B", () => logs.length, { quietMs: 30_000 });
      subB.unsubscribe();
      expect(taken).toHaveLength(1);
      expect(logs.some((l) => l.includes("run run-a finished; no more pulls to it"))).toBe(true);
    } finally {
      b?.end();
      await worker.drain();
    }
  });
});
