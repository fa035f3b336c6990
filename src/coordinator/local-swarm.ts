// Worker processes started by the embedded default. They are separate programs
// (dist/worker/cli.js), exactly what a user starts on another machine; the coordinator
// never imports worker code. Their logs go to files in the output folder.

import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { hasExited, terminate } from "../util/child-process.js";
import { distFile } from "../util/package-root.js";

export interface LocalWorker {
  id: string;
  process: ChildProcess;
  logFile: string;
}

export interface LocalSwarmOptions {
  count: number;
  natsUrl: string;
  prefix: string;
  backend: string;
  logDir: string;
  /** Passed to each worker; a short one for tests. */
  drainTimeoutS?: number;
}

const STOP_GRACE_MS = 5000;

/** The cores each of `count` local workers may use (its --cpu-cores): an equal share, at least 1. */
export function localWorkerCores(machineCores: number, count: number): number {
  return Math.max(1, Math.floor(machineCores / count));
}

export class LocalSwarm {
  readonly workers: LocalWorker[] = [];
  private readonly logs: WriteStream[] = [];

  private stopping = false;

  /** `onAllExited` is called if every worker exits while the run still needs them. */
  constructor(
    private readonly options: LocalSwarmOptions,
    private readonly onAllExited: (summary: string) => void = () => undefined,
  ) {}

  start(): void {
    const cli = distFile("worker/cli.js");
    mkdirSync(this.options.logDir, { recursive: true });
    for (let i = 1; i <= this.options.count; i++) this.spawnOne(cli, `local-${i}`);
  }

  private spawnOne(cli: string, id: string): void {
    const o = this.options;
    const logFile = join(o.logDir, `worker-${id}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    this.logs.push(log);
    // Local workers share this machine's cores: on a CPU backend their compute threads
    // split the cores between them, rather than each taking every core (a GPU worker keeps
    // its one thread; GRADSWARM_COMPUTE_THREADS, which the worker reads, still wins).
    const cores = localWorkerCores(availableParallelism(), o.count);
    const args = [cli, "--nats", o.natsUrl, "--prefix", o.prefix, "--backend", o.backend, "--id", id, "--exit-with-parent", "--cpu-cores", String(cores)];
    if (o.drainTimeoutS !== undefined) args.push("--drain-timeout", String(o.drainTimeoutS));
    // stdin is a pipe from us: the worker leaves when it closes, i.e. if we die (--exit-with-parent).
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.workers.push({ id, process: child, logFile });
    child.once("exit", () => {
      if (this.stopping) return;
      if (this.workers.every((w) => hasExited(w.process))) {
        // Let the log streams flush before reading their tails.
        setTimeout(() => this.onAllExited(`all ${this.workers.length} local workers exited:\n${this.logTails()}`), 200);
      }
    });
  }

  /** The last lines of each worker's log, to show when a run fails. */
  logTails(lines = 5): string {
    return this.workers
      .map((w) => {
        let text = "";
        try {
          text = readFileSync(w.logFile, "utf8");
        } catch {
          // no log yet
        }
        const tail = text.trimEnd().split("\n").slice(-lines).join("\n    ");
        return `  ${w.id} (${w.logFile}):\n    ${tail || "(empty)"}`;
      })
      .join("\n");
  }

  /** SIGTERM (workers drain), then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers.map((w) => terminate(w.process, STOP_GRACE_MS)));
    for (const log of this.logs) log.end();
  }
}
