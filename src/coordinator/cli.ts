#!/usr/bin/env node
// `coordinator run CONFIG`: measure, print the table, write the outputs. The only place
// that sets the exit code: 0 done, 1 the run failed, 2 bad config or arguments, 130
// interrupted.

import { Command, CommanderError, InvalidArgumentError } from "commander";
import { NatsAuthError } from "../nats/auth.js";
import { addNatsAuthOptions, natsAuthSourcesFromFlags, type NatsAuthFlags } from "../nats/auth-flags.js";
import { DEFAULT_COORDINATOR_CONNECT_TIMEOUT_S } from "../nats/connect-wait.js";
import { parsePort } from "../metrics/server.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { ConfigError } from "./config/load.js";
import { JournalError } from "./journal.js";
import { summaryTable } from "./report/summary-table.js";
import { layerTable } from "./report/layer-table.js";
import { measureTable } from "./report/table.js";
import { resumableFrom, RunAborted, runJob } from "./run.js";
import { addSwarmCommands } from "./swarm-commands.js";
import { verifyRun } from "./verify.js";

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function positiveNumber(value: string): number {
  const x = Number(value);
  if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError("expected a positive number");
  return x;
}

function secondsOrZero(value: string): number {
  const x = Number(value);
  if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError("expected a number of seconds, 0 or more");
  return x;
}

function port(value: string): number {
  const n = parsePort(value);
  if (n === null) throw new InvalidArgumentError("expected a port from 0 (a free one) to 65535");
  return n;
}

// exitOverride before the subcommands are added, so that they inherit it: commander then
// throws its errors (after printing them) instead of exiting 1, and the handler at the end
// gives argument errors the README's exit code 2.
const program = new Command().name("coordinator").description("gradswarm: generalization measures from minibatch gradient agreement.").version(PACKAGE_VERSION).exitOverride();

const runCommand = program
  .command("run")
  .description("run the measurement a config file describes")
  .argument("<config>", "YAML config file")
  .option("--out <dir>", "output folder (default: output.dir of the config, else runs/<config>-<time>)")
  .option("--workers <n>", "embedded default: number of local workers (overrides workers.local)", count)
  .option("--nats <url>", "connect to this NATS server and use its workers instead of starting local ones")
  .option("--resume <dir>", "continue the unfinished run recorded in DIR (a killed coordinator's --out)")
  .option("--connect-timeout <seconds>", `with --nats or nats.url: how long to wait for the server at start, trying again with backoff (0: one try)`, secondsOrZero, DEFAULT_COORDINATOR_CONNECT_TIMEOUT_S)
  .option("--metrics-port <port>", "serve Prometheus metrics on this port at /metrics during the run (over metrics.port); 0: a free port, printed", port)
  .option("--metrics-host <host>", "the address the metrics port listens on (over metrics.host; default 127.0.0.1)");
