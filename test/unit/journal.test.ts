// The run journal's group commit: lines are written at once and in order, made durable by
// fdatasyncs off the event loop, one covering every line written before it started; a
// resume reads them all back; a datasync asked for after close fails, naming why.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal, JOURNAL_DIR, JournalError, type RunIdentity } from "../../src/coordinator/journal.js";

const identity: RunIdentity = { datasetHash: "d", snapshotHash: "s", seed: 1, count: 100, batchSize: 4, pairing: "independent", returns: "stats", plan: "p" };

describe("Journal", () => {
  it("makes a burst of lines durable with fewer datasyncs than lines, in order, all read back on resume", async () => {
    const out = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
    const journal = Journal.create(out, identity, "config.yaml");
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      journal.append("theta/pairs", { i });
      waits.push(journal.durable());
    }
    await Promise.all(waits);
    // The first datasync starts once the burst is written; everything after shares one more.
    expect(journal.syncCount).toBeGreaterThanOrEqual(1);
    expect(journal.syncCount).toBeLessThanOrEqual(2);
    const lines = readFileSync(join(out, JOURNAL_DIR, "records.jsonl"), "utf8").trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { data: { i: number } }).data.i)).toEqual([...Array(100).keys()]);
    await journal.close();
    const { recovered } = Journal.resume(out, identity);
    expect(recovered.phases.get("theta/pairs")).toHaveLength(100);
    expect(recovered.droppedLines).toBe(0);
  });

  it("one datasync per line when each waits for the one before", async () => {
    const out = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
    const journal = Journal.create(out, identity, "config.yaml");
    for (let i = 0; i < 5; i++) {
      journal.append("theta/pairs", { i });
      await journal.durable();
    }
    expect(journal.syncCount).toBe(5);
    await journal.remove();
  });

  it("close waits for the datasyncs asked for; one asked for after close fails with a JournalError", async () => {
    const out = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
    const journal = Journal.create(out, identity, "config.yaml");
    journal.append("theta/pairs", { i: 0 });
    const first = journal.durable();
    await journal.close();
    await expect(first).resolves.toBeUndefined();
    await expect(journal.durable()).rejects.toThrow(JournalError);
    expect(() => journal.append("theta/pairs", { i: 1 })).toThrow(/closed/);
  });
});
