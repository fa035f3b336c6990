#!/usr/bin/env node
// `worker --nats URL`: serve a gradswarm prefix until SIGTERM/SIGINT, which drains it.
//
// The one place the worker reads its environment: the GRADSWARM_* variables below stand
// for their options (a flag given on the command line wins), and everything past this
// file gets them as options (SwarmWorker's, the compute threads' init message).
// Exit codes: 0 drained, 1 failed, 2 bad arguments (as the coordinator's, README.md). A
// SIGTERM or SIGINT while the worker still waits for its server is a drain with nothing in
// hand: 0, like any other drain.

import { hostname } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { NatsAuthError, natsAuthFrom, type NatsAuth } from "../nats/auth.js";
import { addNatsAuthOptions, natsAuthSourcesFromFlags, type NatsAuthFlags } from "../nats/auth-flags.js";
import { DEFAULT_WORKER_CONNECT_TIMEOUT_S } from "../nats/connect-wait.js";
import { DEFAULT_PREFIX, validatePrefix } from "../protocol/index.js";
import { DEFAULT_METRICS_HOST, MetricsServerError, parsePort, startMetricsServer } from "../metrics/server.js";
import { WorkerMetrics, workerNotReady } from "../metrics/worker.js";
import { PACKAGE_VERSION } from "../util/package-root.js";
import { BACKEND_CHOICES, CONV_GRAD_CHOICES, type BackendChoice, type ConvGradChoice } from "./backend.js";
import { GROUP_CHOICES, type GroupChoice } from "./compute-messages.js";
import { DEFAULT_DRAIN_TIMEOUT_MS, SwarmWorker } from "./serve.js";
import { MAX_WASM_THREADS } from "./wasm/threads.js";

const BAD_ARGUMENTS = 2;

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number of seconds");
  return n;
}

function secondsOrZero(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number of seconds, 0 or more");
  return n;
}

