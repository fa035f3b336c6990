// Fault 5: the coordinator SIGKILLed during a run and started again with
// `coordinator run CONFIG --resume DIR`. It continues from what it had durably recorded
// in DIR/journal: the pairs recorded there are neither recomputed nor counted twice, and
// the measures are bit-identical to the fault-free run. A torn last journal line (a
// crash in the middle of a write) is dropped and its pairs computed again; a resume with
// a config that measures something else is refused, naming what differs.

import { appendFileSync, cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { exitWithin, journalLines, journalRecordsPath, PAIRS_PHASE, ProcessPool, readJournal, spawnCoordinator, startWorkers, waitUntil, type JournalLine } from "./fault-helpers.js";
import { chaosConfig, expectSameAsBaseline, readOutcome, runCoordinator, workDir, writeConfig, type Outcome } from "./harness.js";

const PAIRS = 240;
/** Journal lines (accepted tasks of 5 pairs) to wait for before the kill. */
const KILL_AFTER_LINES = 4;

describe("chaos: coordinator killed and resumed", () => {
  const pool = new ProcessPool();
  let nats: NatsFixture;
  let url: string;
  let prefix: string;
  let configPath: string;
  let base: Outcome;
  /** The killed run's folder, and copies of it taken before any resume touched it. */
  const killedDir = join(workDir, "resume-killed");
  const tornDir = join(workDir, "resume-torn");
  const otherSeedDir = join(workDir, "resume-other-seed");
  let before: { lines: number; pairs: Set<number>; text: string };

  beforeAll(async () => {
    nats = await startNats();
    url = nats.server.url;
    prefix = uniquePrefix("resume");
    await startWorkers(pool, nats.nc, url, prefix, ["resume-w0", "resume-w1"]);
    // The fault-free run, by the same two workers.
    base = (await runCoordinator("resume-baseline", chaosConfig(prefix, { pairs: PAIRS }), url)).outcome;

    configPath = writeConfig("resume", chaosConfig(prefix, { pairs: PAIRS }));
    const first = pool.add(spawnCoordinator(["run", configPath, "--nats", url, "--out", killedDir]));
    await waitUntil(() => journalLines(killedDir) >= KILL_AFTER_LINES || first.process.exitCode !== null, `${KILL_AFTER_LINES} journal lines`, () => first.stderr().length + journalLines(killedDir), { everyMs: 5 });
    first.process.kill("SIGKILL");
    await first.exited;
    if (first.process.signalCode !== "SIGKILL") {
      throw new Error(`the coordinator exited (code ${first.process.exitCode}) before it could be killed mid-run\n--- stderr ---\n${first.stderr()}`);
    }
    before = readJournal(killedDir);
    cpSync(killedDir, tornDir, { recursive: true });
    cpSync(killedDir, otherSeedDir, { recursive: true });
  });

  afterAll(async () => {
    await pool.stopAll();
    await nats?.close();
  });

  it("continues from the journal: recomputes nothing recorded, counts nothing twice, identical measures", async () => {
    const recorded = before.pairs.size;
    expect(recorded, "pairs journaled before the kill").toBeGreaterThan(0);
    expect(recorded, "the kill came before the end").toBeLessThan(PAIRS);
    expect(existsSync(join(killedDir, "results.json")), "a killed run writes no results").toBe(false);

    const second = pool.add(spawnCoordinator(["run", configPath, "--nats", url, "--resume", killedDir]));
    const code = await exitWithin(second, "the resumed coordinator");
    expect(code, second.stderr()).toBe(0);
    expect(second.stderr()).toContain(`${PAIRS_PHASE}: ${recorded} of ${PAIRS} pairs recovered from the journal; ${PAIRS - recorded} to compute`);

    const outcome = readOutcome(killedDir);
    expect(outcome.run.pairs.resumed).toBe(recorded);
    expect(outcome.run.pairs.computed).toBe(PAIRS - recorded);
    // Tasks were planned over the unrecorded pairs only (5 pairs a task).
    expect(outcome.run.pairs.tasks).toBe(Math.ceil((PAIRS - recorded) / 5));
    // What the workers had accepted in this second run is exactly what was left to do.
    const accepted = outcome.run.workers.reduce((s, w) => s + w.pairs, 0);
    expect(accepted, "pairs accepted from workers after the resume").toBe(PAIRS - recorded);
    expect(existsSync(join(killedDir, "journal")), "the journal is removed once the outputs are written").toBe(false);
    expectSameAsBaseline("resume", outcome, base, `SIGKILL of the coordinator CLI after ${before.lines} journal lines (${recorded} pairs), then --resume`);
  });

  it("drops a torn last journal line and computes its pairs again, still identical", async () => {
    // Half of a line the killed coordinator might have been writing: the next pairs not
    // yet recorded, in the journal's own format, with the fault-free run's numbers.
    const first = JSON.parse(before.text.split("\n")[0]!) as JournalLine;
    expect(first.phase).toBe(PAIRS_PHASE);
    // The journal keeps the workers' per-tensor statistics; pairs.jsonl holds them summed
    // per layer. Each layer's numbers go to its first tensor (zeros for the others), which
    // keeps every sum of squares and every dot product.
    const tensors = first.data.tensors!;
    const layerOf = (t: string) => t.slice(0, t.lastIndexOf("/"));
    const firstOfLayer = (t: string, i: number) => tensors.findIndex((u) => layerOf(u) === layerOf(t)) === i;
    const baseRecords = base.pairs
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { pair: number; batches: [number[], number[]]; loss: number[]; norm: number[]; dot: number; layers: Record<string, { norm: number[]; dot: number }> });
    const missing = baseRecords.filter((r) => !before.pairs.has(r.pair)).slice(0, 5);
    const perTensor = (r: (typeof baseRecords)[number], value: (l: { norm: number[]; dot: number }) => number) =>
      tensors.map((t, i) => (firstOfLayer(t, i) ? value(r.layers[layerOf(t)]!) : 0));
    const line = JSON.stringify({
      phase: PAIRS_PHASE,
      data: {
        tensors,
        pairs: missing.map((r) => ({
          id: r.pair,
          loss: r.loss,
          norm: r.norm,
          dot: r.dot,
          tensorNorm: [perTensor(r, (l) => l.norm[0]!), perTensor(r, (l) => l.norm[1]!)],
          tensorDot: perTensor(r, (l) => l.dot),
          metrics: [],
          batches: r.batches,
        })),
      },
    });
    expect(readFileSync(journalRecordsPath(tornDir), "utf8").endsWith("\n")).toBe(true);
    appendFileSync(journalRecordsPath(tornDir), line.slice(0, Math.floor(line.length / 2)));

    const run = pool.add(spawnCoordinator(["run", configPath, "--nats", url, "--resume", tornDir]));
    const code = await exitWithin(run, "the coordinator resuming a torn journal");
    expect(code, run.stderr()).toBe(0);
    expect(run.stderr()).toContain("resume: dropped 1 incomplete journal line");
    const outcome = readOutcome(tornDir);
    expect(outcome.run.pairs.resumed, "the torn line's pairs are not taken as recorded").toBe(before.pairs.size);
    expect(outcome.run.pairs.computed).toBe(PAIRS - before.pairs.size);
    expect(outcome.run.workers.reduce((s, w) => s + w.pairs, 0)).toBe(PAIRS - before.pairs.size);
    expectSameAsBaseline("resume-torn", outcome, base, `coordinator SIGKILLed, then half a journal line (pairs ${missing.map((r) => r.pair).join(",")}) appended before --resume`);
  });

  it("refuses to resume with a config that measures something else, naming what differs", async () => {
    const yaml = chaosConfig(prefix, { pairs: PAIRS });
    expect(yaml).toContain("seed: 11,");
    const otherSeed = writeConfig("resume-other-seed", yaml.replace("seed: 11,", "seed: 12,"));
    const journalBefore = readFileSync(journalRecordsPath(otherSeedDir), "utf8");

    const run = pool.add(spawnCoordinator(["run", otherSeed, "--nats", url, "--resume", otherSeedDir]));
    const code = await exitWithin(run, "the coordinator resuming with another seed");
    expect(code, run.stderr()).toBe(2);
    expect(run.stderr()).toContain("measured something else");
    expect(run.stderr()).toContain("seed was 11, now 12");
    // Nothing was touched: the run can still be resumed with its own config.
    expect(readFileSync(journalRecordsPath(otherSeedDir), "utf8")).toBe(journalBefore);
    expect(existsSync(join(otherSeedDir, "results.json"))).toBe(false);
    console.log(`[chaos resume-other-seed] resume with pairs.seed 12 over a seed-11 journal refused (exit ${code}): ${run.stderr().trim().split("\n").at(-1)}`);
  });
});
