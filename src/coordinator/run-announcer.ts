// A run in progress tells its prefix so: run.announce at start and every second (workers
// pull from the runs they hear of; `coordinator status` lists them), the same announce as
// the answer to each run.list, and run.end once when it finishes, fails or is interrupted,
// so that its workers stop pulling it at once (docs/design.md "Runs that share a swarm").

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { createMessage, decodeMessage, encodeMessage, subjects, type MessageBody, type RunEndReason } from "../protocol/index.js";

export const RUN_ANNOUNCE_MS = 1000;

/** What an announce says of the run's progress, asked for at each announce. */
export type RunState = Pick<MessageBody<"run.announce">, "phase" | "done" | "total" | "etaMs" | "workers" | "retries" | "quarantines">;

/** What an announce says of the run, fixed at its start. */
export type RunIdentity = Pick<MessageBody<"run.announce">, "runId" | "label" | "owner" | "host" | "startedAt">;

/**
 * The time left in a phase at the rate since its first result (which leaves out start-up,
 * blob fetches and the first task's latency); null while there is no rate to go by.
 */
export function phaseEtaMs(span: { first: number; unitsAfterFirst: number } | undefined, remaining: number, now: number): number | null {
  if (remaining <= 0) return 0;
  if (!span || span.unitsAfterFirst <= 0 || now <= span.first) return null;
  return Math.round((remaining * (now - span.first)) / span.unitsAfterFirst);
}

export class RunAnnouncer {
  private timer: NodeJS.Timeout | null = null;
  private sub: Subscription | null = null;
  private ended = false;
  private badSaid = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly identity: RunIdentity,
    private readonly state: () => RunState,
    private readonly log: (line: string) => void,
    private readonly intervalMs: number = RUN_ANNOUNCE_MS,
  ) {}

  /** Announces now and every interval, and answers run.list. */
  start(): void {
    if (this.timer || this.ended) return;
    const s = subjects(this.prefix);
    this.sub = this.nc.subscribe(s.runList, {
      callback: (err, msg) => {
        if (err || this.ended) return;
        try {
          decodeMessage(msg.data, ["run.list"]);
        } catch (e) {
          if (!this.badSaid) this.log(`ignored a bad run.list request (further ones are not logged): ${(e as Error).message}`);
          this.badSaid = true;
          return;
        }
        if (msg.reply) msg.respond(this.announcement());
      },
    });
    this.announce();
    this.timer = setInterval(() => this.announce(), this.intervalMs);
  }

  /** Says the run is over (once; later calls do nothing) and stops announcing. */
  end(reason: RunEndReason, message: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sub?.unsubscribe();
    this.sub = null;
    if (this.nc.isClosed()) return;
    this.nc.publish(subjects(this.prefix).runEnd, encodeMessage(createMessage("run.end", { runId: this.identity.runId, reason, message: message.slice(0, 4000) })));
  }

  private announce(): void {
    if (this.ended || this.nc.isClosed()) return;
    this.nc.publish(subjects(this.prefix).runAnnounce, this.announcement());
  }

  private announcement(): Uint8Array {
    return encodeMessage(createMessage("run.announce", { ...this.identity, ...this.state(), intervalMs: this.intervalMs }));
  }
}
