// Fault 8: no worker at all, or all workers gone. The coordinator (the CLI, against a
// nats-server of the test's) says that it is waiting for workers, and gives up after
// workers.wait_s with exit code 1 and a message naming wait_s, instead of waiting for
// ever. Its journal stays, so that the run can be resumed once workers are back.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { exitWithin, journalLines, ProcessPool, readJournal, spawnCoordinator, startWorkers, waitUntil } from "./fault-helpers.js";
import { chaosConfig, workDir, writeConfig } from "./harness.js";

describe("chaos: no workers", () => {
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

  /** The CLI on a prefix nobody serves; returns its exit code and stderr. */
  async function runWithoutWorkers(label: string, waitS: number): Promise<{ code: number | null; stderr: string }> {
    const config = writeConfig(label, chaosConfig(uniquePrefix(label), { waitS }));
    const run = pool.add(spawnCoordinator(["run", config, "--nats", url, "--out", join(workDir, label)]));
    const code = await exitWithin(run, `the coordinator without workers (wait_s ${waitS})`);
    return { code, stderr: run.stderr() };
  }

  it("no worker at all (wait_s 4): says it waits for workers, then exits 1 naming wait_s", async () => {
    const { code, stderr } = await runWithoutWorkers("no-workers-4", 4);
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/waiting for workers on test\.no-workers-4\.[\w.-]+\.task\.pull \(giving up after 4 s\)/);
    const last = stderr.trim().split("\n").at(-1) ?? "";
    expect(last).toMatch(/^coordinator: no worker was seen for [45] s \(workers\.wait_s is 4 s\); 0 of 12 tasks of theta\/pairs done$/);
    // The message comes before giving up, not with it.
    expect(stderr.indexOf("waiting for workers")).toBeLessThan(stderr.indexOf(last));
    console.log(`[chaos no-workers] none at all, wait_s 4: exit ${code}; ${last}`);
  });

  // Regression: the "waiting for workers" notice was held back 3 s, so with wait_s below
  // 3 s the run gave up without ever saying it was waiting.
  it("no worker at all (wait_s 2): says it waits before it gives up", async () => {
    const { code, stderr } = await runWithoutWorkers("no-workers-2", 2);
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/no worker was seen for [23] s \(workers\.wait_s is 2 s\)/);
    expect(stderr).toContain("waiting for workers");
  });

  it("the only worker SIGKILLed mid-run: gives up after wait_s with exit 1, the journal kept", async () => {
    const label = "no-workers-gone";
    const prefix = uniquePrefix(label);
    const out = join(workDir, label);
    const [worker] = await startWorkers(pool, nats.nc, url, prefix, [`${label}-w0`]);
    const config = writeConfig(label, chaosConfig(prefix, { pairs: 240, waitS: 2 }));
    const run = pool.add(spawnCoordinator(["run", config, "--nats", url, "--out", out]));
    await waitUntil(() => journalLines(out) >= 2 || run.process.exitCode !== null, "the worker's first results", () => run.stderr().length + journalLines(out), { everyMs: 5 });
    worker!.process.kill("SIGKILL");
    const killedAt = readJournal(out).pairs.size;
    const code = await exitWithin(run, "the coordinator whose only worker was killed");
    expect(code, run.stderr()).toBe(1);
    const stderr = run.stderr();
    expect(stderr).toMatch(/waiting for workers on .*\(giving up after 2 s\)/);
    const lines = stderr.trim().split("\n");
    // The reason, then (the journal being kept) how to resume.
    const last = lines.at(-2) ?? "";
    expect(lines.at(-1)).toBe(`coordinator: what was done is kept; continue with: coordinator run ${config} --resume ${out}`);
    const m = /^coordinator: no worker was seen for \d+ s \(workers\.wait_s is 2 s\); (\d+) of 48 tasks of theta\/pairs done$/.exec(last);
    expect(m, last).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(48);
    expect(existsSync(join(out, "results.json"))).toBe(false);
    expect(existsSync(join(out, "journal", "manifest.json")), "the journal stays for --resume").toBe(true);
    expect(readJournal(out).pairs.size).toBeGreaterThanOrEqual(killedAt);
    console.log(`[chaos no-workers-gone] SIGKILL of the only worker ${worker!.id} after ${killedAt} pairs journaled: exit ${code}; ${last}`);
  });
});
