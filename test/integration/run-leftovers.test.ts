// What a run that does not finish leaves behind, through the CLI as a user runs it: a
// coordinator that cannot reach its NATS server leaves no journal (which would refuse the
// same --out next time), and one interrupted with Ctrl-C after recording work says which
// folder to pass to --resume.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exitWithin, journalLines, ProcessPool, spawnCoordinator, startWorkers, waitUntil } from "../chaos/fault-helpers.js";
import { chaosConfig, workDir, writeConfig } from "../chaos/harness.js";
import { freePort } from "../helpers/nats-cluster.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";

describe("coordinator run: what an unfinished run leaves", () => {
  const suite = natsSuite();
  const pool = new ProcessPool();
  afterAll(() => pool.stopAll());

  it("a server that cannot be reached: exit 1, no journal left, and the same --out works again", async () => {
    const label = "unreachable";
    const out = join(workDir, label);
    const config = writeConfig(label, chaosConfig(uniquePrefix(label)));
    const url = `nats://127.0.0.1:${await freePort()}`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const run = pool.add(spawnCoordinator(["run", config, "--nats", url, "--out", out, "--connect-timeout", "1"]));
      const code = await exitWithin(run, "the coordinator without a server");
      expect(code, run.stderr()).toBe(1);
      // The second attempt fails the same way, not with "already holds a journal".
      expect(run.stderr()).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: connection refused .*; gave up after 1 s and \d+ tries \(--connect-timeout\)/);
      expect(run.stderr().match(/waiting for NATS at/g), run.stderr()).toHaveLength(1);
      expect(run.stderr()).not.toMatch(/journal|--resume/);
      expect(existsSync(join(out, "journal")), `attempt ${attempt}: a journal was left in ${out}`).toBe(false);
    }
  });

  it("Ctrl-C after some tasks: exit 130, and the message names the folder for --resume", async () => {
    const label = "interrupted";
    const prefix = uniquePrefix(label);
    const out = join(workDir, label);
    const config = writeConfig(label, chaosConfig(prefix, { pairs: 600, perTask: 5 }));
    const url = suite.nats.server.url;
    await startWorkers(pool, suite.nats.nc, url, prefix, [`${label}-w0`]);
    const run = pool.add(spawnCoordinator(["run", config, "--nats", url, "--out", out]));
    await waitUntil(() => journalLines(out) >= 2 || run.process.exitCode !== null, "two journal lines", () => run.stderr().length + journalLines(out));
    run.process.kill("SIGINT");
    const code = await exitWithin(run, "the interrupted coordinator");
    expect(code, run.stderr()).toBe(130);
    expect(run.stderr()).toContain("coordinator: the run was interrupted");
    expect(run.stderr()).toContain(`coordinator: what was done is kept; continue with: coordinator run ${config} --resume ${out}`);
    expect(journalLines(out)).toBeGreaterThanOrEqual(2);
  });
});