function wholeNumber(what: string, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected a whole number of ${what} from 1 to ${max}`);
    return n;
  };
}

function computeThreads(value: string): number | "auto" {
  return value === "auto" ? "auto" : wholeNumber("threads (or auto)", 256)(value);
}

function port(value: string): number {
  const n = parsePort(value);
  if (n === null) throw new InvalidArgumentError("expected a port from 0 (a free one) to 65535");
  return n;
}

function prefix(value: string): string {
  try {
    return validatePrefix(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

interface CliOptions extends NatsAuthFlags {
  nats: string;
  backend: BackendChoice;
  group: GroupChoice;
  computeThreads: number | "auto";
  cpuCores?: number;
  wasmThreads?: number;
  convGrad: ConvGradChoice;
  id: string;
  prefix: string;
  drainTimeout: number;
  connectTimeout: number;
  exitWithParent?: boolean;
  metricsPort?: number;
  metricsHost: string;
}

const program = addNatsAuthOptions(new Command()
  .name("worker")
  .description("Computes minibatch gradients for gradswarm coordinators over NATS.")
  .version(PACKAGE_VERSION)
  .exitOverride() // argument errors exit BAD_ARGUMENTS, below
  .requiredOption("--nats <url>", "NATS server URL(s), comma-separated (e.g. nats://host:4222)")
  .addOption(new Option("--backend <name>", "TensorFlow.js backend").choices(BACKEND_CHOICES).default("auto"))
  .addOption(new Option("--group <mode>", "compute minibatch gradients in grouped passes (auto: on a GPU backend)").choices(GROUP_CHOICES).default("auto"))
  .addOption(
    new Option("--compute-threads <n>", "compute threads, each taking part of every task (auto: one per core on the wasm and cpu backends, one on a GPU)")
      .argParser(computeThreads)
      .default("auto" as const)
      .env("GRADSWARM_COMPUTE_THREADS"),
  )
  .addOption(new Option("--cpu-cores <n>", "cores this worker may use (default: all); caps auto compute threads on CPU backends").argParser(wholeNumber("cores", 4096)).env("GRADSWARM_CPU_CORES"))
  .addOption(
    new Option("--wasm-threads <n>", `XNNPACK threads per compute thread on wasm (default: 1 with several compute threads, else every core up to ${MAX_WASM_THREADS})`)
      .argParser(wholeNumber("threads", MAX_WASM_THREADS))
      .env("GRADSWARM_WASM_THREADS"),
  )
  .addOption(new Option("--conv-grad <variant>", "conv gradients on webgpu: tfjs-webgpu's backprop kernels, or from forward convs").choices(CONV_GRAD_CHOICES).default("stock").env("GRADSWARM_WEBGPU_CONV_GRAD"))
  .option("--id <name>", "worker id shown by the coordinator", `${hostname()}-${process.pid}`)
  .option("--prefix <prefix>", "subject prefix of the runs to serve", prefix, DEFAULT_PREFIX)
  .option("--connect-timeout <seconds>", "how long to wait for the NATS server at start, trying again with backoff (0: one try)", secondsOrZero, DEFAULT_WORKER_CONNECT_TIMEOUT_S)
  .option("--exit-with-parent", "leave at once when stdin closes (how a coordinator's local workers follow it)")
  .option("--drain-timeout <seconds>", "on SIGTERM, how long to finish the task in hand before handing it back", seconds, DEFAULT_DRAIN_TIMEOUT_MS / 1000)
  .option("--metrics-port <port>", "serve Prometheus metrics on this port at /metrics, and /ready (200 once pulling tasks); 0: a free port, printed", port)
  .option("--metrics-host <host>", "the address the metrics port listens on (0.0.0.0: every interface, as in a pod)", DEFAULT_METRICS_HOST),
)
  .addHelpText("after", "\nAn option marked (env: NAME) may also be set by that environment variable; the option, when given, wins.\nGRADSWARM_NATS_PASSWORD holds the password of --user, GRADSWARM_NATS_TOKEN a token, where no flag or URL gives them.\nExit codes: 0 drained, 1 failed, 2 bad arguments.")
  .action(async (opts: CliOptions) => {
    // Dawn's OpenGL ES path (a software adapter, how tests run webgpu without a GPU) needs
    // a surfaceless EGL, and reads EGL_PLATFORM from the process's C environment. Only
    // the main thread's process.env writes through to it (a worker thread has a copy, and
    // a Worker's `env` option does not reach native code either), so it is set here,
    // before the compute threads start.
    if (opts.backend === "webgpu") process.env.EGL_PLATFORM ??= "surfaceless";
    // The login: files named by the flags, GRADSWARM_NATS_PASSWORD and GRADSWARM_NATS_TOKEN
    // from this environment, credentials in the URL (src/nats/auth.ts); read before the
    // backend starts, so that a missing file fails at once, with exit code 2.
    let natsAuth: NatsAuth;
    try {
      natsAuth = natsAuthFrom(opts.nats, natsAuthSourcesFromFlags(opts), process.env);
    } catch (err) {
      if (!(err instanceof NatsAuthError)) throw err;
      process.stderr.write(`worker: ${err.message}\n`);
      process.exit(BAD_ARGUMENTS);
    }
    if (opts.metricsPort === undefined && opts.metricsHost !== DEFAULT_METRICS_HOST) {
      process.stderr.write("worker: --metrics-host needs --metrics-port\n");
      process.exit(BAD_ARGUMENTS);
    }
    const metrics: WorkerMetrics | null = opts.metricsPort === undefined ? null : new WorkerMetrics(opts.id, () => worker.stats());
    const worker: SwarmWorker = new SwarmWorker({
      natsUrl: opts.nats,
      natsAuth,
      id: opts.id,
      backend: opts.backend,
      group: opts.group,
      computeThreads: opts.computeThreads,
      cpuCores: opts.cpuCores,
      wasmThreads: opts.wasmThreads,
      convGrad: opts.convGrad,
      prefix: opts.prefix,
      drainTimeoutMs: opts.drainTimeout * 1000,
      connectTimeoutMs: opts.connectTimeout * 1000,
      onComputed: metrics ? (job, ms) => metrics.onComputed(job, ms) : undefined,
    });
    if (metrics) {
      // Served from before the backend loads: /ready tells a probe when the worker pulls tasks.
      try {
        const server = await startMetricsServer({ registry: metrics.registry, port: opts.metricsPort!, host: opts.metricsHost, notReady: () => workerNotReady(worker.stats()) });
        process.stderr.write(`[worker ${opts.id}] metrics on ${server.url}\n`);
      } catch (err) {
        if (!(err instanceof MetricsServerError)) throw err;
        process.stderr.write(`worker: ${err.message}\n`);
        process.exit(1);
      }
    }
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
  if (err instanceof CommanderError) {
    // Commander has printed the message (it names the option); --help and --version end with 0.
    process.exit(err.exitCode === 0 ? 0 : BAD_ARGUMENTS);
  }
  process.stderr.write(`worker: ${(err as Error).message}\n`);
  process.exit(1);
});
