// The run journal's group commit: lines are written at once and in order, made durable by
// fdatasyncs off the event loop, one covering every line written before it started; a
// resume reads them all back; a datasync asked for after close fails, naming why; a line
// torn by a crash at the end is dropped (and cut away, so that later lines start clean),
// any other line that is not a journal line stops the resume naming the file and the line.

import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkJournalLine, Journal, JOURNAL_DIR, JournalError, JournalLineError, journalLineError, type RunIdentity } from "../../src/coordinator/journal.js";
import { ProtocolError } from "../../src/protocol/index.js";
import { fail } from "../../src/protocol/validate.js";

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

/** A journal in a fresh folder holding `count` lines { i } of phase "p"; closed. */
async function journalWith(count: number): Promise<{ out: string; records: string }> {
  const out = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
  const journal = Journal.create(out, identity, "config.yaml");
  for (let i = 0; i < count; i++) journal.append("p", { i });
  await journal.durable();
  await journal.close();
  return { out, records: join(out, JOURNAL_DIR, "records.jsonl") };
}

async function recoveredIs(out: string): Promise<{ is: number[]; dropped: number }> {
  const { journal, recovered } = Journal.resume(out, identity);
  await journal.close();
  return { is: (recovered.phases.get("p") ?? []).map((l) => (l.data as { i: number }).i), dropped: recovered.droppedLines };
}

describe("Journal.resume: torn and corrupt lines", () => {
  it("drops a last line torn by a crash, cuts it away, and a second resume keeps every line written after the first", async () => {
    const { out, records } = await journalWith(3);
    // A crash in the middle of writing line 4: half of it, no newline.
    appendFileSync(records, JSON.stringify({ phase: "p", data: { i: 3 } }).slice(0, 12));
    const first = Journal.resume(out, identity);
    expect(first.recovered.droppedLines).toBe(1);
    expect(first.recovered.phases.get("p")!.map((l) => (l.data as { i: number }).i)).toEqual([0, 1, 2]);
    for (let i = 3; i < 6; i++) first.journal.append("p", { i });
    await first.journal.durable();
    await first.journal.close();
    // Had the torn bytes stayed, line 4 would be them glued to { i: 3 }.
    expect(await recoveredIs(out)).toEqual({ is: [0, 1, 2, 3, 4, 5], dropped: 0 });
  });

  it("a whole last line that lost only its newline is kept, and gets the newline back", async () => {
    const { out, records } = await journalWith(2);
    appendFileSync(records, JSON.stringify({ phase: "p", data: { i: 2 } }));
    const { journal } = Journal.resume(out, identity);
    journal.append("p", { i: 3 });
    await journal.durable();
    await journal.close();
    expect(await recoveredIs(out)).toEqual({ is: [0, 1, 2, 3], dropped: 0 });
  });

  it("a torn last line followed only by blank lines is still a crash", async () => {
    const { out, records } = await journalWith(2);
    appendFileSync(records, '{"phase":"p","da\n\n  \n');
    expect(await recoveredIs(out)).toEqual({ is: [0, 1], dropped: 1 });
  });

  it("a line that is not JSON in the middle is corruption: a JournalLineError naming the file and the line", async () => {
    const { out, records } = await journalWith(4);
    const lines = readFileSync(records, "utf8").split("\n");
    lines[1] = lines[1]!.slice(0, 10);
    writeFileSync(records, lines.join("\n"));
    const err = catchError(() => Journal.resume(out, identity));
    expect(err).toBeInstanceOf(JournalLineError);
    expect(err).toMatchObject({ file: records, line: 2, field: "line" });
    expect((err as Error).message).toContain(`${records}, line 2: line: is not JSON`);
  });

  it.each([
    ["a JSON value that is not an object", "[1,2]", "line"],
    ["null", "null", "line"],
    ["a number", "5", "line"],
    ["a string", '"phase"', "line"],
    ["an unknown key", '{"phase":"p","data":{"i":9},"extra":1}', "extra"],
    ["a missing phase", '{"data":{"i":9}}', "phase"],
    ["an empty phase", '{"phase":"","data":{"i":9}}', "phase"],
    ["a phase that is not a string", '{"phase":7,"data":{"i":9}}', "phase"],
    ["a missing data", '{"phase":"p"}', "data"],
  ])("a whole line that is not a journal line (%s) is corruption, even the last one", async (_what, bad, field) => {
    for (const where of ["middle", "end"]) {
      const { out, records } = await journalWith(2);
      if (where === "end") appendFileSync(records, bad + "\n");
      else writeFileSync(records, readFileSync(records, "utf8").replace("\n", `\n${bad}\n`));
      const err = catchError(() => Journal.resume(out, identity));
      expect(err).toBeInstanceOf(JournalLineError);
      expect(err).toMatchObject({ file: records, line: where === "end" ? 3 : 2, field });
    }
  });

  it("line numbers count blank lines, as an editor does", async () => {
    const { out, records } = await journalWith(1);
    appendFileSync(records, '\n{"phase":"p","data":{"i":1}}\n');
    const { journal, recovered } = Journal.resume(out, identity);
    await journal.close();
    expect(recovered.phases.get("p")!.map((l) => [l.line, l.file])).toEqual([
      [1, records],
      [3, records],
    ]);
  });

  it("refuses a journal of another run, naming what differs", async () => {
    const { out } = await journalWith(1);
    expect(() => Journal.resume(out, { ...identity, seed: 2 })).toThrow(/seed was 1, now 2/);
  });
});

