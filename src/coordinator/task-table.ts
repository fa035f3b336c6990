// The coordinator's truth about work: which task is pending, leased to whom until when,
// or done. Pure logic with an injected clock, so leases and retries are unit-tested
// without NATS. A result counts only under the lease it was issued for, once.

export interface TaskSpec {
  id: string;
  pairIds: number[];
}

export interface TaskTableOptions {
  leaseMs: number;
  /** Failed attempts (errors and expired leases) after which the run stops. */
  maxAttempts: number;
  maxInFlight: number;
}

export interface Lease {
  task: TaskSpec;
  leaseId: string;
  workerId: string;
  /** When the lease was handed out. */
  leasedAt: number;
  deadline: number;
}

/** An unfinished task as the stall report shows it. */
export interface UnfinishedTask {
  task: TaskSpec;
  /** Its live lease, or null while it waits in the queue. */
  lease: Lease | null;
  attempts: readonly Attempt[];
}

export interface Attempt {
  workerId: string;
  cause: string;
}

type Slot =
  | { status: "pending" }
  | { status: "leased"; lease: Lease }
  | { status: "done"; workerId: string };

export type CompleteOutcome = "accepted" | "duplicate" | "stale" | "unknown";

export class TaskExhaustedError extends Error {
  override name = "TaskExhaustedError";
  constructor(
    readonly taskId: string,
    readonly attempts: Attempt[],
  ) {
    super(`task ${taskId} failed ${attempts.length} times; last cause: ${attempts.at(-1)?.cause ?? "unknown"} (on worker ${attempts.at(-1)?.workerId ?? "?"})`);
  }
}

export class TaskTable {
  private readonly slots = new Map<string, Slot>();
  private readonly specs = new Map<string, TaskSpec>();
  private readonly attempts = new Map<string, Attempt[]>();
  /** Task ids waiting for a worker; retries go to the front. */
  private readonly queue: string[] = [];
  private leaseCounter = 0;
  private inFlight = 0;
  private doneCount = 0;
  exhausted: TaskExhaustedError | null = null;

  constructor(
    tasks: readonly TaskSpec[],
    private readonly options: TaskTableOptions,
    private readonly now: () => number = Date.now,
  ) {
    for (const t of tasks) {
      if (this.specs.has(t.id)) throw new Error(`duplicate task id ${t.id}`);
      this.specs.set(t.id, t);
      this.slots.set(t.id, { status: "pending" });
      this.attempts.set(t.id, []);
      this.queue.push(t.id);
    }
  }

  get total(): number {
    return this.specs.size;
  }

  get done(): number {
    return this.doneCount;
  }

  get leased(): number {
    return this.inFlight;
  }

  isFinished(): boolean {
    return this.doneCount === this.specs.size;
  }

  /** Hands the next pending task to `workerId`, or null (nothing pending, or in-flight bound reached). */
  lease(workerId: string): Lease | null {
    if (this.exhausted || this.inFlight >= this.options.maxInFlight) return null;
    const id = this.queue.shift();
    if (id === undefined) return null;
    const t = this.now();
    const lease: Lease = {
      task: this.specs.get(id)!,
      leaseId: `${id}.${++this.leaseCounter}`,
      workerId,
      leasedAt: t,
      deadline: t + this.options.leaseMs,
    };
    this.slots.set(id, { status: "leased", lease });
    this.inFlight++;
    return lease;
  }

  /** The live lease of a task, if `leaseId` is it. */
  current(taskId: string, leaseId: string): Lease | null {
    const slot = this.slots.get(taskId);
    return slot?.status === "leased" && slot.lease.leaseId === leaseId ? slot.lease : null;
  }

  /** Extends a live lease (a heartbeat from its worker). */
  renew(taskId: string, leaseId: string): boolean {
    const lease = this.current(taskId, leaseId);
    if (!lease) return false;
    lease.deadline = this.now() + this.options.leaseMs;
    return true;
  }

  complete(taskId: string, leaseId: string): CompleteOutcome {
    const slot = this.slots.get(taskId);
    if (!slot) return "unknown";
    if (slot.status === "done") return "duplicate";
    if (slot.status !== "leased" || slot.lease.leaseId !== leaseId) return "stale";
    this.slots.set(taskId, { status: "done", workerId: slot.lease.workerId });
    this.inFlight--;
    this.doneCount++;
    return "accepted";
  }

  /**
   * Gives a leased task back. `countAttempt` is false when the task itself is not at fault
   * (a draining worker handing it back). Returns false for a stale lease.
   */
  release(taskId: string, leaseId: string, cause: string, countAttempt: boolean): boolean {
    const lease = this.current(taskId, leaseId);
    if (!lease) return false;
    this.requeue(lease, cause, countAttempt);
    return true;
  }

  /** Requeues every lease whose deadline has passed; returns them. */
  expire(): Lease[] {
    const t = this.now();
    const expired: Lease[] = [];
    for (const slot of this.slots.values()) {
      if (slot.status === "leased" && slot.lease.deadline <= t) expired.push(slot.lease);
    }
    for (const lease of expired) this.requeue(lease, `lease expired after ${this.options.leaseMs} ms without a heartbeat`, true);
    return expired;
  }

  /** Leases held by a worker (to release them when it says it is gone). */
  leasesOf(workerId: string): Lease[] {
    const out: Lease[] = [];
    for (const slot of this.slots.values()) if (slot.status === "leased" && slot.lease.workerId === workerId) out.push(slot.lease);
    return out;
  }

  /** Every task not done yet, in plan order, with its lease (if leased) and attempts. */
  unfinished(): UnfinishedTask[] {
    const out: UnfinishedTask[] = [];
    for (const [id, slot] of this.slots) {
      if (slot.status === "done") continue;
      out.push({ task: this.specs.get(id)!, lease: slot.status === "leased" ? slot.lease : null, attempts: this.attempts.get(id)! });
    }
    return out;
  }

  /** Whether the in-flight bound (max_in_flight) keeps pending tasks from being leased. */
  atInFlightBound(): boolean {
    return this.inFlight >= this.options.maxInFlight;
  }

  attemptsOf(taskId: string): readonly Attempt[] {
    return this.attempts.get(taskId) ?? [];
  }

  private requeue(lease: Lease, cause: string, countAttempt: boolean): void {
    const id = lease.task.id;
    this.slots.set(id, { status: "pending" });
    this.inFlight--;
    const attempts = this.attempts.get(id)!;
    if (countAttempt) {
      attempts.push({ workerId: lease.workerId, cause });
      if (attempts.length >= this.options.maxAttempts && !this.exhausted) {
        this.exhausted = new TaskExhaustedError(id, attempts);
      }
    }
    this.queue.unshift(id);
  }
}
