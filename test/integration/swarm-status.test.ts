// `coordinator workers` and `coordinator status` on a real swarm: three workers, two runs
// in progress on one prefix. Both commands (the CLI, as users run it) list them, in their
// --json rows and in the table; once the runs are interrupted, their run.end frees the
// workers and `status` lists nothing.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunAborted, runJob } from "../../src/coordinator/run.js";
import type { RunRow, WorkerRow } from "../../src/coordinator/swarm-census.js";
import { subjects } from "../../src/protocol/index.js";
import { distFile, PACKAGE_VERSION } from "../../src/util/package-root.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { RunWatch } from "../helpers/runs.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const run = promisify(execFile);
const EXAMPLE_DATA = resolve("examples/data");
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
/** More pairs than the test lets the runs get through: they are interrupted once listed. */
const PAIRS = 4000;

function writeConfig(dir: string, name: string, prefix: string, seed: number): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `model: {kind: mlp, layers: [784, 24, 10], activation: tanh, seed: ${seed}}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: ${PAIRS}, batch_size: 32, seed: ${seed}, per_task: 5}
workers: {lease_s: 5, wait_s: 60}
nats: {prefix: ${prefix}}
`,
  );
  return path;
}

async function coordinator(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, [distFile("coordinator/cli.js"), ...args], { encoding: "utf8" });
  // Nothing it heard was refused (e.g. the server's "no responders" to its run.list when no run is in progress).
  if (stderr.includes("did not decode")) throw new Error(`coordinator ${args[0]}: ${stderr}`);
  return stdout;
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("coordinator workers and coordinator status", () => {
  let nats: NatsFixture;
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-status-"));
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await nats?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("list the three workers and the two runs in progress; after the runs are interrupted, no run", async () => {
    const prefix = uniquePrefix("status");
    const url = nats.server.url;
    for (const id of ["st-w0", "st-w1", "st-w2"]) workers.push(spawnWorker(url, prefix, id));
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
    const watch = new RunWatch(nats.nc, prefix);
    const configs = [writeConfig(dir, "run-one", prefix, 3), writeConfig(dir, "run-two", prefix, 4)];
    const aborts = configs.map(() => new AbortController());
    const jobs = configs.map((configPath, i) => runJob({ configPath, natsUrl: url, outDir: join(dir, `out-${i}`), stream: quiet, signal: aborts[i]!.signal }));
    for (const j of jobs) j.catch(() => undefined); // awaited below
    try {
      // Both runs under way, each with results accepted and workers pulling.
      await until("both runs announced with progress", () => [...watch.announces.values()].filter((a) => a.done >= 15 && a.workers > 0).length === 2);
      const runIds = [...watch.announces.keys()].sort();

      const listed = JSON.parse(await coordinator("workers", "--nats", url, "--prefix", prefix, "--json")) as WorkerRow[];
      expect(listed.map((w) => w.id)).toEqual(["st-w0", "st-w1", "st-w2"]);
      for (const w of listed) {
        expect(w.host).toBe(hostname());
        expect(w.pid).toBe(workers.find((x) => x.id === w.id)!.process.pid);
        expect(w.backend).toBe("wasm");
        expect(w.version).toBe(PACKAGE_VERSION);
        expect(["idle", "busy"]).toContain(w.state);
        if (w.run !== null) expect(runIds).toContain(w.run);
        expect(w.tasks_done).toBeGreaterThanOrEqual(0);
        expect(w.gradients_per_s).toBeGreaterThanOrEqual(0);
        expect(w.last_heartbeat_s).not.toBeNull();
        expect(w.last_heartbeat_s!).toBeLessThan(5);
      }
      // Between them they have done tasks (of one run or the other) at a measured rate.
      expect(listed.reduce((s, w) => s + w.tasks_done!, 0)).toBeGreaterThan(0);
      expect(listed.some((w) => w.gradients_per_s! > 0)).toBe(true);

      const status = JSON.parse(await coordinator("status", "--nats", url, "--prefix", prefix, "--json")) as RunRow[];
      expect(status.map((r) => r.run_id).sort()).toEqual(runIds);
      expect(status.map((r) => r.label).sort()).toEqual(configs.map((c) => basename(c)).sort());
      for (const r of status) {
        expect(r.phase).toBe("theta/pairs");
        expect(r.total).toBe(PAIRS);
        expect(r.done).toBeGreaterThan(0);
        expect(r.done).toBeLessThan(PAIRS);
        expect(r.workers).toBeGreaterThanOrEqual(1);
        expect(r.workers).toBeLessThanOrEqual(3);
        expect(r.retries).toBe(0);
        expect(r.quarantines).toBe(0);
        expect(r.eta_s).not.toBeNull();
        expect(r.eta_s!).toBeGreaterThan(0);
        expect(Date.parse(r.started)).toBeLessThanOrEqual(Date.now());
      }
      const text = await coordinator("status", "--nats", url, "--prefix", prefix);
      const lines = text.trim().split("\n");
      expect(lines[0]).toMatch(/^run\s+label\s+owner\s+phase\s+progress\s+eta\s+workers\s+retries\s+quarantines$/);
      expect(lines).toHaveLength(3);
      for (const id of runIds) expect(lines.some((l) => l.startsWith(id) && l.includes("theta/pairs") && new RegExp(`\\d+/${PAIRS} \\(\\d+%\\)`).test(l))).toBe(true);
    } finally {
      for (const a of aborts) a.abort();
    }
    for (const j of jobs) await expect(j).rejects.toBeInstanceOf(RunAborted);
    // Interrupted runs say so: their workers stop pulling them, and nothing is in progress.
    await until("both run.end heard", () => watch.ended.size === 2, 10_000);
    expect([...watch.ended].sort()).toEqual([...watch.announces.keys()].sort());
    for (const id of watch.ended) {
      for (const w of workers) await until(`${w.id} hears run ${id} end`, () => w.output().includes(`run ${id} interrupted; no more pulls to it`), 10_000);
    }
    watch.stop();
    expect(JSON.parse(await coordinator("status", "--nats", url, "--prefix", prefix, "--json"))).toEqual([]);
    // A task in hand when its run ended is finished (its reply dropped): then every worker is idle.
    let idle: WorkerRow[] = [];
    for (let i = 0; i < 5 && !(idle.length === 3 && idle.every((w) => w.state === "idle")); i++) idle = JSON.parse(await coordinator("workers", "--nats", url, "--prefix", prefix, "--json")) as WorkerRow[];
    expect(idle.map((w) => [w.id, w.state, w.run])).toEqual(["st-w0", "st-w1", "st-w2"].map((id) => [id, "idle", null]));
    // Started before any run, each worker's run.list drew the server's "no responders": not a bad message.
    for (const w of workers) expect(w.output()).not.toContain("ignored a bad");
  });
});
