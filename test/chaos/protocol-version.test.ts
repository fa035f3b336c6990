// Fault 9: a worker or a coordinator of another protocol version. A "v2 worker" played by
// this test (raw msgpack, so our v1 encoder does not stop it) pulls from a running v1
// coordinator and gets an `error` reply naming both versions; the run goes on with the
// honest workers and its measures are bit-identical to the fault-free run. A v1 worker
// process facing a fake v2 coordinator leaves with a non-zero exit code and both versions
// in its output.

import type { Msg } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNoAnswer } from "../../src/nats/connect.js";
import { decodeMessage, decodeTaskPull, PROTOCOL_VERSION, subjects, type ErrorMessage, type TaskPullMessage } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker } from "../helpers/workers.js";
import { exitWithin, ProcessPool, rawPackr, sleep, startWorkers } from "./fault-helpers.js";
import { chaosConfig, expectSameAsBaseline, runCoordinator, type Outcome } from "./harness.js";

const OTHER = PROTOCOL_VERSION + 1;
const BOTH_VERSIONS = new RegExp(`this side speaks v${PROTOCOL_VERSION}, the peer sent v${OTHER}`);

describe("chaos: peers of another protocol version", () => {
  const pool = new ProcessPool();
  let nats: NatsFixture;
  let url: string;

  beforeAll(async () => {
    nats = await startNats();
    url = nats.server.url;
  });

  afterAll(async () => {
    await pool.stopAll();
    await nats?.close();
  });

  it(`a v${OTHER} worker's pulls and results are refused naming v${PROTOCOL_VERSION} and v${OTHER}; the run completes identically`, async () => {
    const prefix = uniquePrefix("proto-worker");
    const s = subjects(prefix);
    await startWorkers(pool, nats.nc, url, prefix, ["proto-w0", "proto-w1"]);
    const base = (await runCoordinator("proto-baseline", chaosConfig(prefix), url)).outcome;

    // The foreign worker: a v2 task.pull with a field v1 does not know, until the
    // coordinator has answered a few; then a v2 task.result.
    const replies: ErrorMessage[] = [];
    let stop = false;
    const foreign = (async () => {
      const pull = rawPackr.pack({ v: OTHER, type: "task.pull", workerId: "proto-v2-worker", backend: "future", capabilities: ["sparse"] });
      while (!stop && replies.length < 3) {
        let msg: Msg;
        try {
          msg = await nats.nc.request(s.pull, pull, { timeout: 2000 });
        } catch (err) {
          if (!isNoAnswer(err)) throw err;
          await sleep(10); // no coordinator yet
          continue;
        }
        replies.push(decodeMessage(msg.data, ["error"]));
      }
      if (stop) return;
      const result = rawPackr.pack({ v: OTHER, type: "task.result", runId: "r", taskId: "t00", leaseId: "t00.1", workerId: "proto-v2-worker", pairs: [] });
      replies.push(decodeMessage((await nats.nc.request(s.result, result, { timeout: 2000 })).data, ["error"]));
    })();
    foreign.catch(() => undefined); // surfaces at `await foreign` below
    let outcome: Outcome;
    let log: string;
    try {
      ({ outcome, log } = await runCoordinator("proto-worker", chaosConfig(prefix), url));
    } finally {
      stop = true;
      await foreign;
    }

    expect(replies.length, "answers to the foreign worker").toBeGreaterThanOrEqual(1);
    for (const r of replies) {
      expect(r.code).toBe("protocol_version");
      expect(r.message).toMatch(BOTH_VERSIONS);
    }
    expect(log).toMatch(new RegExp(`refused a message on ${s.pull.replace(/\./g, "\\.")} .*${BOTH_VERSIONS.source}`));
    expect(outcome.run.faults.refusedMessages).toBeGreaterThanOrEqual(replies.length);
    expect(outcome.run.workers.map((w) => w.id)).not.toContain("proto-v2-worker");
    console.log(`[chaos proto-worker] ${replies.length} v${OTHER} messages answered: ${replies[0]!.code}: ${replies[0]!.message}`);
    expectSameAsBaseline("proto-worker", outcome, base, `${replies.length} v${OTHER} task.pull/task.result messages from a foreign worker`);
  });

  it(`a worker facing a v${OTHER} coordinator exits non-zero, naming v${PROTOCOL_VERSION} and v${OTHER}`, async () => {
    const prefix = uniquePrefix("proto-coordinator");
    const pulls: TaskPullMessage[] = [];
    // The fake coordinator: answers every pull with a v2 task of a shape v1 does not know.
    const sub = nats.nc.subscribe(subjects(prefix).pull, {
      callback: (_err, msg) => {
        try {
          pulls.push(decodeTaskPull(msg.data));
        } catch {
          // only counting well-formed v1 pulls
        }
        msg.respond(rawPackr.pack({ v: OTHER, type: "task", runId: "future-run", taskId: "t00", leaseId: "t00.1", leaseMs: 60_000, work: { kind: "hessian", pairs: [0, 1] } }));
      },
    });
    try {
      const worker = pool.add(spawnWorker(url, prefix, "proto-v1-worker"));
      const code = await exitWithin({ ...worker, stdout: worker.output, stderr: worker.output }, "the v1 worker facing a v2 coordinator");
      expect(code, worker.output()).not.toBe(0);
      expect(code, worker.output()).not.toBeNull();
      expect(worker.output()).toMatch(BOTH_VERSIONS);
      expect(pulls.length, "the worker pulled with a valid v1 task.pull").toBeGreaterThanOrEqual(1);
      expect(pulls[0]!.workerId).toBe("proto-v1-worker");
      const line = worker.output().split("\n").find((l) => BOTH_VERSIONS.test(l));
      console.log(`[chaos proto-coordinator] worker exit ${code}: ${line}`);
    } finally {
      sub.unsubscribe();
    }
  });
});
