// Prometheus metrics of real runs on a real nats-server, with a real worker process
// (`worker --metrics-port 0`): `coordinator run --metrics-port 0` scraped while it waits
// for workers and while they compute, then the worker's numbers after the run checked
// against results.json; and a second run (runJob, the coordinator's registry read after
// it) where the coordinator's and the worker's counts are compared with results.json and
// with each other, exactly. Waits follow progress (a line printed, a scrape that changed,
// a process that exited), never a fixed time.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { CoordinatorMetrics } from "../../src/metrics/coordinator.js";
import { hasExited, terminate } from "../../src/util/child-process.js";
import { distFile } from "../../src/util/package-root.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { parsePrometheusText, sampleValue, samples, valueOr0, type Sample } from "../helpers/prometheus-text.js";
import { spawnWorker, type TestWorker } from "../helpers/workers.js";

const PAIRS = 24;
const PER_TASK = 2;
const TASKS = PAIRS / PER_TASK;
const PHASE = { phase: "theta/pairs" };

interface Results {
  run: {
    run_id: string;
    pairs: { count: number; tasks: number; computed: number };
    dataset: { bytes: number };
    snapshot: { bytes: number };
    workers: { id: string; tasks: number; pairs: number }[];
    faults: { expiredLeases: number; taskErrors: number; rejectedResults: number; duplicateResults: number; staleResults: number; quarantinedWorkers: number };
  };
}

function writeConfig(dir: string, prefix: string, modelSeed: number, extra = ""): string {
  const path = join(dir, `seed-${modelSeed}.yaml`);
  writeFileSync(
    path,
    `model: {kind: mlp, layers: [6, 16, 3], seed: ${modelSeed}}
data: {kind: synthetic, n: 200, features: 6, classes: 3, seed: 5}
pairs: {count: ${PAIRS}, batch_size: 8, seed: 3, per_task: ${PER_TASK}}
workers: {wait_s: 300}
nats: {prefix: ${prefix}}
${extra}`,
  );
  return path;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return parsePrometheusText(await res.text());
}

/** Resolves with the first match of `pattern` in what `output()` has printed; fails if the process exits first. */
async function printed(output: () => string, child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  for (;;) {
    const m = pattern.exec(output());
    if (m) return m;
    if (hasExited(child)) throw new Error(`exited (${child.exitCode}) without printing ${pattern}:\n${output()}`);
    await sleep(50);
  }
}

/** Scrapes until `done` holds; fails if the process exits first. */
async function scrapeUntil(url: string, child: ChildProcess, done: (s: Sample[]) => boolean): Promise<Sample[]> {
  for (;;) {
    if (hasExited(child)) throw new Error(`exited (${child.exitCode}) before the scrape showed what was waited for`);
    const s = await scrape(url);
    if (done(s)) return s;
    await sleep(50);
  }
}

/** What the worker's counters say, to compare before and after a run. */
function workerCounts(s: Sample[]) {
  return {
    tasksDone: sampleValue(s, "gradswarm_worker_tasks_done_total"),
    tasksFailed: sampleValue(s, "gradswarm_worker_tasks_failed_total"),
    gradients: sampleValue(s, "gradswarm_worker_gradients_total"),
    computed: valueOr0(s, "gradswarm_worker_compute_seconds_count", { job: "pairs" }),
    taskBytes: valueOr0(s, "gradswarm_worker_received_bytes_total", { kind: "task" }),
    blobBytes: valueOr0(s, "gradswarm_worker_received_bytes_total", { kind: "blob" }),
    resultBytes: valueOr0(s, "gradswarm_worker_sent_bytes_total", { kind: "task.result" }),
  };
}

function minus(a: ReturnType<typeof workerCounts>, b: ReturnType<typeof workerCounts>) {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - b[k as keyof typeof b]])) as ReturnType<typeof workerCounts>;
}

/** The queue gauge of the pairs phase, or null when no phase runs. */
function queue(s: Sample[]): { pending: number; leased: number; done: number } | null {
  const q = samples(s, "gradswarm_coordinator_phase_tasks", PHASE);
  if (q.length === 0) return null;
  const at = (state: string) => sampleValue(q, "gradswarm_coordinator_phase_tasks", { state });
  return { pending: at("pending"), leased: at("leased"), done: at("done") };
}

