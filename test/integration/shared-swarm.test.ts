// Two runs share a swarm (README.md "Share a swarm"): two coordinators with different
// configs run at once on three workers of one prefix, and one worker is SIGKILLed mid-task.
// Each run must give exactly the measures and pairs of its solo run, bit for bit, and its
// results.json must list the workers that served it (and only those).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { decodeWorkerHeartbeat, subjects } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { RunWatch } from "../helpers/runs.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const EXAMPLE_DATA = resolve("examples/data");
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

/** Two configs that differ in model seed, pair count, pairing seed and task size. */
const CONFIGS = {
  a: { modelSeed: 3, pairs: 60, pairSeed: 11, perTask: 5 },
  b: { modelSeed: 5, pairs: 48, pairSeed: 12, perTask: 4 },
};

function writeConfig(dir: string, name: keyof typeof CONFIGS, prefix: string): string {
  const c = CONFIGS[name];
  const path = join(dir, `${name}-${prefix.replace(/\./g, "_")}.yaml`);
  writeFileSync(
    path,
    `model: {kind: mlp, layers: [784, 24, 10], activation: tanh, seed: ${c.modelSeed}}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: ${c.pairs}, batch_size: 32, seed: ${c.pairSeed}, per_task: ${c.perTask}}
workers: {lease_s: 3, wait_s: 60}
nats: {prefix: ${prefix}}
`,
  );
  return path;
}

interface Outcome {
  results: {
    measures: unknown;
    layers: unknown;
    tensors: unknown;
    run: { run_id: string; workers: { id: string; pairs: number; tasks: number }[]; faults: { expiredLeases: number }; timings: { started: string; finished: string } };
  };
  pairs: string;
}

/** Resolves once the worker's output holds `line` (its run.end may trail the coordinator's return by a moment). */
async function waitLogged(w: TestWorker, line: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!w.output().includes(line)) {
    if (Date.now() > deadline) throw new Error(`worker ${w.id} did not log ${JSON.stringify(line)} within ${ms} ms:\n${w.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function outcome(out: string): Outcome {
  return { results: JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Outcome["results"], pairs: readFileSync(join(out, "pairs.jsonl"), "utf8") };
}

describe("two runs on one shared swarm", () => {
  let nats: NatsFixture;
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-shared-"));
  const solo: Partial<Record<keyof typeof CONFIGS, Outcome>> = {};
  const all: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await stopWorkers(all);
    await nats?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("each config alone (the numbers to match)", async () => {
    const prefix = uniquePrefix("shared-solo");
    const workers = ["solo-w0", "solo-w1"].map((id) => spawnWorker(nats.server.url, prefix, id));
    all.push(...workers);
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
    for (const name of ["a", "b"] as const) {
      const out = join(dir, `solo-${name}`);
      await runJob({ configPath: writeConfig(dir, name, prefix), natsUrl: nats.server.url, outDir: out, stream: quiet });
      solo[name] = outcome(out);
    }
    await stopWorkers(workers);
    expect(solo.a!.results.measures).not.toEqual(solo.b!.results.measures);
  });

  it("both at once on three workers, one SIGKILLed mid-task: each gives its solo numbers bit for bit and lists the workers that served it", async () => {
    const prefix = uniquePrefix("shared");
    const workers = ["shared-w0", "shared-w1", "shared-w2"].map((id) => spawnWorker(nats.server.url, prefix, id));
    all.push(...workers);
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
    const runs = new RunWatch(nats.nc, prefix);

    // The victim dies holding a task, once both runs are announced (whichever run its task is for).
    const victim = workers[2]!;
    let killed: { taskId: string; runId: string | null } | null = null;
    const sub = nats.nc.subscribe(subjects(prefix).heartbeat, {
      callback: (_err, msg) => {
        const hb = decodeWorkerHeartbeat(msg.data);
        if (!killed && hb.workerId === victim.id && hb.state === "busy" && runs.announces.size === 2) {
          killed = { taskId: hb.taskId!, runId: hb.runId };
          victim.process.kill("SIGKILL");
          sub.unsubscribe();
        }
      },
    });

    const outA = join(dir, "shared-a");
    const outB = join(dir, "shared-b");
    try {
      await Promise.all([
        runJob({ configPath: writeConfig(dir, "a", prefix), natsUrl: nats.server.url, outDir: outA, stream: quiet }),
        runJob({ configPath: writeConfig(dir, "b", prefix), natsUrl: nats.server.url, outDir: outB, stream: quiet }),
      ]);
    } finally {
      sub.unsubscribe();
      runs.stop();
    }
    const a = outcome(outA);
    const b = outcome(outB);

    expect(killed, "the victim was killed while holding a task of one of the runs").not.toBeNull();
    expect(await victim.exited).toBeNull(); // killed by a signal, no exit code
    // They really ran at once: each started before the other finished.
    const span = (o: Outcome) => [Date.parse(o.results.run.timings.started), Date.parse(o.results.run.timings.finished)] as const;
    expect(span(a)[0]).toBeLessThan(span(b)[1]);
    expect(span(b)[0]).toBeLessThan(span(a)[1]);
    // Both runs were announced and both said they ended.
    expect(new Set(runs.announces.keys())).toEqual(new Set([a.results.run.run_id, b.results.run.run_id]));
    expect(new Set(runs.ended)).toEqual(new Set([a.results.run.run_id, b.results.run.run_id]));

    for (const [name, o] of [["a", a], ["b", b]] as const) {
      const base = solo[name]!;
      expect(o.results.measures, `run ${name}: measures`).toEqual(base.results.measures);
      expect(o.results.layers, `run ${name}: layers`).toEqual(base.results.layers);
      expect(o.results.tensors, `run ${name}: tensors`).toEqual(base.results.tensors);
      expect(o.pairs, `run ${name}: pairs.jsonl`).toBe(base.pairs);
      // The workers that served it, each with what it did; their pairs add up to the run's.
      const served = o.results.run.workers;
      expect(served.length, `run ${name}: workers listed`).toBeGreaterThanOrEqual(2);
      for (const w of served) expect(workers.map((x) => x.id)).toContain(w.id);
      expect(served.reduce((s, w) => s + w.pairs, 0)).toBe(CONFIGS[name].pairs);
    }
    // Two workers lived through both runs: each served both (round robin across runs).
    for (const id of ["shared-w0", "shared-w1"]) {
      expect(a.results.run.workers.find((w) => w.id === id)?.tasks ?? 0, `${id} in run a`).toBeGreaterThan(0);
      expect(b.results.run.workers.find((w) => w.id === id)?.tasks ?? 0, `${id} in run b`).toBeGreaterThan(0);
    }
    // Each run's end freed the workers that lived through it: they said so, for both runs.
    for (const w of workers.slice(0, 2)) {
      for (const o of [a, b]) await waitLogged(w, `run ${o.results.run.run_id} finished; no more pulls to it`);
    }
    const expired = a.results.run.faults.expiredLeases + b.results.run.faults.expiredLeases;
    console.log(
      `[shared swarm] run a ${a.results.run.workers.map((w) => `${w.id}:${w.pairs}`).join(" ")}; run b ${b.results.run.workers.map((w) => `${w.id}:${w.pairs}`).join(" ")}; ` +
        `SIGKILL during ${killed!.taskId} of run ${killed!.runId === a.results.run.run_id ? "a" : "b"}; leases expired ${expired}; measures and pairs of both identical to their solo runs`,
    );
    expect(expired).toBeGreaterThanOrEqual(1);
  });
});
