// Fault 9: a worker or a coordinator of another protocol version. A foreign worker played
// by this test (raw msgpack, so our encoder does not stop it) speaks the next version and
// the previous one (v1, whose task.result named weight tensors "layers"), pulls from a
// running coordinator and gets an `error` reply naming both versions; the run goes on with
// the honest workers and its measures are bit-identical to the fault-free run. A worker
// process facing a fake coordinator of the next version leaves with a non-zero exit code
// and both versions in its output.

import type { Msg } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNoAnswer } from "../../src/nats/connect.js";
import { decodeMessage, decodeTaskPull, PROTOCOL_VERSION, type ErrorMessage, type RunSubjects, type TaskPullMessage } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { fakeRun, RunWatch } from "../helpers/runs.js";
import { spawnWorker } from "../helpers/workers.js";
import { exitWithin, ProcessPool, rawPackr, sleep, startWorkers } from "./fault-helpers.js";
import { chaosConfig, expectSameAsBaseline, runCoordinator, type Outcome } from "./harness.js";

const OTHER = PROTOCOL_VERSION + 1;
const OLDER = PROTOCOL_VERSION - 1;
const bothVersions = (peer: number) => new RegExp(`this side speaks v${PROTOCOL_VERSION}, the peer sent v${peer}`);
const BOTH_VERSIONS = bothVersions(OTHER);

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

  it(`a v${OTHER} or v${OLDER} worker's pulls and results are refused naming both versions; the run completes identically`, async () => {
    const prefix = uniquePrefix("proto-worker");
    await startWorkers(pool, nats.nc, url, prefix, ["proto-w0", "proto-w1"]);
    const base = (await runCoordinator("proto-baseline", chaosConfig(prefix), url)).outcome;
    // The run's task subjects, once it is announced.
    const watch = new RunWatch(nats.nc, prefix);
    let s: RunSubjects | null = null;

    // The foreign worker: task.pulls of the next version (with a field this one does not
    // know) and of the previous one, in turn, until the coordinator has answered a few;
    // then a task.result of the previous version, shaped as v1 shaped it.
    const replies: { sent: number; reply: ErrorMessage }[] = [];
    let stop = false;
    const foreign = (async () => {
      const pulls = [
        { v: OTHER, bytes: rawPackr.pack({ v: OTHER, type: "task.pull", workerId: "proto-foreign-worker", backend: "future", capabilities: ["sparse"] }) },
        { v: OLDER, bytes: rawPackr.pack({ v: OLDER, type: "task.pull", workerId: "proto-foreign-worker", backend: "cpu" }) },
      ];
      while (!stop && replies.length < 3) {
        const pull = pulls[replies.length % 2]!;
        s = watch.current();
        if (!s) {
          await sleep(10); // no run announced yet
          continue;
        }
        let msg: Msg;
        try {
          msg = await nats.nc.request(s.pull, pull.bytes, { timeout: 2000 });
        } catch (err) {
          if (!isNoAnswer(err)) throw err;
          await sleep(10); // no coordinator yet
          continue;
        }
        replies.push({ sent: pull.v, reply: decodeMessage(msg.data, ["error"]) });
      }
      if (stop) return;
      const v1Pair = { id: 0, loss: [1, 1], norm: [1, 1], dot: 0, layerNorm: [[1], [1]], layerDot: [0], metrics: [] };
      const result = rawPackr.pack({ v: OLDER, type: "task.result", runId: "r", taskId: "t00", leaseId: "t00.1", workerId: "proto-foreign-worker", computeMs: 1, layers: ["a"], layerSizes: [1], pairs: [v1Pair] });
      replies.push({ sent: OLDER, reply: decodeMessage((await nats.nc.request(s!.result, result, { timeout: 2000 })).data, ["error"]) });
    })();
    foreign.catch(() => undefined); // surfaces at `await foreign` below
    let outcome: Outcome;
    let log: string;
    try {
      ({ outcome, log } = await runCoordinator("proto-worker", chaosConfig(prefix), url));
    } finally {
      stop = true;
      await foreign;
      watch.stop();
    }

    expect(replies.length, "answers to the foreign worker").toBeGreaterThanOrEqual(1);
    for (const { sent, reply } of replies) {
      expect(reply.code).toBe("protocol_version");
      expect(reply.message).toMatch(bothVersions(sent));
    }
    expect(log).toMatch(new RegExp(`refused a message on ${s!.pull.replace(/\./g, "\\.")} .*${BOTH_VERSIONS.source}`));
    expect(outcome.run.faults.refusedMessages).toBeGreaterThanOrEqual(replies.length);
    expect(outcome.run.workers.map((w) => w.id)).not.toContain("proto-foreign-worker");
    console.log(`[chaos proto-worker] ${replies.length} v${OTHER}/v${OLDER} messages answered: ${replies[0]!.reply.code}: ${replies[0]!.reply.message}`);
    expectSameAsBaseline("proto-worker", outcome, base, `${replies.length} v${OTHER}/v${OLDER} task.pull/task.result messages from a foreign worker`);
  });

  it(`a worker facing a v${OTHER} coordinator exits non-zero, naming v${PROTOCOL_VERSION} and v${OTHER}`, async () => {
    const prefix = uniquePrefix("proto-coordinator");
    const pulls: TaskPullMessage[] = [];
    // The fake coordinator: answers every pull with a task of the next version, of a shape this one does not know.
    const run = fakeRun(nats.nc, prefix);
    const sub = nats.nc.subscribe(run.subjects.pull, {
      callback: (_err, msg) => {
        try {
          pulls.push(decodeTaskPull(msg.data));
        } catch {
          // only counting well-formed pulls of this version
        }
        msg.respond(rawPackr.pack({ v: OTHER, type: "task", runId: "future-run", taskId: "t00", leaseId: "t00.1", leaseMs: 60_000, work: { kind: "hessian", pairs: [0, 1] } }));
      },
    });
    try {
      const worker = pool.add(spawnWorker(url, prefix, "proto-worker"));
      const code = await exitWithin({ ...worker, stdout: worker.output, stderr: worker.output }, `the v${PROTOCOL_VERSION} worker facing a v${OTHER} coordinator`);
      expect(code, worker.output()).not.toBe(0);
      expect(code, worker.output()).not.toBeNull();
      expect(worker.output()).toMatch(BOTH_VERSIONS);
      expect(pulls.length, `the worker pulled with a valid v${PROTOCOL_VERSION} task.pull`).toBeGreaterThanOrEqual(1);
      expect(pulls[0]!.workerId).toBe("proto-worker");
      const line = worker.output().split("\n").find((l) => BOTH_VERSIONS.test(l));
      console.log(`[chaos proto-coordinator] worker exit ${code}: ${line}`);
    } finally {
      run.end();
      sub.unsubscribe();
    }
  });
});
