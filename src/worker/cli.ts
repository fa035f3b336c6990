#!/usr/bin/env node
// `worker --nats URL`: serve a gradswarm prefix until SIGTERM/SIGINT, which drains it.

import { hostname } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_PREFIX, validatePrefix } from "../protocol/index.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { BACKEND_CHOICES, type BackendChoice } from "./backend.js";
import { GROUP_CHOICES, type GroupChoice } from "./compute-messages.js";
import { DEFAULT_DRAIN_TIMEOUT_MS, Worker } from "./serve.js";

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number of seconds");
  return n;
}

function computeThreads(value: string): number | "auto" {
  if (value === "auto") return "auto";
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError("expected auto or a whole number of threads from 1 to 256");
  return n;
}

function prefix(value: string): string {
  try {
    return validatePrefix(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const program = new Command()
  .name("worker")
  .description("Computes minibatch gradients for gradswarm coordinators over NATS.")
  .version(PACKAGE_VERSION)
  .requiredOption("--nats <url>", "NATS server URL(s), comma-separated (e.g. nats://host:4222)")
  .addOption(new Option("--backend <name>", "TensorFlow.js backend").choices(BACKEND_CHOICES).default("auto"))
  .addOption(new Option("--group <mode>", "compute minibatch gradients in grouped passes (auto: on a GPU backend)").choices(GROUP_CHOICES).default("auto"))
  .option("--compute-threads <n>", "compute threads, each taking part of every task (auto: one per core on a CPU backend, one on a GPU)", computeThreads, "auto" as const)
  .option("--id <name>", "worker id shown by the coordinator", `${hostname()}-${process.pid}`)
  .option("--prefix <prefix>", "subject prefix of the runs to serve", prefix, DEFAULT_PREFIX)
  .option("--exit-with-parent", "leave at once when stdin closes (how a coordinator's local workers follow it)")
  .option("--drain-timeout <seconds>", "on SIGTERM, how long to finish the task in hand before handing it back", seconds, DEFAULT_DRAIN_TIMEOUT_MS / 1000)
  .action(async (opts: { nats: string; backend: BackendChoice; group: GroupChoice; computeThreads: number | "auto"; id: string; prefix: string; drainTimeout: number; exitWithParent?: boolean }) => {
    const worker = new Worker({ natsUrl: opts.nats, id: opts.id, backend: opts.backend, group: opts.group, computeThreads: opts.computeThreads, prefix: opts.prefix, drainTimeoutMs: opts.drainTimeout * 1000 });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`[worker ${opts.id}] ${signal}: draining\n`);
      worker.drain().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    if (opts.exitWithParent) {
      // The coordinator that started us is gone: nobody will take a result, leave now.
      process.stdin.on("end", () => void worker.close().finally(() => process.exit(0)));
      process.stdin.resume();
    }
    await worker.start();
    try {
      await worker.finished();
    } catch {
      await worker.close();
      process.exit(1);
    }
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`worker: ${(err as Error).message}\n`);
  process.exit(1);
});
