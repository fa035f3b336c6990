// Shared pieces of the fault tests: a small run that takes a few seconds, its fault-free
// baseline, the comparison (bit-identical measures and pairs), and the line every fault
// test prints: tasks, faults injected, results lost, results counted twice.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { expect } from "vitest";
import type { ResultsFile } from "../../src/coordinator/report/outputs.js";
import { runJob } from "../../src/coordinator/run.js";
import { decodeWorkerHeartbeat, subjects, type WorkerHeartbeatMessage } from "../../src/protocol/index.js";
import { uniquePrefix } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

const EXAMPLE_DATA = resolve("examples/data");

export interface ChaosOptions {
  pairs?: number;
  perTask?: number;
  batchSize?: number;
  leaseS?: number;
  waitS?: number;
  maxAttempts?: number;
  returns?: "stats" | "vectors";
  /** Extra YAML under `nats:` (e.g. "replicas: 3"). */
  natsExtra?: string;
  /** run.stall_timeout_s: a run without progress this long fails with the stall report. */
  stallS?: number;
}

/**
 * A fault test's run ends itself, with the coordinator's stall report, after this long
 * without progress: the tests wait on progress, not on a wall-clock budget, so a loaded
 * machine slows them down instead of failing them.
 */
export const TEST_STALL_S = 60;

/** A run of ~60 pairs of the 784-24-10 MLP on 2,000 MNIST digits: seconds on 2 cores. */
export function chaosConfig(prefix: string, o: ChaosOptions = {}): string {
  return `model: {kind: mlp, layers: [784, 24, 10], activation: tanh, seed: 3}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: ${o.pairs ?? 60}, batch_size: ${o.batchSize ?? 32}, seed: 11, per_task: ${o.perTask ?? 5}}
workers: {lease_s: ${o.leaseS ?? 3}, wait_s: ${o.waitS ?? 60}, max_attempts: ${o.maxAttempts ?? 8}}
nats: {prefix: ${prefix}${o.natsExtra ? `, ${o.natsExtra}` : ""}}
run: {stall_timeout_s: ${o.stallS ?? TEST_STALL_S}}
return: ${o.returns ?? "stats"}
`;
}

/** What a fault test compares: results.json as typed for its writer (report/outputs.ts), and pairs.jsonl. */
export type Outcome = Pick<ResultsFile, "measures" | "layers" | "tensors" | "run"> & { pairs: string };

export const workDir = mkdtempSync(join(tmpdir(), "gradswarm-chaos-"));

export function writeConfig(name: string, yaml: string): string {
  const path = join(workDir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

export function readOutcome(outDir: string): Outcome {
  const results = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) as ResultsFile;
  return { ...results, pairs: readFileSync(join(outDir, "pairs.jsonl"), "utf8") };
}

/** A stream that keeps the coordinator's log, to show when an assertion fails. */
export function logCollector(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/**
 * Runs the coordinator in this process against `natsUrl` with the workers already there.
 * A stall ends the run itself (run.stall_timeout_s, with the report); a failure shows the
 * coordinator's log.
 */
export async function runCoordinator(label: string, yaml: string, natsUrl: string): Promise<{ outcome: Outcome; log: string }> {
  const out = join(workDir, label);
  const logs = logCollector();
  try {
    await runJob({ configPath: writeConfig(label, yaml), natsUrl, outDir: out, stream: logs.stream });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- coordinator log ---\n${logs.text()}`, { cause: err });
  }
  return { outcome: readOutcome(out), log: logs.text() };
}

/** Starts `count` workers on a fresh prefix and waits until all heartbeat. */
export async function startSwarm(nc: NatsConnection, natsUrl: string, label: string, count: number): Promise<{ prefix: string; workers: TestWorker[] }> {
  const prefix = uniquePrefix(label);
  const workers = Array.from({ length: count }, (_, i) => spawnWorker(natsUrl, prefix, `${label}-w${i}`));
  await waitForHeartbeats(nc, subjects(prefix).heartbeat, workers.map((w) => w.id));
  return { prefix, workers };
}

/** The fault-free run of the same config: 2 workers, its own prefix. */
export async function baseline(nc: NatsConnection, natsUrl: string, label: string, o: ChaosOptions = {}): Promise<Outcome> {
  const { prefix, workers } = await startSwarm(nc, natsUrl, `${label}-base`, 2);
  try {
    return (await runCoordinator(`${label}-baseline`, chaosConfig(prefix, o), natsUrl)).outcome;
  } finally {
    await stopWorkers(workers);
  }
}

/** Calls `onBeat` for every heartbeat on the prefix until the returned function is called. */
export function watchHeartbeats(nc: NatsConnection, prefix: string, onBeat: (hb: WorkerHeartbeatMessage) => void): () => void {
  const sub = nc.subscribe(subjects(prefix).heartbeat, {
    callback: (_err, msg) => {
      try {
        onBeat(decodeWorkerHeartbeat(msg.data));
      } catch {
        // not a heartbeat of ours
      }
    },
  });
  return () => sub.unsubscribe();
}

/**
 * Prints the fault test's line and checks its promises: every planned pair is there
 * once, and the measures and pairs equal the fault-free run's, bit for bit.
 */
export function expectSameAsBaseline(label: string, outcome: Outcome, base: Outcome, faultsInjected: string): void {
  const ids = outcome.pairs
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { pair: number }).pair);
  const unique = new Set(ids);
  const lost = outcome.run.pairs.count - unique.size;
  // Accepted pairs, summed over workers, against the pairs this coordinator computed: a
  // result taken twice would show here even though pairs.jsonl holds each pair once.
  const accepted = outcome.run.workers.reduce((s, w) => s + w.pairs, 0);
  const twice = ids.length - unique.size + Math.max(0, accepted - outcome.run.pairs.computed);
  const f = outcome.run.faults;
  console.log(
    `[chaos ${label}] tasks ${outcome.run.pairs.tasks}, faults injected: ${faultsInjected}; ` +
      `leases expired ${f.expiredLeases}, task errors ${f.taskErrors}, results refused ${f.rejectedResults + f.staleResults + f.duplicateResults + f.refusedMessages}; ` +
      `results lost ${lost}, counted twice ${twice}`,
  );
  expect(lost, "results lost").toBe(0);
  expect(twice, "results counted twice").toBe(0);
  expect(outcome.measures).toEqual(base.measures);
  expect(outcome.layers).toEqual(base.layers);
  expect(outcome.tensors).toEqual(base.tensors);
  expect(outcome.pairs).toBe(base.pairs);
}
