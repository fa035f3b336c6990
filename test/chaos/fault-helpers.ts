// Helpers shared by the fault tests of coordinator resume, hostile workers, poison tasks,
// missing workers and protocol versions: the coordinator CLI as a child process, worker
// processes that are always cleaned up, a raw msgpack encoder that bypasses our codec's
// validation (to play a broken or foreign peer), and small polling utilities.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Packr, Unpackr } from "msgpackr";
import { subjects } from "../../src/protocol/index.js";
import { terminate } from "../../src/util/child-process.js";
import { distFile } from "../../src/util/package-root.js";
import { spawnWorker, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

/** Encodes anything, NaN and foreign versions included: a peer that does not use our codec. */
export const rawPackr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false });
/** Decodes without validation, to look at what a peer really sent. */
export const rawUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false, int64AsType: "number" });

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** How long a wait may see nothing move before it fails: long enough for a loaded machine's pauses, short enough to beat a hang. */
export const QUIET_MS = 60_000;

/**
 * Polls `cond` every `everyMs` until it holds. It fails, naming `what`, when `progress()`
 * (a count of journal lines, the length of a log…) has not changed for `quietMs`: a
 * slow machine makes the wait longer, only a stall makes it fail.
 */
export async function waitUntil(cond: () => boolean, what: string, progress: () => unknown, o: { quietMs?: number; everyMs?: number } = {}): Promise<void> {
  const quietMs = o.quietMs ?? QUIET_MS;
  let last = progress();
  let movedAt = Date.now();
  while (!cond()) {
    const now = progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > quietMs) {
      throw new Error(`nothing moved for ${quietMs} ms while waiting for ${what} (progress stayed at ${String(last)})`);
    }
    await sleep(o.everyMs ?? 20);
  }
}

/** Processes a test file started, stopped in its afterAll whatever happened. */
export class ProcessPool {
  private readonly children: ChildProcess[] = [];

  add<T extends { process: ChildProcess }>(p: T): T {
    this.children.push(p.process);
    return p;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((c) => terminate(c, 5000)));
  }
}

/** Starts worker processes on `prefix` (registered with `pool` first) and waits for their heartbeats. */
export async function startWorkers(pool: ProcessPool, nc: NatsConnection, natsUrl: string, prefix: string, ids: string[]): Promise<TestWorker[]> {
  const workers = ids.map((id) => pool.add(spawnWorker(natsUrl, prefix, id)));
  await waitForHeartbeats(nc, subjects(prefix).heartbeat, ids, 45_000);
  return workers;
}

export interface CliRun {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Exit code, or null when killed by a signal. */
  exited: Promise<number | null>;
}

/** `node dist/coordinator/cli.js ARGS…`, as a user runs it. */
export function spawnCoordinator(args: string[]): CliRun {
  const child = spawn(process.execPath, [distFile("coordinator/cli.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { process: child, stdout: () => out, stderr: () => err, exited };
}

/**
 * Resolves with the exit code once the process exits. Throws (showing its stderr) when it
 * printed nothing for `quietMs`: the coordinator prints progress every few seconds while
 * it works (and ends a stalled run itself, run.stall_timeout_s), so silence is a hang.
 */
export async function exitWithin(run: CliRun, what: string, quietMs = QUIET_MS): Promise<number | null> {
  const output = () => run.stdout().length + run.stderr().length;
  let code: number | null | undefined;
  let exited = false;
  void run.exited.then((c) => {
    code = c;
    exited = true;
  });
  await waitUntil(() => exited, `${what} to exit`, output, { quietMs }).catch((err: Error) => {
    throw new Error(`${err.message}\n--- stderr ---\n${run.stderr()}`, { cause: err });
  });
  return code ?? null;
}

/**
 * Adds keys to the `workers: {…}` flow mapping of a harness config (e.g.
 * `{quarantine_after: 2}`), leaving model, data and pairs, hence the measures, alone.
 */
export function withWorkerOptions(yaml: string, extra: Record<string, number>): string {
  const marker = "workers: {";
  if (!yaml.includes(marker)) throw new Error(`the config has no "${marker}" to extend:\n${yaml}`);
  const keys = Object.entries(extra)
    .map(([k, v]) => `${k}: ${v}, `)
    .join("");
  return yaml.replace(marker, `${marker}${keys}`);
}

export function journalRecordsPath(outDir: string): string {
  return join(outDir, "journal", "records.jsonl");
}

/** The phase of θ's main measurement: the pairs that results.json counts. */
export const PAIRS_PHASE = "theta/pairs";

/** One line of the journal: the phase of an accepted task and what it recorded. */
export interface JournalLine {
  phase: string;
  data: { tensors?: string[]; pairs?: { id: number }[] };
}

/**
 * Complete lines of a run's journal (of every phase) and the distinct pairs recorded by
 * `phase` (θ's pairs by default).
 */
export function readJournal(outDir: string, phase = PAIRS_PHASE): { lines: number; pairs: Set<number>; text: string } {
  const path = journalRecordsPath(outDir);
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const pairs = new Set<number>();
  let lines = 0;
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    let line: JournalLine;
    try {
      line = JSON.parse(raw) as JournalLine;
    } catch {
      break; // a torn last line: the journal drops it and what follows
    }
    lines++;
    if (line.phase !== phase) continue;
    for (const p of line.data?.pairs ?? []) pairs.add(p.id);
  }
  return { lines, pairs, text };
}

/** Complete lines in the journal now (cheap enough to poll). */
export function journalLines(outDir: string): number {
  const path = journalRecordsPath(outDir);
  if (!existsSync(path)) return 0;
  return readFileSync(path, "utf8").split("\n").filter((l) => l.endsWith("}")).length;
}

/** Trainable parameters per Dense layer of an MLP [in, h…, out]: kernel and bias together. */
export function mlpLayerSizes(layers: number[]): number[] {
  return layers.slice(1).map((units, i) => layers[i]! * units + units);
}

/**
 * The parameter groups a worker reports for an MLP [in, h…, out]: one per trainable weight
 * tensor, each Dense layer's kernel then its bias ("dense_1/kernel", "dense_1/bias", …).
 */
export function mlpTensorNames(layers: number[]): string[] {
  return layers.slice(1).flatMap((_, i) => [`dense_${i + 1}/kernel`, `dense_${i + 1}/bias`]);
}

/** Trainable parameters per weight tensor of an MLP [in, h…, out], in mlpTensorNames' order. */
export function mlpTensorSizes(layers: number[]): number[] {
  return layers.slice(1).flatMap((units, i) => [layers[i]! * units, units]);
}
