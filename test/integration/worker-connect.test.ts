// A worker's first connection, and its id, against real nats-server and worker processes
// (dist/, build first): a worker started before its server waits, says so once, and serves
// the run once the server is up; with nobody there it gives up after --connect-timeout
// naming the URL and the last error, after one "waiting" line; a refused login is not
// retried. Two workers given one --id: one is refused, naming the other's host and pid.
// Workers started before the coordinator appear in results.json with host and version.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { PACKAGE_VERSION } from "../../src/util/package-root.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { freePort } from "../helpers/nats-cluster.js";
import { startUsersServer } from "../helpers/nats-auth.js";
import { spawnWorker, stopWorkers, type TestWorker } from "../helpers/workers.js";

const EXAMPLE_DATA = resolve("examples/data");
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const dir = mkdtempSync(join(tmpdir(), "gradswarm-connect-"));

function writeConfig(prefix: string): string {
  const path = join(dir, `${prefix.replace(/\./g, "_")}.yaml`);
  writeFileSync(
    path,
    `model: {kind: mlp, layers: [784, 8, 10], activation: tanh, seed: 3}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 500}
pairs: {count: 10, batch_size: 16, seed: 11, per_task: 5}
workers: {lease_s: 10, wait_s: 60}
nats: {prefix: ${prefix}}
`,
  );
  return path;
}

interface RunWorkers {
  run: { workers: { id: string; host: string; backend: string; device: string; version: string; pairs: number }[] };
}

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > giveUp) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("a worker's first connection and its id", () => {
  const workers: TestWorker[] = [];
  const servers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await stopWorkers(workers);
    for (const s of servers) await s.close();
  });

  it("a worker started before its server waits, says so once, and serves the run; results.json names it with host and version", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const prefix = uniquePrefix("early");
    const w = spawnWorker(url, prefix, "early-w", ["--connect-timeout", "120"]);
    workers.push(w);
    await until("the waiting line", () => w.output().includes("waiting for NATS"));
    await new Promise((r) => setTimeout(r, 1500)); // a few more tries: still one line
    const nats: NatsFixture = await startNats({ port });
    servers.push(nats);
    await until("the connected line", () => w.output().includes("connected to NATS"));
    const out = join(dir, "early");
    await runJob({ configPath: writeConfig(prefix), natsUrl: url, outDir: out, stream: quiet });
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as RunWorkers;
    expect(results.run.workers.map((x) => [x.id, x.host, x.backend, x.version])).toEqual([["early-w", hostname(), "wasm", PACKAGE_VERSION]]);
    expect(results.run.workers[0]!.device).not.toBe("");
    expect(results.run.workers[0]!.pairs).toBe(10);
    expect(count(w.output(), "waiting for NATS"), w.output()).toBe(1);
    expect(w.output()).toContain(`waiting for NATS at ${url} (connection refused`);
    expect(w.output()).toContain("retrying up to 120 s");
    expect(count(w.output(), "connected to NATS"), w.output()).toBe(1);
  });

  it("with no server, gives up after --connect-timeout with exit 1, naming the URL and the last error, after one waiting line", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const w = spawnWorker(url, uniquePrefix("never"), "never-w", ["--connect-timeout", "3"]);
    workers.push(w);
    expect(await w.exited, w.output()).toBe(1);
    expect(w.output()).toMatch(new RegExp(`worker: cannot connect to NATS at ${url}: connection refused \\(connect ECONNREFUSED [^)]*\\); gave up after 3 s and \\d+ tries \\(--connect-timeout\\)`));
    expect(count(w.output(), "waiting for NATS"), w.output()).toBe(1);
  });

  it("a refused login is not retried: exit 1 at once, the password nowhere", async () => {
    const server = await startUsersServer({ passwords: { alice: "right-horse-battery" } });
    servers.push({ close: () => server.stop() });
    const url = server.url.replace("nats://", "nats://alice:wrong-staple-9@");
    // The default --connect-timeout is 300 s: a retried refusal would run into the test's timeout.
    const w = spawnWorker(url, uniquePrefix("refused"), "refused-w");
    workers.push(w);
    expect(await w.exited, w.output()).toBe(1);
    expect(w.output()).toContain(`cannot connect to NATS at ${server.url.replace("nats://", "nats://alice:***@")}: Authorization Violation`);
    expect(w.output()).not.toContain("waiting for NATS");
    expect(w.output()).not.toContain("wrong-staple-9");
  });

  it("two workers given one --id: one is refused, naming the other's host and pid; the run goes on with the other", async () => {
    const nats = await startNats();
    servers.push(nats);
    const prefix = uniquePrefix("dup");
    const a = spawnWorker(nats.server.url, prefix, "twin");
    const b = spawnWorker(nats.server.url, prefix, "twin");
    workers.push(a, b);
    await until("both workers pulling", () => [a, b].every((w) => w.output().includes("waiting for a coordinator")));
    const out = join(dir, "dup");
    await runJob({ configPath: writeConfig(prefix), natsUrl: nats.server.url, outDir: out, stream: quiet });
    const exits = await Promise.race([Promise.all([a.exited, b.exited]), new Promise((r) => setTimeout(() => r("running"), 2000))]);
    expect(exits).toBe("running"); // one keeps serving
    const [refused, kept] = b.process.exitCode === 1 ? [b, a] : [a, b];
    expect(refused.process.exitCode, `${a.output()}\n----\n${b.output()}`).toBe(1);
    expect(kept.process.exitCode).toBeNull();
    expect(refused.output()).toContain(`the coordinator refused this worker: duplicate_worker_id: the worker id twin is in use by another live worker on host ${hostname()} (pid ${kept.process.pid})`);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as RunWorkers;
    expect(results.run.workers.map((x) => [x.id, x.host, x.version, x.pairs])).toEqual([["twin", hostname(), PACKAGE_VERSION, 10]]);
  });
});
