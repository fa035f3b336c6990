// Loss landscapes through real runs (nats-server, worker processes): the 2-D grid of a
// config is a function of its seed alone — the same bytes with one worker and with three,
// the same values as a float64 recomputation from the seed — and a coordinator killed in
// the middle of the landscape phase resumes with `--resume`, computing only the grid
// points its journal lacks, and writes the uninterrupted run's CSV byte for byte.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob } from "../../src/coordinator/run.js";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { planGrid, pointOnGrid, randomDirection } from "../../src/measures/landscape.js";
import { readLayersModel, writeLayersModel } from "../../src/model/layers-model-files.js";
import { evaluate64, type Mlp64 } from "../../src/model/reference64.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import { subjects } from "../../src/protocol/index.js";
import { terminate } from "../../src/util/child-process.js";
import { distFile } from "../../src/util/package-root.js";
import { Rng } from "../../src/util/rng.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const DATA = { n: 400, features: 12, classes: 3, seed: 6 };
const LANDSCAPE_SEED = 303;
const POINTS = 5;
const EXAMPLES = 200;
const NORMALIZATIONS = ["filter", "none"] as const;
const GRID = POINTS * POINTS;

/** per_task 1: every grid point is its own task and its own journal line. */
function config(prefix: string): string {
  return `model: {kind: mlp, layers: [12, 16, 3], activation: tanh, seed: 2}
data: {kind: synthetic, n: ${DATA.n}, features: ${DATA.features}, classes: ${DATA.classes}, seed: ${DATA.seed}}
pairs: {count: 4, batch_size: 8, seed: 1, per_task: 4}
landscape: {dims: 2, points: ${POINTS}, examples: ${EXAMPLES}, seed: ${LANDSCAPE_SEED}, per_task: 1}
workers: {lease_s: 20, wait_s: 60}
nats: {prefix: ${prefix}}
`;
}

function quietStream(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

function csvPath(dir: string, normalization: string): string {
  return join(dir, `landscape-theta-${normalization}.csv`);
}

interface RunSummary {
  run: { workers: { id: string; units: Record<string, number> }[]; pairs: { resumed: number; computed: number } };
}

function readResults(dir: string): RunSummary {
  return JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as RunSummary;
}

/** Landscape points accepted per phase, summed over the run's workers. */
function landscapeUnits(r: RunSummary, normalization: string): { total: number; perWorker: number[] } {
  const perWorker = r.run.workers.map((w) => w.units[`theta/landscape-${normalization}`] ?? 0);
  return { total: perWorker.reduce((a, b) => a + b, 0), perWorker };
}

/** The complete journal lines of each landscape phase: grid point ids, in order (repeats kept). */
function journaledPoints(dir: string): Map<string, number[]> {
  const out = new Map<string, number[]>(NORMALIZATIONS.map((n) => [`theta/landscape-${n}`, []]));
  const path = join(dir, "journal", "records.jsonl");
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    let line: { phase: string; data: unknown };
    try {
      line = JSON.parse(raw) as typeof line;
    } catch {
      continue; // empty, or a line the kill cut short (the resume drops it)
    }
    const ids = out.get(line.phase);
    if (ids) for (const p of line.data as { id: number }[]) ids.push(p.id);
  }
  return out;
}

