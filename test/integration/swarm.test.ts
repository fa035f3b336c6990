// The whole path on a real nats-server: 1 worker, 3 workers, and 3 workers with one
// SIGKILLed in the middle of a task give bit-identical measures and pairs.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Packr } from "msgpackr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { decodeWorkerHeartbeat, PROTOCOL_VERSION, subjects } from "../../src/protocol/index.js";
import { PACKAGE_VERSION } from "../../src/util/package-root.js";
import { Rng } from "../../src/util/rng.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { RunWatch } from "../helpers/runs.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const EXAMPLE_DATA = resolve("examples/data");
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

function writeConfig(dir: string, prefix: string): string {
  const path = join(dir, `${prefix.replace(/\./g, "_")}.yaml`);
  writeFileSync(
    path,
    `model: {kind: mlp, layers: [784, 24, 10], activation: tanh, seed: 3}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: 60, batch_size: 32, seed: 11, per_task: 5}
workers: {lease_s: 3, wait_s: 60}
nats: {prefix: ${prefix}}
`,
  );
  return path;
}

interface Outcome {
  results: { measures: unknown; layers: unknown; tensors: unknown; run: { faults: { expiredLeases: number; duplicateResults: number; staleResults: number }; workers: { id: string; host: string; version: string; pairs: number }[] } };
  pairs: string;
}

describe("a run on a real NATS swarm", () => {
  let nats: NatsFixture;
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-swarm-"));
  const outcomes: Record<string, Outcome> = {};

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.close();
  });

  async function runWith(label: string, workerCount: number, killOne: boolean, hostile = false): Promise<Outcome> {
    const prefix = uniquePrefix(label);
    const workers: TestWorker[] = [];
    for (let i = 0; i < workerCount; i++) workers.push(spawnWorker(nats.server.url, prefix, `${label}-w${i}`));
    // All workers up before the run starts, so that the work is really spread.
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
    let killed: string | null = null;
    if (killOne) {
      const victim = workers[workerCount - 1]!;
      const sub = nats.nc.subscribe(subjects(prefix).heartbeat, {
        callback: (_err, msg) => {
          const hb = decodeWorkerHeartbeat(msg.data);
          if (hb.workerId === victim.id && hb.state === "busy" && !killed) {
            killed = hb.taskId;
            victim.process.kill("SIGKILL");
            sub.unsubscribe();
          }
        },
      });
    }
    const replies: string[] = [];
    let stopHostile = () => {};
    if (hostile) stopHostile = sendHostileMessages(prefix, replies);
    try {
      const out = join(dir, label);
      await runJob({ configPath: writeConfig(dir, prefix), natsUrl: nats.server.url, outDir: out, stream: quiet });
      const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Outcome["results"];
      const pairs = readFileSync(join(out, "pairs.jsonl"), "utf8");
      if (killOne) {
        expect(killed, "the victim was killed while holding a task").not.toBeNull();
        const f = results.run.faults;
        console.log(`[kill test] tasks 12, faults injected 1 (SIGKILL during task ${killed}), leases expired ${f.expiredLeases}, results lost 0 (${pairs.trim().split("\n").length}/60 pairs), counted twice 0 (duplicates refused: ${f.duplicateResults + f.staleResults})`);
        expect(f.expiredLeases).toBeGreaterThanOrEqual(1);
      }
      if (hostile) {
        stopHostile();
        expect(replies.some((r) => r.includes("bad_message"))).toBe(true);
        expect(replies.some((r) => r.includes("protocol_version") && r.includes(`v${PROTOCOL_VERSION}`) && r.includes(`v${PROTOCOL_VERSION + 1}`))).toBe(true);
      }
      return { results, pairs };
    } finally {
      stopHostile();
      await stopWorkers(workers);
    }
  }

  /**
   * Garbage, a foreign protocol version and a prototype-pollution attempt on every subject
   * the coordinator listens on, while the run goes on. Replies are collected as text.
   */
  function sendHostileMessages(prefix: string, replies: string[]): () => void {
    const s = subjects(prefix);
    const runs = new RunWatch(nats.nc, prefix);
    const packr = new Packr({ useRecords: false });
    const rng = new Rng(1);
    const payloads = [
      () => Uint8Array.from({ length: 1 + rng.nextInt(64) }, () => rng.nextInt(256)),
      () => packr.pack({ v: PROTOCOL_VERSION + 1, type: "task.pull", workerId: "intruder", backend: "cpu" }),
      () => packr.pack(JSON.parse(`{"v": ${PROTOCOL_VERSION}, "type": "task.pull", "workerId": "x", "backend": "cpu", "__proto__": {"polluted": 1}}`)),
      () => packr.pack({ v: PROTOCOL_VERSION, type: "task.result", runId: "r", taskId: "t0", leaseId: "t0.1", workerId: "x", computeMs: 1, tensors: ["a"], tensorSizes: [1], pairs: [{ id: 0, loss: [NaN, 1], norm: [1, 1], dot: 0, tensorNorm: [[1], [1]], tensorDot: [0], metrics: [] }] }),
    ];
    const timer = setInterval(() => {
      // The run's task subjects once it is announced, and the prefix-wide ones the coordinator answers.
      const run = runs.current();
      for (const subject of [...(run ? [run.pull, run.result, run.error] : []), s.heartbeat, s.announce, s.runList]) {
        const data = payloads[rng.nextInt(payloads.length)]!();
        nats.nc.request(subject, data, { timeout: 500 }).then(
          (m) => replies.push(new TextDecoder().decode(m.data)),
          () => undefined,
        );
      }
    }, 20);
    return () => {
      clearInterval(timer);
      runs.stop();
    };
  }

  it("with 1 worker", async () => {
    outcomes.one = await runWith("one", 1, false);
    expect(outcomes.one.results.run.workers.filter((w) => w.pairs > 0)).toHaveLength(1);
  });

  it("with 3 workers: identical measures and pairs", async () => {
    outcomes.three = await runWith("three", 3, false);
    expect(outcomes.three.results.run.workers.filter((w) => w.pairs > 0).length).toBeGreaterThanOrEqual(2);
    // Started before the coordinator, they are named all the same (it asks for the worker list).
    expect(outcomes.three.results.run.workers.map((w) => [w.id, w.host, w.version]).sort()).toEqual(["three-w0", "three-w1", "three-w2"].map((id) => [id, hostname(), PACKAGE_VERSION]));
    expect(outcomes.three.results.measures).toEqual(outcomes.one!.results.measures);
    expect(outcomes.three.results.layers).toEqual(outcomes.one!.results.layers);
    expect(outcomes.three.results.tensors).toEqual(outcomes.one!.results.tensors);
    expect(outcomes.three.pairs).toBe(outcomes.one!.pairs);
  });

  it("with 2 workers and hostile messages on every subject: the run goes on, identical", async () => {
    outcomes.hostile = await runWith("hostile", 2, false, true);
    expect(outcomes.hostile.results.measures).toEqual(outcomes.one!.results.measures);
    expect(outcomes.hostile.pairs).toBe(outcomes.one!.pairs);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("with 3 workers and one SIGKILLed mid-task: identical measures and pairs", async () => {
    outcomes.killed = await runWith("killed", 3, true);
    expect(outcomes.killed.results.measures).toEqual(outcomes.one!.results.measures);
    expect(outcomes.killed.results.layers).toEqual(outcomes.one!.results.layers);
    expect(outcomes.killed.results.tensors).toEqual(outcomes.one!.results.tensors);
    expect(outcomes.killed.pairs).toBe(outcomes.one!.pairs);
  });
});