describe("Journal: manifest and checkpoints", () => {
  it("create refuses a folder that holds an unfinished run", async () => {
    const { out } = await journalWith(0);
    expect(() => Journal.create(out, identity, "config.yaml")).toThrow(/holds an unfinished run; resume it with --resume/);
  });

  it("resume refuses a folder without a journal, an unreadable manifest, and another journal version", async () => {
    const empty = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
    expect(() => Journal.resume(empty, identity)).toThrow(/holds no unfinished run to resume/);
    const { out } = await journalWith(0);
    const manifest = join(out, JOURNAL_DIR, "manifest.json");
    const good = readFileSync(manifest, "utf8");
    writeFileSync(manifest, "{ not json");
    expect(() => Journal.resume(out, identity)).toThrow(/manifest.json is unreadable/);
    // Version 2 journaled pairs lines with "layers" where version 3 says "tensors".
    writeFileSync(manifest, JSON.stringify({ ...(JSON.parse(good) as object), version: 2 }));
    expect(() => Journal.resume(out, identity)).toThrow(/is journal version 2; this coordinator reads version 3/);
  });

  it("a manifest without records (a crash right after create) resumes with nothing, and appends", async () => {
    const { out, records } = await journalWith(0);
    rmSync(records);
    const { journal, recovered } = Journal.resume(out, identity);
    expect(recovered.phases.size).toBe(0);
    expect(recovered.droppedLines).toBe(0);
    journal.append("p", { i: 0 });
    await journal.durable();
    await journal.close();
    expect(await recoveredIs(out)).toEqual({ is: [0], dropped: 0 });
  });

  it("checkpoints come back as written, under a file name made of the phase name; a missing or wrong-sized one is null", async () => {
    const out = mkdtempSync(join(tmpdir(), "gradswarm-journal-"));
    const journal = Journal.create(out, identity, "config.yaml");
    const values = new Float32Array([1.5, -2, 3.25]);
    journal.writeCheckpoint("theta/fisher-true", values);
    expect(existsSync(join(out, JOURNAL_DIR, "theta_fisher-true.f32"))).toBe(true);
    expect(existsSync(join(out, JOURNAL_DIR, "theta_fisher-true.f32.tmp"))).toBe(false);
    expect(journal.readCheckpoint("theta/fisher-true", 3)).toEqual(values);
    expect(journal.readCheckpoint("theta/fisher-true", 4)).toBeNull();
    expect(journal.readCheckpoint("theta/fisher-sampled", 3)).toBeNull();
    // A view into a larger buffer writes only its own values.
    journal.writeCheckpoint("twin", new Float32Array([9, 8, 7, 6]).subarray(1, 3));
    expect(journal.readCheckpoint("twin", 2)).toEqual(new Float32Array([8, 7]));
    await journal.remove();
    expect(existsSync(join(out, JOURNAL_DIR))).toBe(false);
  });
});