// The login and TLS of a server given by --nats or nats.url: a flag replaces the config's entry.
addNatsAuthOptions(runCommand)
  .action(async (config: string, opts: { out?: string; workers?: number; nats?: string; resume?: string; connectTimeout: number; metricsPort?: number; metricsHost?: string } & NatsAuthFlags) => {
    const abort = new AbortController();
    let interrupts = 0;
    process.on("SIGINT", () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.stderr.write("\ninterrupted: stopping workers and the embedded server (Ctrl-C again to quit at once)\n");
      abort.abort();
    });
    process.on("SIGTERM", () => abort.abort());
    try {
      const result = await runJob({
        configPath: config,
        outDir: opts.out,
        resume: opts.resume,
        workers: opts.workers,
        natsUrl: opts.nats,
        connectTimeoutMs: opts.connectTimeout * 1000,
        metricsPort: opts.metricsPort,
        metricsHost: opts.metricsHost,
        // Flags for the login and TLS (over the config's nats: section), and the environment
        // for nats.password_env, nats.token_env, GRADSWARM_NATS_PASSWORD, GRADSWARM_NATS_TOKEN.
        natsAuth: natsAuthSourcesFromFlags(opts),
        env: process.env,
        // Where nats-server is, when not on PATH.
        natsServerBinary: process.env.GRADSWARM_NATS_SERVER || undefined,
        signal: abort.signal,
      });
      const theta = result.measured[0]!;
      const extras = result.invariance || theta.curvature || theta.vectorStats || Object.keys(theta.metrics).length > 0;
      process.stdout.write((extras ? summaryTable(theta, result.invariance, result.measured.slice(1).map((m) => m.subject.alpha!)) : measureTable(result.reduction.measures)) + "\n");
      const perLayer = layerTable(theta.layers, theta.reduction.groups, theta.reduction.measures);
      if (perLayer) process.stdout.write(`\nper layer (the regret of each layer's own parameters):\n${perLayer}\n`);
      const g = theta.generalization;
      if (g) {
        const f = (x: number) => x.toPrecision(4);
        process.stdout.write(`\ntrain: loss ${f(g.train.loss)}, accuracy ${f(g.train.accuracy)} (${g.train.examples} examples) · test: loss ${f(g.test.loss)}, accuracy ${f(g.test.accuracy)} (${g.test.examples}) · gap: loss ${f(g.gap.loss)}, accuracy ${f(g.gap.accuracy)}\n`);
      }
      process.stdout.write(`\nresults: ${result.outDir}/results.json (every measure, per layer and per tensor), pairs.jsonl, model.json, report.html, measures.csv${theta.landscapes.length > 0 ? ", landscape-*.csv/svg" : ""}\n`);
      process.exitCode = 0;
    } catch (err) {
      if (err instanceof ConfigError || err instanceof JournalError || err instanceof NatsAuthError) {
        process.stderr.write(`coordinator: ${err.message}\n`);
        process.exitCode = 2;
      } else if (err instanceof RunAborted) {
        process.stderr.write(`coordinator: ${err.message}\n`);
        process.exitCode = 130;
      } else {
        process.stderr.write(`coordinator: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
      const kept = resumableFrom(err);
      if (kept) process.stderr.write(`coordinator: what was done is kept; continue with: coordinator run ${config} --resume ${kept}\n`);
    }
  });

program
  .command("verify")
  .description("recompute a finished run in float64 (without TensorFlow.js) and compare; MLP models only")
  .argument("<dir>", "the run's output folder")
  .option("--tolerance <rel>", "largest relative difference accepted", positiveNumber, 1e-4)
  .action(async (dir: string, opts: { tolerance: number }) => {
    try {
      const report = await verifyRun(dir, opts.tolerance, (line) => process.stderr.write(line + "\n"));
      process.stdout.write(`pairs recomputed: ${report.pairsChecked}\n`);
      for (const [k, v] of Object.entries(report.maxRelError)) process.stdout.write(`  max relative difference, ${k.padEnd(10)} ${v.toExponential(2)}\n`);
      for (const p of report.problems) process.stdout.write(`  problem: ${p}\n`);
      process.stdout.write(report.ok ? `agrees with float64 to ${opts.tolerance}\n` : "DOES NOT AGREE\n");
      process.exitCode = report.ok ? 0 : 1;
    } catch (err) {
      process.stderr.write(`coordinator verify: ${(err as Error).message}\n`);
      process.exitCode = 2;
    }
  });

// `coordinator workers` and `coordinator status`: who is on a prefix.
addSwarmCommands(program, process.env);

program.parseAsync().then(
  // Open handles (a NATS socket closing, a child's pipe) must not keep a finished run alive.
  () => setTimeout(() => process.exit(), 100).unref(),
  (err: unknown) => {
    // Commander has printed its own message (or the help, or the version): only the code
    // is left to set. 0 for --help and --version; every other one is an argument error.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    process.stderr.write(`coordinator: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
