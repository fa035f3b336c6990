// The runs a worker knows of on its prefix, and which one it pulls from next. Pure
// bookkeeping with an injected clock (unit-tested without NATS); serve.ts feeds it the
// run.announce and run.end messages it hears and what each pull answered.
//
// Fairness (docs/design.md "Runs that share a swarm"): each pull goes to the next run in
// turn, so that every run in progress gets an equal share of the worker's pulls. A run
// that answers task.none is passed over for the rest of the round; only when every run
// has said task.none does the worker sleep, and a task from any run starts a new round.

/** A run is dropped once it has not been announced for this many of its intervals. */
export const MISSED_ANNOUNCES = 3;

export interface RunEntry {
  runId: string;
  label: string;
  /** When it was last announced. */
  heard: number;
  /** Its announce interval (ms). */
  intervalMs: number;
}

export type PullChoice =
  /** Pull from this run. */
  | { kind: "pull"; runId: string }
  /** No run to pull from: none is known ("no-runs") or every one said task.none ("all-none"); sleep this long. */
  | { kind: "sleep"; ms: number; reason: "no-runs" | "all-none" };

export class RunTable {
  private readonly runs = new Map<string, RunEntry>();
  /** Runs that ended (run.end): a late announce of theirs must not bring them back. */
  private readonly gone = new Set<string>();
  /** Runs that said task.none this round, with the retry each asked for. */
  private readonly none = new Map<string, number>();
  /** The run pulled last: the next pull goes to the one after it. */
  private last: string | null = null;

  constructor(
    /** How long to sleep when there is no run at all. */
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A run.announce: the run is (still) in progress. */
  announced(runId: string, label: string, intervalMs: number): void {
    if (this.gone.has(runId)) return;
    const entry = this.runs.get(runId);
    if (entry) {
      entry.heard = this.now();
      entry.intervalMs = intervalMs;
      entry.label = label;
    } else {
      this.runs.set(runId, { runId, label, heard: this.now(), intervalMs });
    }
  }

  /**
   * No more pulls go to the run. `ended`: its coordinator said so (run.end, or a task.none
   * saying done), and a late announce does not bring it back; otherwise (its pull subject
   * had no responders, its announces stopped) a later announce does: a coordinator cut
   * off by a server restart comes back. Returns whether it was in the table.
   */
  drop(runId: string, ended = false): boolean {
    if (ended) this.gone.add(runId);
    this.none.delete(runId);
    if (this.last === runId) this.last = this.previous(runId);
    return this.runs.delete(runId);
  }

  /** Whether a run is in progress as far as this worker knows. */
  has(runId: string): boolean {
    this.expire();
    return this.runs.has(runId);
  }

  /** Whether the run's coordinator said it is over (run.end, or task.none with done). */
  ended(runId: string): boolean {
    return this.gone.has(runId);
  }

  /** The runs in progress, in the order first heard. */
  active(): RunEntry[] {
    this.expire();
    return [...this.runs.values()];
  }

  /** The run answered task.none (ask again after retryMs). */
  saidNone(runId: string, retryMs: number): void {
    if (this.runs.has(runId)) this.none.set(runId, retryMs);
  }

  /** The run handed out a task: every run gets asked again before the worker sleeps. */
  gaveTask(): void {
    this.none.clear();
  }

  /** Where the next pull goes, or how long to sleep first. */
  choose(): PullChoice {
    this.expire();
    const ids = [...this.runs.keys()];
    if (ids.length === 0) return { kind: "sleep", ms: this.idleMs, reason: "no-runs" };
    // The run after the last one pulled, in the order first heard, that has not said none.
    const start = this.last === null ? 0 : ids.indexOf(this.last) + 1;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[(start + k) % ids.length]!;
      if (!this.none.has(id)) {
        this.last = id;
        return { kind: "pull", runId: id };
      }
    }
    // Every run said none: sleep the shortest retry any asked for, then a new round.
    const ms = Math.min(...this.none.values());
    this.none.clear();
    return { kind: "sleep", ms, reason: "all-none" };
  }

  /** Drops the runs not announced for MISSED_ANNOUNCES intervals (their coordinator died). */
  private expire(): void {
    const t = this.now();
    for (const [id, r] of this.runs) {
      if (t - r.heard > MISSED_ANNOUNCES * r.intervalMs) this.drop(id);
    }
  }

  /** The run before `runId` in the table's order (so the round robin goes on where it was), or null. */
  private previous(runId: string): string | null {
    const ids = [...this.runs.keys()];
    const i = ids.indexOf(runId);
    return i > 0 ? ids[i - 1]! : ids.length > 1 ? ids.at(-1)! : null;
  }
}
