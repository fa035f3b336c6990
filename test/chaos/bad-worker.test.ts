// Fault 6: a worker that returns NaN/Inf, or gradient vectors of the wrong length. Next
// to two honest worker processes, a hostile worker played by this test over NATS pulls
// tasks with valid task.pull messages and answers them with poison: task.result messages
// holding NaN or Infinity (packed by a raw msgpackr Packr, bypassing our encoder's
// validation), or, in a `return: vectors` run, task.chunk messages of the wrong total
// length or with NaN inside, each followed by an otherwise valid task.result. Every such
// result is refused and its task redone by an honest worker; the hostile worker is
// quarantined after workers.quarantine_after bad results, reported in results.json, and
// its later pulls are answered with an error of code "quarantined". The measures are
// bit-identical to the fault-free run.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNoAnswer } from "../../src/nats/connect.js";
import {
  createMessage,
  decodeMessage,
  encodeMessage,
  float32Bytes,
  type AckMessage,
  type ErrorMessage,
  type PairStats,
  type RunSubjects,
  type TaskMessage,
  type TaskResultMessage,
} from "../../src/protocol/index.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { RunWatch } from "../helpers/runs.js";
import { mlpTensorNames, mlpTensorSizes, ProcessPool, rawPackr, sleep, startWorkers, withWorkerOptions } from "./fault-helpers.js";
import { chaosConfig, expectSameAsBaseline, runCoordinator, workDir, type ChaosOptions, type Outcome } from "./harness.js";

const QUARANTINE_AFTER = 3;
/**
 * The harness's model: MLP 784-24-10, two Dense layers. Workers report statistics (and
 * send vectors) per trainable weight tensor: dense_1/kernel, dense_1/bias, dense_2/kernel,
 * dense_2/bias, of 18816, 24, 240 and 10 parameters.
 */
const TENSORS = mlpTensorNames([784, 24, 10]);
const TENSOR_SIZES = mlpTensorSizes([784, 24, 10]);
/** The model's Dense layers, as results.json sums the tensors into them. */
const DENSE_LAYERS = ["dense_1", "dense_2"];

interface Reply {
  what: string;
  accepted: boolean;
  detail: string;
}

type Behaviour = (task: TaskMessage, n: number, h: HostileWorker) => Promise<void>;

/** A worker that speaks the protocol well enough to get tasks, and answers them with `behave`. */
class HostileWorker {
  private readonly runs: RunWatch;
  /** The task subjects of the run it pulls from (the first it heard of). */
  s!: RunSubjects;
  readonly tasks: string[] = [];
  readonly replies: Reply[] = [];
  /** The coordinator's answers to pulls that it refused (up to 3; then the worker leaves). */
  readonly refusedPulls: ErrorMessage[] = [];
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
    readonly id: string,
    private readonly behave: Behaviour,
    /** Leave after this many tasks. */
    private readonly maxTasks = Infinity,
  ) {
    this.runs = new RunWatch(nc, prefix);
    this.done = this.loop().finally(() => this.runs.stop());
    // A failure surfaces where `done` is awaited, not as an unhandled rejection before.
    this.done.catch(() => undefined);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  /** Sends bytes as a request and records the coordinator's answer (ack or error). */
  async send(subject: string, bytes: Uint8Array, what: string): Promise<Reply> {
    const msg = await this.nc.request(subject, bytes, { timeout: 10_000 });
    const answer = decodeMessage(msg.data, ["ack", "error"]) as AckMessage | ErrorMessage;
    const reply: Reply =
      answer.type === "ack" ? { what, accepted: answer.accepted, detail: answer.reason ?? "" } : { what, accepted: false, detail: `error ${answer.code}: ${answer.message}` };
    this.replies.push(reply);
    return reply;
  }

  private async loop(): Promise<void> {
    const pull = encodeMessage(createMessage("task.pull", { workerId: this.id, instance: this.id, backend: "hostile" }));
    while (!this.stopped && this.tasks.length < this.maxTasks) {
      const run = this.runs.current();
      if (!run) {
        await sleep(20); // no run announced yet
        continue;
      }
      this.s = run;
      let reply;
      try {
        reply = decodeMessage((await this.nc.request(this.s.pull, pull, { timeout: 5000 })).data, ["task", "task.none", "error"]);
      } catch (err) {
        if (!isNoAnswer(err)) throw err;
        await sleep(20); // no coordinator yet
        continue;
      }
      if (reply.type === "error") {
        this.refusedPulls.push(reply);
        if (this.refusedPulls.length >= 3) return;
        continue;
      }
      if (reply.type === "task.none") {
        if (reply.done) return;
        await sleep(reply.retryMs);
        continue;
      }
      this.tasks.push(reply.taskId);
      await this.behave(reply, this.tasks.length - 1, this);
    }
  }
}

