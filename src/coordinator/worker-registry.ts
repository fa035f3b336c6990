// The workers a coordinator has heard from (every worker of the prefix: heartbeats are
// prefix-wide): when each was last seen, what it said about itself, which run its task in
// hand is for, what it did for this run, and its strikes (bad results) up to quarantine.
// Pure bookkeeping with an injected clock; the dispatcher decides what a strike is.

export interface WorkerRecord {
  id: string;
  /** Results or chunks refused as bad (malformed, non-finite, inconsistent). */
  badResults: number;
  /** Set once the worker is refused work; says why. */
  quarantined: string | null;
  host: string;
  /** The process id its announce gave; null until one came. */
  pid: number | null;
  /** The instance (drawn at the worker's start) that speaks for this id; "" until a message carrying one came. */
  instance: string;
  backend: string;
  device: string;
  version: string;
  firstSeen: number;
  lastSeen: number;
  pairsDone: number;
  tasksDone: number;
  /** Pulls it sent to this run, and when the last came (null: it never pulled this run). */
  pulls: number;
  lastPull: number | null;
  /** The run of the task in hand, from its last heartbeat (null: idle, or unknown). */
  servingRun: string | null;
  /** Units (pairs, points, items) accepted per phase. */
  units: Record<string, number>;
}

/** What a worker may tell about itself (announce, heartbeat, pull); empty strings say nothing. */
export type WorkerInfo = Partial<Pick<WorkerRecord, "host" | "backend" | "device" | "version">> & { pid?: number };

/**
 * Whether a process may speak for a worker id: "new" (first heard, by this instance),
 * "same" (the instance on record), "replaced" (another instance, and the one on record has
 * gone silent: a restart under the same id), "conflict" (another instance while the one on
 * record is live: two processes were given one --id).
 */
export type Claim = "new" | "same" | "replaced" | "conflict";

export class WorkerRegistry {
  private readonly records = new Map<string, WorkerRecord>();
  /** When any worker was last heard from (the registry's creation until the first). */
  lastSeenAny: number;
  quarantinedCount = 0;

  constructor(
    /** Bad results after which a worker gets no more work. */
    private readonly quarantineAfter: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSeenAny = now();
  }

  /** Records that `id` was heard from now, with what it said; returns its record. */
  seen(id: string, info: WorkerInfo = {}): WorkerRecord {
    const t = this.now();
    this.lastSeenAny = t;
    let w = this.records.get(id);
    if (!w) {
      w = { id, host: "", pid: null, instance: "", backend: "", device: "", version: "", firstSeen: t, lastSeen: t, pairsDone: 0, tasksDone: 0, pulls: 0, lastPull: null, servingRun: null, units: {}, badResults: 0, quarantined: null };
      this.records.set(id, w);
    }
    w.lastSeen = t;
    for (const key of ["host", "backend", "device", "version"] as const) {
      const v = info[key];
      if (v !== undefined && v !== "") w[key] = v;
    }
    if (info.pid !== undefined) w.pid = info.pid;
    return w;
  }

  /**
   * Decides whether `instance` may speak for `id` (Claim), and records it when it may: a
   * replacing instance starts with its host, pid and version unknown (its announce tells).
   * A conflicting one changes nothing: it must not keep the live one's record alive.
   */
  claim(id: string, instance: string, silentMs: number): Claim {
    const w = this.records.get(id);
    if (!w || w.instance === "") {
      if (w) w.instance = instance;
      else this.seen(id).instance = instance;
      return w ? "same" : "new";
    }
    if (w.instance === instance) return "same";
    if (this.now() - w.lastSeen < silentMs) return "conflict";
    w.instance = instance;
    w.host = "";
    w.pid = null;
    w.version = "";
    return "replaced";
  }

  get(id: string): WorkerRecord | undefined {
    return this.records.get(id);
  }

  /** Every worker heard from during the run, in the order first seen. */
  all(): WorkerRecord[] {
    return [...this.records.values()];
  }

  /** The workers that pulled from this run at least once: those that served it. */
  served(): WorkerRecord[] {
    return this.all().filter((w) => w.pulls > 0);
  }

  /** Workers that pulled from this run within the last `withinMs`. */
  pulling(withinMs: number): WorkerRecord[] {
    const t = this.now();
    return this.all().filter((w) => w.lastPull !== null && t - w.lastPull < withinMs);
  }

  /** Workers heard from within the last `silentMs`. */
  live(silentMs: number): WorkerRecord[] {
    const t = this.now();
    return this.all().filter((w) => t - w.lastSeen < silentMs);
  }

  /**
   * Counts a bad result against the worker; returns the quarantine reason when this strike
   * is the one that quarantines it, else null.
   */
  strike(id: string, reason: string): string | null {
    const w = this.seen(id);
    w.badResults++;
    if (w.quarantined || w.badResults < this.quarantineAfter) return null;
    w.quarantined = `${w.badResults} bad results; the last: ${reason}`;
    this.quarantinedCount++;
    return w.quarantined;
  }
}
