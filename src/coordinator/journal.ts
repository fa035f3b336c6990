// The durable record of a run in progress, so that a killed coordinator can resume
// (`coordinator run CONFIG --resume DIR`) without recomputing or double-counting: a
// manifest saying what is being measured, one line per accepted task (its phase and what
// it recorded: pairs, landscape points, curvature items), appended and fsynced before
// the worker's result is acknowledged (group commit: one fdatasync, off the event loop,
// covers every line written before it started), and checkpoint files of finished phases whose
// result is a vector (a Fisher diagonal). A line cut short by a crash (the last one) is
// dropped on resume (its work is done again); any other line that is not a journal line
// is corruption, and so is a line whose data its phase does not check (phases/recover.ts):
// the resume stops with a JournalLineError naming the file, the line and the field. Each
// phase dedupes what appears twice.

import { closeSync, existsSync, fdatasync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ProtocolError, describeValue, type Checker, type PairStats } from "../protocol/index.js";

export const JOURNAL_DIR = "journal";
const MANIFEST = "manifest.json";
const RECORDS = "records.jsonl";
// 3: pairs lines name `tensors` and `tensorNorm`/`tensorDot` (protocol v2's task.result).
const JOURNAL_VERSION = 3;

/** A phase name as a file name ("theta/fisher-true" → "theta_fisher-true"). */
function checkpointFile(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

export class JournalError extends Error {
  override name = "JournalError";
}

/** A line of the journal that is not what its writer wrote: where it is and what is wrong. */
export class JournalLineError extends JournalError {
  override name = "JournalLineError";
  constructor(
    readonly file: string,
    /** 1-based, as editors count. */
    readonly line: number,
    /** Dotted path within the line ("data.pairs[2].loss[0]"), or "line" for the whole line. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}, line ${line}: ${field}: ${message}`, options);
  }
}

/** One line a phase journaled, with where it was read from (for errors). */
export interface JournalLine {
  file: string;
  line: number;
  data: unknown;
}

/**
 * A journal line's data, checked by a wire-contract checker (journaled data is what
 * accepted results carried): typed, or a JournalLineError naming the field.
 */
export function checkJournalLine<T>(line: JournalLine, check: Checker<T>): T {
  try {
    return check(line.data, "data");
  } catch (err) {
    if (err instanceof ProtocolError) throw new JournalLineError(line.file, line.line, err.field, err.message.slice(err.field.length + 2), { cause: err });
    throw err;
  }
}

/** A JournalLineError for a line that passed its checker but contradicts the run (an id outside the plan). */
export function journalLineError(line: JournalLine, field: string, message: string): JournalLineError {
  return new JournalLineError(line.file, line.line, field, message);
}

/** What identifies a run: resuming with anything else would mix two measurements. */
export interface RunIdentity {
  datasetHash: string;
  snapshotHash: string;
  seed: number;
  count: number;
  batchSize: number;
  pairing: string;
  returns: string;
  /** sha256 of everything else the config asks to measure (Fisher, curvature, landscape, twins). */
  plan: string;
}

export interface Manifest {
  version: number;
  identity: RunIdentity;
  configFile: string;
  started: string;
}

export interface RecoveredJournal {
  manifest: Manifest;
  /** What each phase recorded, line by line, in order (unchecked: each phase checks its own). */
  phases: Map<string, JournalLine[]>;
  /** Lines dropped as incomplete (a crash during a write): 0 or 1. */
  droppedLines: number;
}

/** What the pairs phases journal per accepted task (minibatches come back from the plan). */
export interface PairsLine {
  tensors: string[];
  pairs: PairStats[];
}

/** A parsed line's envelope: exactly { phase, data }, phase a non-empty string. */
function journalEntry(value: unknown, file: string, line: number): { phase: string; data: unknown } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new JournalLineError(file, line, "line", `expected an object, got ${describeValue(value)}`);
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (key !== "phase" && key !== "data") throw new JournalLineError(file, line, key, "unknown key");
  if (typeof obj.phase !== "string" || obj.phase === "") throw new JournalLineError(file, line, "phase", `expected a phase name, got ${describeValue(obj.phase)}`);
  if (!Object.prototype.hasOwnProperty.call(obj, "data")) throw new JournalLineError(file, line, "data", "missing");
  return { phase: obj.phase, data: obj.data };
}

export class Journal {
  private constructor(
    readonly dir: string,
    private fd: number | null,
  ) {}

  /** Starts a new journal in `outDir`; refuses to overwrite one (that is what --resume is for). */
  static create(outDir: string, identity: RunIdentity, configFile: string): Journal {
    const dir = join(outDir, JOURNAL_DIR);
    if (existsSync(join(dir, MANIFEST))) {
      throw new JournalError(`${outDir} holds an unfinished run; resume it with --resume ${outDir}, or choose another --out`);
    }
    mkdirSync(dir, { recursive: true });
    const manifest: Manifest = { version: JOURNAL_VERSION, identity, configFile, started: new Date().toISOString() };
    writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest, null, 1) + "\n");
    const fd = openSync(join(dir, RECORDS), "w");
    fdatasyncSync(fd);
    return new Journal(dir, fd);
  }

  /** Reads what a previous coordinator recorded in `outDir` and reopens it for appending. */
  static resume(outDir: string, identity: RunIdentity): { journal: Journal; recovered: RecoveredJournal } {
    const dir = join(outDir, JOURNAL_DIR);
    const manifestPath = join(dir, MANIFEST);
    if (!existsSync(manifestPath)) throw new JournalError(`${outDir} holds no unfinished run to resume (no ${JOURNAL_DIR}/${MANIFEST})`);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
    } catch (err) {
      throw new JournalError(`${manifestPath} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    if (manifest.version !== JOURNAL_VERSION) throw new JournalError(`${manifestPath} is journal version ${manifest.version}; this coordinator reads version ${JOURNAL_VERSION}`);
    const differs = (Object.keys(identity) as (keyof RunIdentity)[]).filter((k) => manifest.identity?.[k] !== identity[k]);
    if (differs.length > 0) {
      throw new JournalError(
        `the run in ${outDir} measured something else: ${differs.map((k) => `${k} was ${JSON.stringify(manifest.identity?.[k])}, now ${JSON.stringify(identity[k])}`).join("; ")}`,
      );
    }
    const path = join(dir, RECORDS);
    const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
    const recovered: RecoveredJournal = { manifest, phases: new Map(), droppedLines: 0 };
    let goodBytes = 0;
    let start = 0;
    let lineNo = 0;
    // A line that is not JSON: torn by a crash if nothing but blank lines follows it.
    let torn: { line: number; reason: string } | null = null;
    while (start < bytes.length) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl + 1;
      const raw = bytes.subarray(start, nl === -1 ? bytes.length : nl).toString("utf8");
      start = end;
      lineNo++;
      if (raw.trim() === "") continue;
      if (torn) throw new JournalLineError(path, torn.line, "line", `${torn.reason}, and line ${lineNo} follows it: not a write cut short by a crash`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (err) {
        torn = { line: lineNo, reason: `is not JSON (${(err as Error).message})` };
        continue;
      }
      const entry = journalEntry(parsed, path, lineNo);
      goodBytes = end;
      let list = recovered.phases.get(entry.phase);
      if (!list) recovered.phases.set(entry.phase, (list = []));
      list.push({ file: path, line: lineNo, data: entry.data });
    }
    if (torn) recovered.droppedLines = 1;
    const fd = openSync(path, existsSync(path) ? "r+" : "w");
    // Cut a torn last line away so that new lines start clean; a whole line that lost only
    // its newline gets it back.
    ftruncateSync(fd, goodBytes);
    if (goodBytes > 0 && bytes[goodBytes - 1] !== 0x0a) writeSync(fd, "\n", goodBytes);
    fdatasyncSync(fd);
    closeSync(fd);
    return { journal: new Journal(dir, openSync(path, "a")), recovered };
  }

  /** The fdatasyncs, one after another: every one started is settled before the next. */
  private syncs: Promise<void> = Promise.resolve();
  /** A datasync waiting for the running one: it will cover every line written until it starts. */
  private queued: Promise<void> | null = null;
  /** Datasyncs started, for the record (fewer than lines when results arrive together). */
  syncCount = 0;

  /**
   * Appends what one accepted task recorded (written at once, in order). It is durable
   * once `durable()` resolves: acknowledge the worker only then.
   */
  append(phase: string, data: unknown): void {
    if (this.fd === null) throw new JournalError("the journal is closed");
    writeSync(this.fd, JSON.stringify({ phase, data }) + "\n");
  }

  /**
   * Resolves once every line appended so far is on disk. The fdatasync runs on libuv's
   * thread pool, so the coordinator keeps answering pulls meanwhile (a synchronous one
   * held its event loop ~4 ms a task here, far longer on network file systems), and the
   * lines of results that arrive during one datasync share the next.
   */
  durable(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.syncs.then(() => {
      this.queued = null;
      const fd = this.fd;
      if (fd === null) throw new JournalError("the journal was closed before its last lines were made durable");
      this.syncCount++;
      return new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(new JournalError(`fdatasync of the journal failed: ${err.message}`)) : resolve())));
    });
    this.queued = next;
    this.syncs = next.catch(() => undefined);
    return next;
  }

  /** Keeps a finished phase's vector result (fsynced), so a resume can skip the phase. */
  writeCheckpoint(name: string, values: Float32Array): void {
    const path = join(this.dir, `${checkpointFile(name)}.f32`);
    const fd = openSync(path + ".tmp", "w");
    writeSync(fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    fdatasyncSync(fd);
    closeSync(fd);
    renameSync(path + ".tmp", path);
  }

  readCheckpoint(name: string, length: number): Float32Array | null {
    const path = join(this.dir, `${checkpointFile(name)}.f32`);
    if (!existsSync(path)) return null;
    const bytes = readFileSync(path);
    if (bytes.length !== length * 4) return null;
    return new Float32Array(Uint8Array.prototype.slice.call(bytes).buffer);
  }

  /** Closes the file once the datasyncs asked for have run (a resume reads what they covered). */
  async close(): Promise<void> {
    await this.syncs;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** After the final outputs are written, the journal has nothing left to say. */
  async remove(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