/**
 * Finite, plausible statistics for a task's pairs (what a lying worker would claim), over
 * `groups` parameter groups (the model's 4 tensors unless a test lies about them too).
 */
function plausibleStats(task: TaskMessage, groups = TENSORS.length): PairStats[] {
  const norms = Array.from({ length: groups }, () => 1 / Math.sqrt(groups + 1));
  const dots = Array.from({ length: groups }, () => 0.5 / groups);
  return task.pairs.map((p) => ({ id: p.id, loss: [2.3, 2.3], norm: [1, 1], dot: 0.5, tensorNorm: [[...norms], [...norms]], tensorDot: [...dots], metrics: [] }));
}

function resultBody(task: TaskMessage, workerId: string, pairs: PairStats[], tensorSizes = TENSOR_SIZES, tensors = TENSORS): TaskResultMessage {
  return createMessage("task.result", { runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId, computeMs: 3, tensors, tensorSizes, pairs });
}

function chunkBody(task: TaskMessage, workerId: string, pair: number, tensor: number, offset: number, g1: Float32Array, g2: Float32Array) {
  return createMessage("task.chunk", { runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId, pair, tensor, offset, g1: float32Bytes(g1), g2: float32Bytes(g2) });
}

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i) * 0.01);
}

/** ‖g1‖, ‖g2‖, g1·g2 per tensor and in all, in float64 in value order, as the coordinator sums them. */
function statsOf(id: number, g1: Float32Array[], g2: Float32Array[]): PairStats {
  const sq1: number[] = [];
  const sq2: number[] = [];
  const dot: number[] = [];
  g1.forEach((a, l) => {
    const b = g2[l]!;
    let s1 = 0;
    let s2 = 0;
    let d = 0;
    for (let i = 0; i < a.length; i++) {
      s1 += a[i]! * a[i]!;
      s2 += b[i]! * b[i]!;
      d += a[i]! * b[i]!;
    }
    sq1.push(s1);
    sq2.push(s2);
    dot.push(d);
  });
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  return { id, loss: [2.3, 2.3], norm: [Math.sqrt(sum(sq1)), Math.sqrt(sum(sq2))], dot: sum(dot), tensorNorm: [sq1.map(Math.sqrt), sq2.map(Math.sqrt)], tensorDot: dot, metrics: [] };
}

/** Replies in order, runs of the same one counted: "10× short chunk → taken | result → …". */
function summarize(replies: Reply[]): string {
  const runs: { text: string; n: number }[] = [];
  for (const r of replies) {
    const text = `${r.what} → ${r.accepted ? "taken" : r.detail.replace(/^error (\w+): coordinator \(protocol v\d+\) refused the message: /, "error $1: ")}`;
    const last = runs.at(-1);
    if (last?.text === text) last.n++;
    else runs.push({ text, n: 1 });
  }
  return runs.map((r) => `${r.n > 1 ? `${r.n}× ` : ""}${r.text}`).join(" | ");
}

interface RunSnapshot {
  snapshot: { parameters: number; gradient_layers: string[]; gradient_tensors: string[] };
}

function readRun(outDir: string): RunSnapshot {
  return (JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) as { run: RunSnapshot }).run;
}

