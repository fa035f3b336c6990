// Runs on a prefix as tests see them (protocol v3: each run's task subjects carry its run
// id): a watch that hears run.announce and run.end (and asks run.list at start) for test
// clients that act as workers, and a fake run that announces itself for test clients that
// act as coordinators, so that real workers pull from its subjects.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { createMessage, decodeMessage, encodeMessage, runSubjects, subjects, type RunAnnounceMessage, type RunSubjects } from "../../src/protocol/index.js";

export class RunWatch {
  /** Every run announce heard, the last per run, in the order first heard. */
  readonly announces = new Map<string, RunAnnounceMessage>();
  readonly ended = new Set<string>();
  private readonly subs: Subscription[] = [];

  constructor(
    nc: NatsConnection,
    private readonly prefix: string,
  ) {
    const s = subjects(prefix);
    this.subs.push(
      nc.subscribe(s.runAnnounce, {
        callback: (err, msg) => {
          if (err) return;
          try {
            const a = decodeMessage(msg.data, ["run.announce"]);
            this.announces.set(a.runId, a);
          } catch {
            // not a run announce (a hostile test's garbage): not a run
          }
        },
      }),
      nc.subscribe(s.runEnd, {
        callback: (err, msg) => {
          try {
            if (!err) this.ended.add(decodeMessage(msg.data, ["run.end"]).runId);
          } catch {
            // not a run end
          }
        },
      }),
    );
    nc.publish(s.runList, encodeMessage(createMessage("run.list", {})), { reply: s.runAnnounce });
  }

  /** The task subjects of the first run heard that has not ended, or null. */
  current(): RunSubjects | null {
    for (const id of this.announces.keys()) if (!this.ended.has(id)) return runSubjects(this.prefix, id);
    return null;
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
  }
}

/** A run announced every 300 ms as a coordinator would; its task subjects are for the test to answer. */
export function fakeRun(nc: NatsConnection, prefix: string, runId = "fake-run"): { subjects: RunSubjects; end: () => void } {
  const s = subjects(prefix);
  const announce = () =>
    encodeMessage(
      createMessage("run.announce", { runId, label: "fake", owner: "", host: "", phase: "", done: 0, total: 0, etaMs: null, workers: 0, retries: 0, quarantines: 0, startedAt: Date.now(), intervalMs: 300 }),
    );
  const list = nc.subscribe(s.runList, { callback: (err, msg) => void (!err && msg.respond(announce())) });
  nc.publish(s.runAnnounce, announce());
  const timer = setInterval(() => void (!nc.isClosed() && nc.publish(s.runAnnounce, announce())), 300);
  timer.unref();
  return {
    subjects: runSubjects(prefix, runId),
    end: () => {
      clearInterval(timer);
      list.unsubscribe();
      if (!nc.isClosed()) nc.publish(s.runEnd, encodeMessage(createMessage("run.end", { runId, reason: "finished", message: "the test is over" })));
    },
  };
}
