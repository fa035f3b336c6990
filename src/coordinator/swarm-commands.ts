// `coordinator workers` and `coordinator status`: who serves a prefix and which runs are in
// progress on it (README.md "Share a swarm"). Each connects with the login and TLS flags of
// `coordinator run`, listens for a second (swarm-census.ts) and prints a table, or with
// --json a stable array of rows. Exit codes as for `coordinator run`: 0, 1 (the server
// could not be reached), 2 (bad arguments or login files).

import type { NatsConnection } from "@nats-io/transport-node";
import { type Command, InvalidArgumentError } from "commander";
import { NatsAuthError, natsAuthFrom, type Environment } from "../nats/auth.js";
import { addNatsAuthOptions, natsAuthSourcesFromFlags, type NatsAuthFlags } from "../nats/auth-flags.js";
import { connectNats } from "../nats/connect.js";
import { DEFAULT_PREFIX, validatePrefix } from "../protocol/index.js";
import { runsTable, workersTable } from "./report/swarm-tables.js";
import { censusRuns, censusWorkers } from "./swarm-census.js";

interface CensusFlags extends NatsAuthFlags {
  nats: string;
  prefix: string;
  json?: boolean;
}

function prefix(value: string): string {
  try {
    return validatePrefix(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Connects, runs the census, prints its rows; sets the exit code. */
async function census<R>(opts: CensusFlags, env: Environment, take: (nc: NatsConnection, onBad: (what: string, err: Error) => void) => Promise<R[]>, print: (rows: R[]) => string): Promise<void> {
  let auth;
  try {
    auth = natsAuthFrom(opts.nats, natsAuthSourcesFromFlags(opts), env);
  } catch (err) {
    if (!(err instanceof NatsAuthError)) throw err;
    process.stderr.write(`coordinator: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  let nc;
  try {
    nc = await connectNats(opts.nats, "gradswarm-census", auth);
  } catch (err) {
    process.stderr.write(`coordinator: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const said = new Set<string>();
  const onBad = (what: string, err: Error) => {
    const line = `ignored a ${what} that did not decode: ${err.message}`;
    if (!said.has(line)) process.stderr.write(`coordinator: ${line}\n`);
    said.add(line);
  };
  try {
    const rows = await take(nc, onBad);
    process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : `${print(rows)}\n`);
    process.exitCode = 0;
  } finally {
    await nc.close();
  }
}

function censusOptions(command: Command): Command {
  return addNatsAuthOptions(
    command
      .requiredOption("--nats <url>", "the NATS server of the swarm")
      .option("--prefix <prefix>", "subject prefix of the swarm", prefix, DEFAULT_PREFIX)
      .option("--json", "print a JSON array of rows instead of the table"),
  );
}

/** Adds `workers` and `status` to the coordinator's program; `env` (the CLI's environment) holds GRADSWARM_NATS_PASSWORD and the like. */
export function addSwarmCommands(program: Command, env: Environment): void {
  censusOptions(program.command("workers").description("list the live workers of a prefix: host, backend, state, current run, tasks done, gradients/s")).action((opts: CensusFlags) =>
    census(opts, env, (nc, onBad) => censusWorkers(nc, opts.prefix, onBad), workersTable),
  );
  censusOptions(program.command("status").description("list the runs in progress on a prefix: phase, progress, ETA, workers, retries, quarantines")).action((opts: CensusFlags) =>
    census(opts, env, (nc, onBad) => censusRuns(nc, opts.prefix, onBad), runsTable),
  );
}