interface Cli {
  process: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnCoordinator(args: string[]): Cli {
  const child = spawn(process.execPath, [distFile("coordinator/cli.js"), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { process: child, stderr: () => err, exited };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe("landscape grids through real runs", () => {
  let nats: NatsFixture;
  const work = mkdtempSync(join(tmpdir(), "gradswarm-landscape-"));
  const children: ChildProcess[] = [];
  let one: { prefix: string; workers: TestWorker[] };
  let three: { prefix: string; workers: TestWorker[] };
  const out1 = join(work, "one-worker");
  const out3 = join(work, "three-workers");

  async function run(label: string, prefix: string, outDir: string): Promise<void> {
    const cfg = join(work, `${label}.yaml`);
    writeFileSync(cfg, config(prefix));
    const log = quietStream();
    try {
      await runJob({ configPath: cfg, natsUrl: nats.server.url, outDir, stream: log.stream });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${log.text()}`, { cause: err });
    }
  }

  beforeAll(async () => {
    nats = await startNats();
    one = { prefix: uniquePrefix("landscape-1"), workers: [] };
    three = { prefix: uniquePrefix("landscape-3"), workers: [] };
    one.workers = [spawnWorker(nats.server.url, one.prefix, "ls1-w0")];
    three.workers = [0, 1, 2].map((i) => spawnWorker(nats.server.url, three.prefix, `ls3-w${i}`));
    await Promise.all([
      waitForHeartbeats(nats.nc, subjects(one.prefix).heartbeat, ["ls1-w0"], 45_000),
      waitForHeartbeats(nats.nc, subjects(three.prefix).heartbeat, three.workers.map((w) => w.id), 45_000),
    ]);
    await run("one", one.prefix, out1);
    await run("three", three.prefix, out3);
  }, 120_000);

  afterAll(async () => {
    for (const w of one?.workers ?? []) w.process.kill("SIGCONT");
    await Promise.all(children.map((c) => terminate(c, 5000)));
    await stopWorkers([...(one?.workers ?? []), ...(three?.workers ?? [])]);
    await nats?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("gives byte-identical CSVs with one worker and with three", () => {
    const r3 = readResults(out3);
    for (const normalization of NORMALIZATIONS) {
      const a = readFileSync(csvPath(out1, normalization), "utf8");
      const b = readFileSync(csvPath(out3, normalization), "utf8");
      expect(a.trim().split("\n")).toHaveLength(1 + GRID);
      expect(b).toBe(a);
      const { total, perWorker } = landscapeUnits(r3, normalization);
      console.log(`landscape: ${normalization}: points per worker with three workers: ${perWorker.join(", ")}`);
      expect(total).toBe(GRID);
    }
    // The three workers shared the grids, so the equality says something.
    const shared = r3.run.workers.filter((w) => NORMALIZATIONS.some((n) => (w.units[`theta/landscape-${n}`] ?? 0) > 0));
    expect(shared.length, "workers that computed landscape points").toBeGreaterThanOrEqual(2);
  });

  it("equals a float64 recomputation of the grid from the landscape seed", async () => {
    const theta: Snapshot = await readLayersModel(join(out1, "model.json"));
    const ds = makeSyntheticDataset(DATA);
    const refDir = join(work, "reference");
    await writeLayersModel(refDir, theta);
    const ref = await loadMlp64FromLayersModel(refDir);
    // The examples and grid as measure-subject.ts plans them.
    const indices = new Rng(LANDSCAPE_SEED, 99).sampleWithoutReplacement(DATA.n, EXAMPLES);
    const grid = planGrid(2, -1, 1, POINTS);
    /** Float32 weights at a grid point (θ's layout: kernel, bias per layer) as the reference MLP. */
    const at = (w: Float32Array): Mlp64 => {
      let k = 0;
      const take = (n: number) => Float64Array.from(w.subarray(k, (k += n)));
      return { layers: ref.layers.map((l) => ({ ...l, kernel: take(l.kernel.length), bias: take(l.bias.length) })) };
    };
    const reference = (seed: number, normalization: "filter" | "none") => {
      const d1 = randomDirection(theta, seed, 1, normalization);
      const d2 = randomDirection(theta, seed, 2, normalization);
      return grid.map((p) => evaluate64(at(pointOnGrid(theta.data, d1, d2, p.alpha, p.beta)), ds.x, ds.y, indices, DATA.features));
    };
    for (const normalization of NORMALIZATIONS) {
      const rows = readFileSync(csvPath(out1, normalization), "utf8").trim().split("\n").slice(1).map((r) => r.split(",").map(Number));
      const want = reference(LANDSCAPE_SEED, normalization);
      let worst = 0;
      rows.forEach(([id, alpha, beta, loss, accuracy], i) => {
        expect([id, alpha, beta]).toEqual([grid[i]!.id, grid[i]!.alpha, grid[i]!.beta]);
        worst = Math.max(worst, Math.abs(loss! - want[i]!.loss) / want[i]!.loss);
        // An argmax can flip on a float32 tie: at most one example of 200.
        expect(Math.abs(accuracy! - want[i]!.accuracy)).toBeLessThanOrEqual(1 / EXAMPLES + 1e-12);
      });
      console.log(`landscape: ${normalization}: largest relative loss difference from the float64 recomputation: ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-5);
      // Another seed is another landscape: the CSV is the seed's.
      const other = reference(LANDSCAPE_SEED + 1, normalization);
      expect(Math.max(...rows.map((r, i) => Math.abs(r[3]! - other[i]!.loss) / other[i]!.loss))).toBeGreaterThan(1e-2);
    }
  });

  it("a coordinator killed mid-landscape resumes, computing only the missing points, and writes the same CSV", async () => {
    const dir = join(work, "killed");
    const cfg = join(work, "killed.yaml");
    writeFileSync(cfg, config(one.prefix));
    const records = join(dir, "journal", "records.jsonl");
    const first = spawnCoordinator(["run", cfg, "--nats", nats.server.url, "--out", dir]);
    children.push(first.process);
    const worker = one.workers[0]!.process;
    const deadline = Date.now() + 60_000;
    // Kill once the journal holds the first landscape (filter, 25 points) and part of the
    // second (none): a finished phase and an unfinished one to resume. With per_task 1 a
    // journal line is a point. The single worker is paused first, so the run cannot race
    // to the end between the check and the kill.
    const landscapeLines = () => (existsSync(records) ? readFileSync(records, "utf8").split('"phase":"theta/landscape-').length - 1 : 0);
    while (landscapeLines() < GRID + 5) {
      if (first.process.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the coordinator exited or stalled before ${GRID + 5} landscape points were journaled (exit ${first.process.exitCode})\n${first.stderr()}`);
      }
      await sleep(2);
    }
    worker.kill("SIGSTOP");
    try {
      first.process.kill("SIGKILL");
      await first.exited;
    } finally {
      worker.kill("SIGCONT");
    }
    expect(first.process.signalCode).toBe("SIGKILL");
    expect(existsSync(join(dir, "results.json"))).toBe(false);
    const before = journaledPoints(dir);
    const recorded = NORMALIZATIONS.map((n) => before.get(`theta/landscape-${n}`)!);
    const recordedCount = recorded.reduce((s, ids) => s + ids.length, 0);
    expect(recordedCount, "landscape points journaled before the kill").toBeGreaterThan(0);
    expect(recordedCount, "the kill came before the end of the landscape phases").toBeLessThan(NORMALIZATIONS.length * GRID);

    const second = spawnCoordinator(["run", cfg, "--nats", nats.server.url, "--resume", dir]);
    children.push(second.process);
    const code = await Promise.race([second.exited, sleep(50_000).then(() => "timeout" as const)]);
    expect(code, second.stderr()).toBe(0);

    const r = readResults(dir);
    expect(r.run.pairs.resumed, "every pair was journaled before the landscape began").toBe(4);
    expect(r.run.pairs.computed).toBe(0);
    for (const [k, normalization] of NORMALIZATIONS.entries()) {
      const ids = recorded[k]!;
      const { total } = landscapeUnits(r, normalization);
      console.log(`landscape: resume, ${normalization}: ${ids.length} points journaled before the kill, ${total} computed after`);
      // Each point once: the journal's points are distinct grid points, and the resumed
      // run computed exactly the others.
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < GRID)).toBe(true);
      expect(total + ids.length).toBe(GRID);
      expect(readFileSync(csvPath(dir, normalization), "utf8")).toBe(readFileSync(csvPath(out1, normalization), "utf8"));
    }
    expect(existsSync(join(dir, "journal")), "the journal is removed once the outputs are written").toBe(false);
  });
});
