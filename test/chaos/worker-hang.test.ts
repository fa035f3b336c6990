// Fault 2: a worker hung (SIGSTOP) while it holds a task, past its lease, then resumed
// (SIGCONT) while the run goes on. Its lease expires and the task is redone elsewhere;
// the result it sends once resumed is under a dead lease and is refused, so nothing is
// counted twice; the measures are bit-identical to the fault-free run.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { hasExited } from "../../src/util/child-process.js";
import { startNats, type NatsFixture } from "../helpers/nats.js";
import { stopWorkers, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, readOutcome, startSwarm, watchHeartbeats, workDir, writeConfig, type ChaosOptions, type Outcome } from "./harness.js";

// A short lease, and a run long enough to go on well after the victim is resumed.
const OPTIONS: ChaosOptions = { pairs: 800, perTask: 5, leaseS: 2 };

/** runCoordinator with a hook on every log line of the coordinator. */
async function runWatched(label: string, yaml: string, natsUrl: string, onLine: (line: string) => void): Promise<{ outcome: Outcome; log: string }> {
  const out = join(workDir, label);
  let text = "";
  let partial = "";
  const stream = {
    isTTY: false,
    write: (s: string) => {
      text += s;
      partial += s;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  try {
    await runJob({ configPath: writeConfig(label, yaml), natsUrl, outDir: out, stream });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${text}`, { cause: err });
  }
  return { outcome: readOutcome(out), log: text };
}

describe("chaos: a worker hung past its lease", () => {
  let nats: NatsFixture;
  let base: Outcome;
  const all: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
    base = await baseline(nats.nc, nats.server.url, "hang", OPTIONS);
  });
  afterAll(async () => {
    // A stopped process ignores SIGTERM until it is continued.
    for (const w of all) if (!hasExited(w.process)) w.process.kill("SIGCONT");
    await stopWorkers(all);
    await nats?.close();
  });

  it("SIGSTOP while busy, SIGCONT after its lease expired: the late result is refused", async () => {
    const { prefix, workers } = await startSwarm(nats.nc, nats.server.url, "hang", 3);
    all.push(...workers);
    const victim = workers[2]!;
    let stopped: { taskId: string; leaseId: string } | null = null;
    let continued = false;
    let runOver = false;
    let idleAfterRun = 0;
    // Stopped in its second task, when it has the blobs and a warm backend: once resumed,
    // it finishes within a fraction of a second, well before the run ends. `leases`: every
    // lease it worked under (busy heartbeats).
    const leases = new Set<string>();
    const stopWatch = watchHeartbeats(nats.nc, prefix, (hb) => {
      if (hb.workerId !== victim.id) return;
      if (hb.state === "busy" && hb.leaseId) leases.add(hb.leaseId);
      if (runOver && hb.state === "idle") idleAfterRun++;
      if (!stopped && hb.state === "busy" && hb.taskId && hb.leaseId && leases.size >= 2) {
        victim.process.kill("SIGSTOP");
        stopped = { taskId: hb.taskId, leaseId: hb.leaseId };
      }
    });
    const resume = () => {
      if (continued) return;
      continued = true;
      victim.process.kill("SIGCONT");
    };
    // Resume the victim once the coordinator has given up its lease (> lease_s without a
    // heartbeat); a fallback timer resumes it anyway, so that the test cannot hang.
    const fallback = setTimeout(resume, 15_000);
    let expiredLine = "";
    let outcome: Outcome;
    let log: string;
    try {
      ({ outcome, log } = await runWatched("hang", chaosConfig(prefix, OPTIONS), nats.server.url, (line) => {
        if (stopped && !expiredLine && line.includes(`lease of task ${stopped.taskId} on worker ${victim.id} expired`)) {
          expiredLine = line;
          // A little past the expiry, so that the task is (most likely) redone elsewhere already.
          setTimeout(resume, 100);
        }
      }));
    } finally {
      runOver = true;
      clearTimeout(fallback);
      resume();
    }
    const held = stopped as { taskId: string; leaseId: string } | null;
    try {
      expect(held, "the victim never held a task").not.toBeNull();
      expect(expiredLine, `the victim's lease of ${held!.taskId} did not expire\n${log}`).not.toBe("");
      // Once resumed, the victim sends its result under the dead lease; the coordinator
      // refuses it. (Usually before the run ends; it may also come just after the last
      // task is done, while the coordinator still answers.)
      const refused = new RegExp(`task ${held!.taskId}: (the coordinator did not take the reply \\(([^)]*)\\)|gave up returning the reply)`);
      const deadline = Date.now() + 15_000;
      while (!refused.test(victim.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const m = refused.exec(victim.output());
      expect(m, `the victim's late result was neither refused nor given up\n${log}\n--- victim ---\n${victim.output()}`).not.toBeNull();
      // "gave up returning the reply": the run had ended and nobody answered; the result
      // was never counted either. Otherwise the coordinator said why it refused it.
      if (m![2] !== undefined) expect(m![2]).toMatch(/^(task already done|lease no longer valid.*)$/);
      const f = outcome.run.faults;
      expect(f.expiredLeases).toBeGreaterThanOrEqual(1);
      expect(f.taskErrors).toBe(0);
      // Refused as stale means it came while the task was not done yet: before the run
      // ended, so the run record counts it.
      if (m![2]?.startsWith("lease no longer valid")) expect(f.staleResults).toBeGreaterThanOrEqual(1);
      // It lived on after SIGCONT: idle heartbeats after the run, and with them (one
      // connection keeps its order) every busy one, i.e. every lease it held.
      const deadline3 = Date.now() + 10_000;
      while (idleAfterRun < 2 && Date.now() < deadline3) await new Promise((r) => setTimeout(r, 100));
      expect(idleAfterRun, "no idle heartbeat from the victim after the run").toBeGreaterThanOrEqual(2);
      // The victim was credited with every lease it held except those that expired (the
      // hung one at least; it may have pulled the same task again under a new lease):
      // the late result counted nowhere.
      const lost = [...log.matchAll(new RegExp(`lease of task (\\S+) on worker ${victim.id} expired`, "g"))].map((x) => x[1]!);
      expect(lost).toContain(held!.taskId);
      const v = outcome.run.workers.find((w) => w.id === victim.id);
      expect(v?.pairs ?? 0, `the victim's accepted pairs (leases held: ${[...leases]}; leases expired on tasks: ${lost})`).toBe(OPTIONS.perTask! * (leases.size - lost.length));
      expect(v?.bad_results ?? 0).toBe(0);
    } finally {
      stopWatch();
    }
    expectSameAsBaseline(
      "hang",
      outcome,
      base,
      `SIGSTOP ${victim.id} during ${held!.taskId} (lease ${held!.leaseId}), SIGCONT after the lease expired (lease_s ${OPTIONS.leaseS})`,
    );
  });
});
