// WorkerOptions.compute and onResultAck (what bench/coordinator-scale.ts's simulated
// workers use): a SwarmWorker whose compute is given runs every task through it, against
// the real Dispatcher on a real nats-server, and hears each result's ack.

import { describe, expect, it } from "vitest";
import { Dispatcher } from "../../src/coordinator/dispatcher.js";
import { DispatcherWire } from "../../src/coordinator/dispatcher-wire.js";
import type { Phase } from "../../src/coordinator/phase.js";
import { TaskTable } from "../../src/coordinator/task-table.js";
import { BlobStore } from "../../src/nats/blob-store.js";
import { createMessage, objectBucket, runSubjects, type TaskLossResultMessage } from "../../src/protocol/index.js";
import { RunAnnouncer } from "../../src/coordinator/run-announcer.js";
import type { JobRequest } from "../../src/worker/compute-client.js";
import { SwarmWorker, type WorkerCompute } from "../../src/worker/serve.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";

describe("a worker with an injected compute", () => {
  const suite = natsSuite();

  it("computes every task with it and reports each result's ack", async () => {
    const prefix = uniquePrefix("injected-compute");
    const nc = suite.nats.nc;
    // The worker opens the run's bucket before its first task (nothing is fetched from it here).
    await BlobStore.open(nc, objectBucket(prefix), true);
    const n = 6;
    const accepted: number[] = [];
    const phase: Phase<TaskLossResultMessage> = {
      name: "p",
      table: new TaskTable(
        Array.from({ length: n }, (_, i) => ({ id: `p#${i}`, pairIds: [i] })),
        { leaseMs: 30_000, maxAttempts: 3, maxInFlight: 100 },
      ),
      resultType: "task.loss_result",
      vectors: false,
      message: (lease, runId) =>
        createMessage("task.loss", {
          runId,
          taskId: lease.task.id,
          leaseId: lease.leaseId,
          leaseMs: 30_000,
          snapshot: { hash: "a".repeat(64), bytes: 4 },
          dataset: { hash: "b".repeat(64), bytes: 4, name: "d" },
          points: lease.task.pairIds.map((id) => ({ id, alpha: 0, beta: 0 })),
          directions: [],
          indices: [0],
        }),
      accept: (r) => {
        // The loss the injected compute made (id + 0.5): it, and no other, reached us.
        if (r.points.some((p) => p.loss !== p.id + 0.5)) return `not the injected compute's loss: ${JSON.stringify(r.points)}`;
        accepted.push(...r.points.map((p) => p.id));
        return null;
      },
      durable: () => Promise.resolve(),
      units: (r) => r.points.length,
    };
    const logs: string[] = [];
    const dispatcher = new Dispatcher({ runId: "run-injected", leaseMs: 30_000, waitMs: 60_000, stallTimeoutMs: 600_000, quarantineAfter: 2, creditPhase: "p", pullSubject: runSubjects(prefix, "run-injected").pull, log: (l) => logs.push(l) });
    const wire = new DispatcherWire(nc, prefix, dispatcher, (l) => logs.push(l));
    wire.start();
    dispatcher.start();
    // Workers pull from the runs they hear announced (protocol v3).
    const announcer = new RunAnnouncer(nc, prefix, { runId: "run-injected", label: "worker-compute", owner: "test", host: "test", startedAt: Date.now() }, () => ({ phase: "p", done: accepted.length, total: n, etaMs: null, workers: 1, retries: 0, quarantines: 0 }), (l) => logs.push(l));
    announcer.start();

    const requests: JobRequest[] = [];
    let closed = false;
    const compute: WorkerCompute = {
      info: { backend: "injected", device: "the test", gpu: false, skipped: [] },
      size: 1,
      grouping: false,
      async run(_snapshot, _dataset, request) {
        requests.push(request);
        if (request.type !== "loss") throw new Error(`expected loss tasks, got ${request.type}`);
        return { result: { type: "loss", points: request.points.map((p) => ({ id: p.id, loss: p.id + 0.5, accuracy: 1 })) }, computeMs: 1 };
      },
      async close() {
        closed = true;
      },
    };
    const acks: { ms: number; accepted: boolean }[] = [];
    const worker = new SwarmWorker({
      natsUrl: suite.nats.server.url,
      prefix,
      id: "injected-1",
      backend: "cpu",
      compute: async () => compute,
      onResultAck: (ms, ok) => acks.push({ ms, accepted: ok }),
      log: (l) => logs.push(l),
    });
    try {
      await worker.start();
      expect(worker.backend?.backend).toBe("injected");
      await dispatcher.run(phase);
      // The last ack may still be on its way back when the phase settles.
      while (acks.length < n) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await worker.drain();
      announcer.end("finished", "done");
      wire.stop();
      dispatcher.stop();
    }
    expect(accepted.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(requests).toHaveLength(n);
    expect(acks).toHaveLength(n);
    for (const a of acks) {
      expect(a.accepted).toBe(true);
      expect(Number.isFinite(a.ms) && a.ms >= 0).toBe(true);
    }
    expect(closed).toBe(true);
    expect(dispatcher.counts.rejectedResults).toBe(0);
  });
});