describe("Prometheus metrics of a real run", () => {
  let nats: NatsFixture;
  let worker: TestWorker | null = null;
  let workerUrl = "";
  const prefix = uniquePrefix("metrics");
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-metrics-"));

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    if (worker) await terminate(worker.process, 5000);
    await nats?.close();
  });

  it("coordinator run --metrics-port 0: scraped while it waits for workers and while one computes; the worker's counts after it match results.json", async () => {
    const out = join(dir, "cli-run");
    const child = spawn(process.execPath, [distFile("coordinator/cli.js"), "run", writeConfig(dir, prefix, 1), "--nats", nats.server.url, "--out", out, "--metrics-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    child.stdout!.on("data", () => undefined);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const coordinatorUrl = (await printed(() => log, child, /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;

      // No worker yet: the whole phase waits in the queue.
      const waiting = await scrapeUntil(coordinatorUrl, child, (s) => queue(s) !== null);
      expect(queue(waiting)).toEqual({ pending: TASKS, leased: 0, done: 0 });
      expect(sampleValue(waiting, "gradswarm_coordinator_workers_live")).toBe(0);
      expect(valueOr0(waiting, "gradswarm_coordinator_tasks_done_total", PHASE)).toBe(0);
      const runLabel = samples(waiting, "gradswarm_coordinator_phase_tasks")[0]!.labels.run!;

      worker = spawnWorker(nats.server.url, prefix, "metrics-w0", ["--metrics-port", "0"]);
      workerUrl = (await printed(worker.output, worker.process, /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
      const before = workerCounts(await scrape(workerUrl));
      expect(before).toMatchObject({ tasksDone: 0, tasksFailed: 0, gradients: 0, computed: 0 });

      // While the run goes: every scrape consistent, counters never going back.
      let last = { done: 0, gradients: 0, workerDone: 0 };
      let scrapes = 0;
      while (!hasExited(child)) {
        let res: Response;
        try {
          res = await fetch(coordinatorUrl);
        } catch {
          // Refused: the run ended (the coordinator stops serving its metrics before it
          // exits). Whether it ended well is what its exit code says, below.
          break;
        }
        expect(res.status).toBe(200);
        const c = parsePrometheusText(await res.text());
        const w = await scrape(workerUrl);
        scrapes++;
        const q = queue(c);
        const done = valueOr0(c, "gradswarm_coordinator_tasks_done_total", PHASE);
        const gradients = valueOr0(c, "gradswarm_coordinator_gradients_total", PHASE);
        if (q) {
          expect(q.pending + q.leased + q.done).toBe(TASKS);
          expect(q.done).toBe(done);
        }
        expect(gradients).toBe(2 * valueOr0(c, "gradswarm_coordinator_units_done_total", PHASE));
        expect(done).toBeGreaterThanOrEqual(last.done);
        expect(gradients).toBeGreaterThanOrEqual(last.gradients);
        const busyOrIdle = ["busy", "idle"].map((state) => sampleValue(w, "gradswarm_worker_state", { state }));
        expect(sampleValue(w, "gradswarm_worker_up")).toBe(1);
        if (sampleValue(w, "gradswarm_worker_ready") === 1) expect(busyOrIdle[0]! + busyOrIdle[1]!).toBe(1);
        const workerDone = sampleValue(w, "gradswarm_worker_tasks_done_total");
        expect(workerDone).toBeGreaterThanOrEqual(last.workerDone);
        last = { done, gradients, workerDone };
        await sleep(50);
      }
      expect(await exited, log).toBe(0);
      expect(scrapes).toBeGreaterThan(0);
      // The coordinator stopped serving when it ended.
      await expect(fetch(coordinatorUrl)).rejects.toThrow();

      const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Results;
      expect(results.run.run_id).toBe(runLabel);
      expect(results.run.pairs.tasks).toBe(TASKS);
      expect(results.run.workers).toMatchObject([{ id: "metrics-w0", tasks: TASKS, pairs: PAIRS }]);
      // The worker outlives the run: its counts, once the last ack came, are the run's.
      const after = workerCounts(await scrapeUntil(workerUrl, worker.process, (s) => sampleValue(s, "gradswarm_worker_tasks_done_total") === TASKS && sampleValue(s, "gradswarm_worker_state", { state: "idle" }) === 1));
      expect(minus(after, before)).toMatchObject({ tasksDone: TASKS, tasksFailed: 0, gradients: 2 * PAIRS, computed: TASKS, blobBytes: results.run.dataset.bytes + results.run.snapshot.bytes });
      expect(after.taskBytes).toBeGreaterThan(0);
      expect(after.resultBytes).toBeGreaterThan(0);
      const w = await scrape(workerUrl);
      expect(sampleValue(w, "gradswarm_worker_ready")).toBe(1);
      expect(samples(w, "gradswarm_worker_info")).toMatchObject([{ labels: { id: "metrics-w0", backend: "wasm" }, value: 1 }]);
      expect((await fetch(workerUrl.replace(/\/metrics$/, "/ready"))).status).toBe(200);
    } finally {
      if (!hasExited(child)) await terminate(child, 5000);
    }
  });

  it("runJob with metrics (metrics.port in the config): the coordinator's counts after the run equal results.json and the worker's", async () => {
    expect(worker, "the worker of the first test").not.toBeNull();
    const before = workerCounts(await scrape(workerUrl));
    const metrics = new CoordinatorMetrics();
    let log = "";
    const stream = { write: (s: string) => ((log += s), true), isTTY: false } as unknown as NodeJS.WriteStream;
    const out = join(dir, "runjob");
    // Another θ (model seed), the same dataset: the worker fetches only the new snapshot.
    // The port from the config this time.
    await runJob({ configPath: writeConfig(dir, prefix, 2, "metrics: {port: 0}\n"), natsUrl: nats.server.url, outDir: out, stream, metrics });
    const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(log)?.[1];
    expect(url, log).toBeDefined();
    await expect(fetch(url!)).rejects.toThrow();

    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Results;
    const c = parsePrometheusText(await metrics.registry.metrics());
    expect(sampleValue(c, "gradswarm_coordinator_tasks_done_total", PHASE)).toBe(results.run.pairs.tasks);
    expect(sampleValue(c, "gradswarm_coordinator_units_done_total", PHASE)).toBe(results.run.pairs.computed);
    expect(sampleValue(c, "gradswarm_coordinator_gradients_total", PHASE)).toBe(2 * results.run.pairs.count);
    expect(valueOr0(c, "gradswarm_coordinator_tasks_failed_total", PHASE)).toBe(results.run.faults.taskErrors);
    expect(valueOr0(c, "gradswarm_coordinator_tasks_retried_total", PHASE)).toBe(0);
    expect(sampleValue(c, "gradswarm_coordinator_leases_expired_total")).toBe(results.run.faults.expiredLeases);
    expect(sampleValue(c, "gradswarm_coordinator_results_refused_total", { reason: "bad" })).toBe(results.run.faults.rejectedResults);
    expect(sampleValue(c, "gradswarm_coordinator_results_refused_total", { reason: "duplicate" })).toBe(results.run.faults.duplicateResults);
    expect(sampleValue(c, "gradswarm_coordinator_results_refused_total", { reason: "stale" })).toBe(results.run.faults.staleResults);
    expect(sampleValue(c, "gradswarm_coordinator_workers_quarantined_total")).toBe(results.run.faults.quarantinedWorkers);
    // After the run no phase runs: no queue.
    expect(queue(c)).toBeNull();

    const after = workerCounts(await scrapeUntil(workerUrl, worker!.process, (s) => sampleValue(s, "gradswarm_worker_tasks_done_total") === before.tasksDone + TASKS && sampleValue(s, "gradswarm_worker_state", { state: "idle" }) === 1));
    const delta = minus(after, before);
    expect(delta).toMatchObject({ tasksDone: TASKS, tasksFailed: 0, gradients: 2 * PAIRS, computed: TASKS, blobBytes: results.run.snapshot.bytes });
    // What one side sent, the other received, byte for byte.
    expect(sampleValue(c, "gradswarm_coordinator_sent_bytes_total", { type: "task" })).toBe(delta.taskBytes);
    expect(sampleValue(c, "gradswarm_coordinator_received_bytes_total", { type: "task.result" })).toBe(delta.resultBytes);
  });

  it("a metrics port in use stops the worker and the coordinator (exit 1, naming it); a bad port is a bad argument (exit 2)", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = (args: string[]) => spawnSync(process.execPath, args, { encoding: "utf8", timeout: 120_000 });
      const message = `cannot serve metrics on 127.0.0.1:${port}: the port is in use`;
      const w = run([distFile("worker/cli.js"), "--nats", nats.server.url, "--prefix", uniquePrefix("metrics-taken"), "--backend", "cpu", "--metrics-port", String(port)]);
      expect(w.status, w.stderr).toBe(1);
      expect(w.stderr).toContain(`worker: ${message}`);
      const c = run([distFile("coordinator/cli.js"), "run", writeConfig(dir, uniquePrefix("metrics-taken"), 3), "--nats", nats.server.url, "--out", join(dir, "taken"), "--metrics-port", String(port)]);
      expect(c.status, c.stderr).toBe(1);
      expect(c.stderr).toContain(`coordinator: ${message}`);
      for (const cli of ["worker/cli.js", "coordinator/cli.js"]) {
        const args = cli === "worker/cli.js" ? ["--nats", nats.server.url] : ["run", "x.yaml"];
        const bad = run([distFile(cli), ...args, "--metrics-port", "65536"]);
        expect(bad.status, bad.stderr).toBe(2);
        expect(bad.stderr).toContain("expected a port from 0 (a free one) to 65535");
      }
      const hostOnly = run([distFile("worker/cli.js"), "--nats", nats.server.url, "--metrics-host", "0.0.0.0"]);
      expect(hostOnly.status, hostOnly.stderr).toBe(2);
      expect(hostOnly.stderr).toContain("--metrics-host needs --metrics-port");
    } finally {
      taken.close();
    }
  });
});
