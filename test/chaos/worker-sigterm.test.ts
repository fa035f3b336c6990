// Fault 10: SIGTERM to a busy worker. It drains: finishes the task in hand (or, past its
// drain timeout, hands it back) and leaves with exit code 0. No lease has to expire,
// nothing is lost or counted twice, and the measures equal the fault-free run's.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMessage, encodeMessage, subjects } from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { fakeRun } from "../helpers/runs.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";
import { baseline, chaosConfig, expectSameAsBaseline, runCoordinator, watchHeartbeats, type ChaosOptions, type Outcome } from "./harness.js";

// A run long enough that the SIGTERM lands mid-run; lease_s 5 so that a slow heartbeat
// on a loaded machine does not expire a lease: any expiry here would be the victim's.
const OPTIONS: ChaosOptions = { pairs: 120, leaseS: 5 };
const EXIT_WAIT_MS = 20_000;

describe("chaos: SIGTERM to a busy worker", () => {
  let nats: NatsFixture;
  let base: Outcome;
  const all: TestWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
    base = await baseline(nats.nc, nats.server.url, "sigterm", OPTIONS);
  });
  afterAll(async () => {
    await stopWorkers(all);
    await nats?.close();
  });

  /** 3 workers, the last one with `victimArgs`; SIGTERM to it in its first task. */
  async function sigtermRun(label: string, victimArgs: string[]) {
    const prefix = uniquePrefix(label);
    const workers = [0, 1, 2].map((i) => spawnWorker(nats.server.url, prefix, `${label}-w${i}`, i === 2 ? victimArgs : []));
    all.push(...workers);
    await waitForHeartbeats(nats.nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
    const victim = workers[2]!;
    let held = "";
    const stop = watchHeartbeats(nats.nc, prefix, (hb) => {
      if (!held && hb.workerId === victim.id && hb.state === "busy" && hb.taskId) {
        held = hb.taskId;
        victim.process.kill("SIGTERM");
      }
    });
    let outcome: Outcome;
    let log: string;
    try {
      ({ outcome, log } = await runCoordinator(label, chaosConfig(prefix, OPTIONS), nats.server.url));
    } finally {
      stop();
    }
    expect(held, "the victim never held a task").not.toBe("");
    const code = await Promise.race([victim.exited, new Promise<"still running">((r) => setTimeout(() => r("still running"), EXIT_WAIT_MS))]);
    expect(code, `the victim's exit code\n${victim.output()}`).toBe(0);
    const f = outcome.run.faults;
    expect(f.expiredLeases, `a lease expired\n${log}`).toBe(0);
    expect(f.taskErrors, `a task error was counted\n${log}`).toBe(0);
    return { outcome, log, victim, held };
  }

  it("finishes the task in hand, returns it, and exits 0", async () => {
    const { outcome, victim, held } = await sigtermRun("sigterm-finish", []);
    // Its result was taken (5 pairs a task; more only if the signal came after the first
    // task was done and another pull was already on its way), and none was refused.
    const v = outcome.run.workers.find((w) => w.id === victim.id);
    expect(v?.pairs ?? 0, `the victim's accepted pairs\n${victim.output()}`).toBeGreaterThanOrEqual(5);
    expect(victim.output()).not.toMatch(/did not take the reply|gave up returning/);
    expect(victim.output()).toMatch(/SIGTERM: draining/);
    expectSameAsBaseline("sigterm-finish", outcome, base, `SIGTERM ${victim.id} during ${held} (it finished the task and left)`);
  });

  it("past its drain timeout, hands its task back and exits 0", async () => {
    // 1 ms: the drain timeout passes before the task in hand can finish.
    const { outcome, victim, held } = await sigtermRun("sigterm-handback", ["--drain-timeout", "0.001"]);
    expect(victim.output()).toMatch(new RegExp(`drain timeout: handing task ${held} back`));
    const v = outcome.run.workers.find((w) => w.id === victim.id);
    expect(v?.pairs ?? 0, `the victim's accepted pairs\n${victim.output()}`).toBe(0);
    expectSameAsBaseline("sigterm-handback", outcome, base, `SIGTERM ${victim.id} with --drain-timeout 0.001 during ${held} (it handed the task back and left)`);
  });

  // An idle worker (every pull answered "task.none, retry in 1 ms") SIGTERMed: it leaves
  // with exit 0. Regression: `sleep` in src/worker/serve.ts once left an "abort" listener
  // on the worker's stop signal for every sleep whose timer fired, so an idle worker piled
  // them up for its whole life (Node: "MaxListenersExceededWarning: Possible EventTarget
  // memory leak detected. 11 abort listeners added to [AbortSignal]").
  it("an idle worker pulling in a loop: no listener pile-up; SIGTERM, it exits 0", async () => {
    const prefix = uniquePrefix("sigterm-idle");
    let pulls = 0;
    const run = fakeRun(nats.nc, prefix, "idle");
    const sub = nats.nc.subscribe(run.subjects.pull, {
      callback: (_err, msg) => {
        pulls++;
        msg.respond(encodeMessage(createMessage("task.none", { runId: "idle", retryMs: 1, done: false })));
      },
    });
    const w = spawnWorker(nats.server.url, prefix, "sigterm-idle-w0");
    all.push(w);
    try {
      const deadline = Date.now() + 30_000;
      while (pulls < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(pulls, w.output()).toBeGreaterThanOrEqual(50);
      w.process.kill("SIGTERM");
      const code = await Promise.race([w.exited, new Promise<"still running">((r) => setTimeout(() => r("still running"), EXIT_WAIT_MS))]);
      expect(code, w.output()).toBe(0);
    } finally {
      run.end();
      sub.unsubscribe();
    }
    expect(w.output()).not.toMatch(/MaxListenersExceededWarning/);
  });
});