describe("Journal: what its errors say, and its files", () => {
  it("errors are named, say where and what, and keep their cause", async () => {
    const { out, records } = await journalWith(2);
    writeFileSync(records, readFileSync(records, "utf8") + '{"phase":"p","data":1,"x":2}\n');
    const unknown = catchError(() => Journal.resume(out, identity)) as JournalLineError;
    expect(unknown.name).toBe("JournalLineError");
    expect(unknown.message).toBe(`${records}, line 3: x: unknown key`);
    writeFileSync(records, '{"phase":"","data":1}\n');
    expect((catchError(() => Journal.resume(out, identity)) as Error).message).toBe(`${records}, line 1: phase: expected a phase name, got the string ""`);
    writeFileSync(records, '{"phase":"p"}\n');
    expect((catchError(() => Journal.resume(out, identity)) as Error).message).toBe(`${records}, line 1: data: missing`);
    writeFileSync(records, "[]\n");
    expect((catchError(() => Journal.resume(out, identity)) as Error).message).toBe(`${records}, line 1: line: expected an object, got an array of 0`);
    const manifest = join(out, JOURNAL_DIR, "manifest.json");
    writeFileSync(manifest, "{");
    const unreadable = catchError(() => Journal.resume(out, identity)) as JournalError;
    expect(unreadable.name).toBe("JournalError");
    expect(unreadable.cause).toBeInstanceOf(SyntaxError);
  });

  it("a line checked by its phase: the checker's field and words, after the file and line; other errors pass through", () => {
    const at = { file: "f.jsonl", line: 7, data: { n: "x" } };
    const typed = catchError(() => checkJournalLine(at, (_v, path) => fail(`${path}.n`, "expected a finite number, got the string \"x\""))) as JournalLineError;
    expect(typed).toBeInstanceOf(JournalLineError);
    expect(typed).toMatchObject({ file: "f.jsonl", line: 7, field: "data.n" });
    expect(typed.message).toBe('f.jsonl, line 7: data.n: expected a finite number, got the string "x"');
    expect(typed.cause).toBeInstanceOf(ProtocolError);
    const bug = new TypeError("a bug in a checker");
    expect(catchError(() => checkJournalLine(at, () => {
      throw bug;
    }))).toBe(bug);
    expect(journalLineError(at, "data[0].id", "not planned").message).toBe("f.jsonl, line 7: data[0].id: not planned");
  });

  it("a manifest of another run names each field that differs; one without an identity differs in all", async () => {
    const { out } = await journalWith(0);
    expect(() => Journal.resume(out, { ...identity, seed: 2, count: 7 })).toThrow(`the run in ${out} measured something else: seed was 1, now 2; count was 100, now 7`);
    const manifest = join(out, JOURNAL_DIR, "manifest.json");
    writeFileSync(manifest, JSON.stringify({ version: 3, configFile: "c", started: "s" }));
    expect(() => Journal.resume(out, identity)).toThrow(/measured something else: datasetHash was undefined, now "d"/);
  });

  it("lives in OUT/journal, creating OUT if needed, its manifest one JSON document and a newline", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "gradswarm-journal-")), "new", "out");
    const journal = Journal.create(out, identity, "config.yaml");
    const manifest = readFileSync(join(out, "journal", "manifest.json"), "utf8");
    expect(manifest.endsWith("}\n")).toBe(true);
    expect(JSON.parse(manifest)).toMatchObject({ version: 3, identity, configFile: "config.yaml" });
    await journal.close();
    await journal.close(); // twice is harmless
    await journal.remove();
    await journal.remove(); // and so is removing what is gone
    expect(existsSync(join(out, "journal"))).toBe(false);
  });

  it("a resume leaves a clean journal's bytes as they were (no newline added), an empty one empty", async () => {
    const { out, records } = await journalWith(2);
    const before = readFileSync(records);
    await (await Journal.resume(out, identity)).journal.close();
    expect(readFileSync(records)).toEqual(before);
    const empty = await journalWith(0);
    await Journal.resume(empty.out, identity).journal.close();
    expect(readFileSync(empty.records)).toHaveLength(0);
  });

  it("a datasync asked for after close says so", async () => {
    const { out } = await journalWith(0);
    const { journal } = Journal.resume(out, identity);
    await journal.close();
    await expect(journal.durable()).rejects.toThrow("the journal was closed before its last lines were made durable");
  });
});

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