describe("chaos: a worker that returns bad results", () => {
  const pool = new ProcessPool();
  let nats: NatsFixture;
  let url: string;
  let prefix: string;
  let statsBase: Outcome;
  let vectorsBase: Outcome;
  const hostiles: HostileWorker[] = [];

  beforeAll(async () => {
    nats = await startNats();
    url = nats.server.url;
    prefix = uniquePrefix("bad-worker");
    await startWorkers(pool, nats.nc, url, prefix, ["bad-worker-honest0", "bad-worker-honest1"]);
    // The fault-free runs, by the same two honest workers.
    statsBase = (await runCoordinator("bad-worker-baseline", chaosConfig(prefix), url)).outcome;
    vectorsBase = (await runCoordinator("bad-worker-baseline-vectors", chaosConfig(prefix, { returns: "vectors" }), url)).outcome;
    // The layout the hostile worker mimics is the model's.
    const run = readRun(join(workDir, "bad-worker-baseline"));
    expect(run.snapshot.gradient_tensors).toEqual(TENSORS);
    expect(run.snapshot.gradient_layers).toEqual(DENSE_LAYERS);
    expect(run.snapshot.parameters).toBe(TENSOR_SIZES.reduce((a, b) => a + b, 0));
  });

  afterAll(async () => {
    await Promise.all(hostiles.map((h) => h.stop().catch(() => undefined)));
    await pool.stopAll();
    await nats?.close();
  });

  /** Runs the coordinator with the hostile worker pulling beside the honest ones. */
  async function runWithHostile(label: string, o: ChaosOptions, behave: Behaviour, maxTasks = Infinity): Promise<{ outcome: Outcome; hostile: HostileWorker; log: string }> {
    const hostile = new HostileWorker(nats.nc, prefix, `${label}-hostile`, behave, maxTasks);
    hostiles.push(hostile);
    try {
      const { outcome, log } = await runCoordinator(label, withWorkerOptions(chaosConfig(prefix, o), { quarantine_after: QUARANTINE_AFTER }), url);
      return { outcome, hostile, log };
    } finally {
      await hostile.stop();
    }
  }

  function expectQuarantined(label: string, outcome: Outcome, hostile: HostileWorker, log: string): void {
    const record = outcome.run.workers.find((w) => w.id === hostile.id);
    expect(record, `${hostile.id} in run.workers`).toBeDefined();
    expect(record!.bad_results).toBeGreaterThanOrEqual(QUARANTINE_AFTER);
    expect(record!.quarantined).toMatch(new RegExp(`^${record!.bad_results} bad results; the last: `));
    expect(record!.pairs, "pairs accepted from the hostile worker").toBe(0);
    expect(outcome.run.faults.quarantinedWorkers).toBe(1);
    expect(hostile.tasks.length, "tasks the hostile worker got").toBe(QUARANTINE_AFTER);
    expect(hostile.replies.filter((r) => r.what.startsWith("result") && r.accepted), "results of the hostile worker taken").toEqual([]);
    expect(hostile.refusedPulls.length, "pulls after the quarantine refused").toBeGreaterThanOrEqual(1);
    for (const r of hostile.refusedPulls) {
      expect(r.code).toBe("quarantined");
      expect(r.message).toContain(hostile.id);
    }
    expect(log).toContain(`worker ${hostile.id} is quarantined`);
    console.log(`[chaos ${label}] hostile worker: ${hostile.tasks.length} tasks taken (${hostile.tasks.join(", ")}), replies: ${summarize(hostile.replies)}; then ${hostile.refusedPulls.length} pulls refused: ${hostile.refusedPulls[0]!.code}: ${hostile.refusedPulls[0]!.message}`);
  }

  it("NaN and Infinity in task.result: refused, redone elsewhere, the worker quarantined; identical measures", async () => {
    const poison: [string, (p: PairStats) => void][] = [
      ["dot NaN", (p) => (p.dot = NaN)],
      ["norm Infinity", (p) => (p.norm[1] = Infinity)],
      ["tensorDot -Infinity", (p) => (p.tensorDot[0] = -Infinity)],
    ];
    const { outcome, hostile, log } = await runWithHostile("bad-worker-nan", {}, async (task, n, h) => {
      const [what, spoil] = poison[n % poison.length]!;
      const pairs = plausibleStats(task);
      spoil(pairs[pairs.length - 1]!);
      const reply = await h.send(h.s.result, rawPackr.pack(resultBody(task, h.id, pairs)), `result with ${what}`);
      expect(reply.detail).toMatch(/^error bad_message: /);
    });
    expectQuarantined("bad-worker-nan", outcome, hostile, log);
    expect(hostile.replies.map((r) => r.detail).join("\n")).toMatch(/pairs\[4\]\.dot.*NaN/);
    expect(outcome.run.faults.refusedMessages).toBeGreaterThanOrEqual(QUARANTINE_AFTER);
    expectSameAsBaseline("bad-worker-nan", outcome, statsBase, `${hostile.tasks.length} task.results with NaN/±Infinity from a hostile worker`);
  });

  it("return: vectors, chunks of the wrong total length or with NaN inside: refused, redone, quarantined; identical measures", async () => {
    const { outcome, hostile, log } = await runWithHostile("bad-worker-vectors", { returns: "vectors" }, async (task, n, h) => {
      const kind = n % 3;
      for (const p of task.pairs) {
        for (let tensor = 0; tensor < TENSORS.length; tensor++) {
          if (kind === 0) {
            // Too short: 8 values where the tensor has 10 to 18816.
            await h.send(h.s.chunk, encodeMessage(chunkBody(task, h.id, p.id, tensor, 0, values(8, p.id), values(8, p.id + 1))), "short chunk");
          } else if (kind === 1) {
            // NaN inside the task's first chunk (our encoder would refuse to send it); the
            // rest are sound but come under a lease the NaN has already cost the worker.
            const size = TENSOR_SIZES[tensor]!;
            const body = chunkBody(task, h.id, p.id, tensor, 0, values(size, p.id), values(size, p.id + 1));
            if (p === task.pairs[0] && tensor === 0) {
              const g1 = values(size, p.id);
              g1[5] = NaN;
              await h.send(h.s.chunk, rawPackr.pack({ ...body, g1: float32Bytes(g1) }), "chunk with NaN");
            } else {
              await h.send(h.s.chunk, encodeMessage(body), "chunk after the NaN one");
            }
          } else {
            // Too long: the whole tensor and 8 values more.
            const size = TENSOR_SIZES[tensor]!;
            await h.send(h.s.chunk, encodeMessage(chunkBody(task, h.id, p.id, tensor, 0, values(size, p.id), values(size, p.id + 1))), "chunks of a whole tensor and 8 values more");
            await h.send(h.s.chunk, encodeMessage(chunkBody(task, h.id, p.id, tensor, size, values(8, p.id), values(8, p.id + 1))), "chunks of a whole tensor and 8 values more");
          }
        }
      }
      await h.send(h.s.result, encodeMessage(resultBody(task, h.id, plausibleStats(task))), "result");
    });
    expectQuarantined("bad-worker-vectors", outcome, hostile, log);
    const details = hostile.replies.map((r) => r.detail).join("\n");
    expect(details).toMatch(/tensor dense_1\/kernel: 8 of 18816 gradient values arrived/);
    expect(details).toMatch(/error bad_message: .*g1: value 5 is NaN/);
    expect(details).toMatch(/tensor dense_1\/kernel: 18824 of 18816 gradient values arrived|tensor dense_1\/bias: 32 of 24 gradient values arrived|tensor dense_2\/kernel: 248 of 240 gradient values arrived|tensor dense_2\/bias: 18 of 10 gradient values arrived/);
    expectSameAsBaseline("bad-worker-vectors", outcome, vectorsBase, "a hostile worker's task.chunks: too short, NaN inside, too long");
  });

  // Regression: every malformed task.chunk was once a strike of its own, even under a
  // lease already lost, so one task with NaN in its 20 chunks (5 pairs × 4 weight tensors)
  // quarantined the worker at once. Now a strike needs the worker's own live lease.
  it("return: vectors, NaN in every chunk of one task: one bad result, not one per chunk", async () => {
    const { outcome, hostile } = await runWithHostile(
      "bad-worker-nan-everywhere",
      { returns: "vectors" },
      async (task, _n, h) => {
        for (const p of task.pairs) {
          for (let tensor = 0; tensor < TENSORS.length; tensor++) {
            const size = TENSOR_SIZES[tensor]!;
            const g1 = values(size, p.id).fill(NaN);
            await h.send(h.s.chunk, rawPackr.pack({ ...chunkBody(task, h.id, p.id, tensor, 0, values(size, p.id), values(size, p.id + 1)), g1: float32Bytes(g1) }), "chunk of NaN");
          }
        }
      },
      1,
    );
    const record = outcome.run.workers.find((w) => w.id === hostile.id);
    expect(hostile.tasks).toHaveLength(1);
    expect(record?.bad_results, "bad results charged for one bad task").toBe(1);
    expect(record?.quarantined).toBeNull();
    expectSameAsBaseline("bad-worker-nan-everywhere", outcome, vectorsBase, `one task answered with NaN in all its ${5 * TENSORS.length} chunks`);
  });

  // Regression: the chunks were once checked only against the tensorSizes the worker
  // itself declared, so 8 values per tensor declared as [8, 8, 8, 8] were accepted. Now
  // the model's own parameter counts (18816, 24, 240 and 10 here) decide.
  it("return: vectors, short vectors with matching declared tensorSizes: refused", async () => {
    const { outcome, hostile, log } = await runWithHostile("bad-worker-short-declared", { returns: "vectors" }, async (task, _n, h) => {
      const stats: PairStats[] = [];
      for (const p of task.pairs) {
        const g1 = TENSORS.map((_, l) => values(8, 10 * p.id + l));
        const g2 = TENSORS.map((_, l) => values(8, 10 * p.id + l + 5));
        for (let tensor = 0; tensor < TENSORS.length; tensor++) {
          await h.send(h.s.chunk, encodeMessage(chunkBody(task, h.id, p.id, tensor, 0, g1[tensor]!, g2[tensor]!)), "chunk of 8 values");
        }
        stats.push(statsOf(p.id, g1, g2));
      }
      await h.send(h.s.result, encodeMessage(resultBody(task, h.id, stats, TENSORS.map(() => 8))), "result declaring tensorSizes [8, 8, 8, 8]");
    });
    expect(hostile.replies.filter((r) => r.what.startsWith("result") && r.accepted), "short-vector results accepted").toEqual([]);
    expect(hostile.replies.filter((r) => r.what.startsWith("result")).map((r) => r.detail)).toContain("dense_1/kernel has 18816 parameters, the result says 8");
    expectQuarantined("bad-worker-short-declared", outcome, hostile, log);
    expectSameAsBaseline("bad-worker-short-declared", outcome, vectorsBase, "a hostile worker's 8-value vectors with tensorSizes [8, 8, 8, 8]");
  });

  // A result's parameter groups must be exactly θ's trainable weight tensors, in order:
  // statistics per Dense layer (what workers reported before they spoke in tensors), a
  // tensor left out, or tensors in another order are not θ's gradient and are refused.
  it("task.result over other parameter groups than θ's weight tensors: refused, redone, quarantined; identical measures", async () => {
    const lies: { what: string; tensors: string[]; sizes: number[] }[] = [
      { what: "per Dense layer", tensors: DENSE_LAYERS, sizes: [784 * 24 + 24, 24 * 10 + 10] },
      { what: "without the biases", tensors: [TENSORS[0]!, TENSORS[2]!], sizes: [TENSOR_SIZES[0]!, TENSOR_SIZES[2]!] },
      { what: "in another order", tensors: [TENSORS[1]!, TENSORS[0]!, TENSORS[3]!, TENSORS[2]!], sizes: [TENSOR_SIZES[1]!, TENSOR_SIZES[0]!, TENSOR_SIZES[3]!, TENSOR_SIZES[2]!] },
    ];
    const { outcome, hostile, log } = await runWithHostile("bad-worker-groups", {}, async (task, n, h) => {
      const lie = lies[n % lies.length]!;
      await h.send(h.s.result, encodeMessage(resultBody(task, h.id, plausibleStats(task, lie.tensors.length), lie.sizes, lie.tensors)), `result ${lie.what}`);
    });
    expectQuarantined("bad-worker-groups", outcome, hostile, log);
    const details = hostile.replies.filter((r) => r.what.startsWith("result")).map((r) => r.detail);
    const model = `the model's trainable weights are [${TENSORS.join(",")}]`;
    expect(details).toEqual([
      "dense_1 is not a trainable weight of the model",
      `the result covers [dense_1/kernel,dense_2/kernel], ${model}`,
      `the result covers [dense_1/bias,dense_1/kernel,dense_2/bias,dense_2/kernel], ${model}`,
    ]);
    expectSameAsBaseline("bad-worker-groups", outcome, statsBase, "task.results per Dense layer, without the biases, and with the tensors reordered");
  });
});
