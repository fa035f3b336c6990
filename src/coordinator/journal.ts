// The durable record of a run in progress, so that a killed coordinator can resume
// (`coordinator run CONFIG --resume DIR`) without recomputing or double-counting: a
// manifest saying what is being measured, and one line per accepted task with its
// pairs, appended and fsynced before the worker's result is acknowledged. A line cut
// short by a crash is dropped on resume (its pairs are computed again); a pair that
// appears twice counts once.

import { closeSync, existsSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { PairRecord } from "./pair-records.js";

export const JOURNAL_DIR = "journal";
const MANIFEST = "manifest.json";
const RECORDS = "records.jsonl";
const JOURNAL_VERSION = 1;

export class JournalError extends Error {
  override name = "JournalError";
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
}

export interface Manifest {
  version: number;
  identity: RunIdentity;
  configFile: string;
  started: string;
}

export interface RecoveredJournal {
  manifest: Manifest;
  layers: string[] | null;
  records: PairRecord[];
  /** Lines dropped as incomplete (a crash during a write) and pairs seen twice. */
  droppedLines: number;
  duplicatePairs: number;
}

interface Line {
  layers: string[];
  pairs: PairRecord[];
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
    const recovered: RecoveredJournal = { manifest, layers: null, records: [], droppedLines: 0, duplicatePairs: 0 };
    const seen = new Set<number>();
    let goodBytes = 0;
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl + 1;
      const raw = bytes.subarray(start, nl === -1 ? bytes.length : nl).toString("utf8");
      start = end;
      if (raw.trim() === "") continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
        if (!Array.isArray(line.layers) || !Array.isArray(line.pairs)) throw new Error("not a journal line");
      } catch {
        // Only the last line can be cut short by a crash; anything after it is dropped too.
        recovered.droppedLines++;
        break;
      }
      goodBytes = end;
      recovered.layers ??= line.layers;
      for (const p of line.pairs) {
        if (seen.has(p.id)) {
          recovered.duplicatePairs++;
          continue;
        }
        seen.add(p.id);
        recovered.records.push(p);
      }
    }
    const fd = openSync(path, existsSync(path) ? "r+" : "w");
    // Cut a torn last line away so that new lines start clean; a whole line that lost only
    // its newline gets it back.
    ftruncateSync(fd, goodBytes);
    if (goodBytes > 0 && bytes[goodBytes - 1] !== 0x0a) writeSync(fd, "\n", goodBytes);
    fdatasyncSync(fd);
    closeSync(fd);
    return { journal: new Journal(dir, openSync(path, "a")), recovered };
  }

  /** Appends one accepted task's pairs and makes them durable before returning. */
  append(layers: readonly string[], pairs: readonly PairRecord[]): void {
    if (this.fd === null) throw new JournalError("the journal is closed");
    writeSync(this.fd, JSON.stringify({ layers, pairs }) + "\n");
    fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** After the final outputs are written, the journal has nothing left to say. */
  remove(): void {
    this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
