// The login and TLS flags, the same on `worker` and `coordinator run` (README.md
// "Workers on other machines"): each names a file, so that a secret never sits on a
// command line where `ps` shows it. The password and the token may also come from the
// environment (GRADSWARM_NATS_PASSWORD, GRADSWARM_NATS_TOKEN), which only the CLI files
// read and pass on.

import { resolve } from "node:path";
import type { Command } from "commander";
import { PASSWORD_ENV, TOKEN_ENV, type NatsAuthSources } from "./auth.js";

export interface NatsAuthFlags {
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  nkeySeedFile?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Adds --user, --password-file, --token-file, --nkey-seed-file, --creds, --tls-ca, --tls-cert, --tls-key to `command`. */
export function addNatsAuthOptions(command: Command): Command {
  return command
    .option("--user <name>", `NATS user; its password from --password-file or ${PASSWORD_ENV}`)
    .option("--password-file <file>", "file holding the NATS user's password")
    .option("--token-file <file>", `file holding a NATS token (or ${TOKEN_ENV})`)
    .option("--nkey-seed-file <file>", "file holding a NATS user NKey seed (SU...)")
    .option("--creds <file>", "NATS creds file (user JWT and seed, as nsc writes it)")
    .option("--tls-ca <file>", "CA certificate (PEM) that signed the NATS server's certificate")
    .option("--tls-cert <file>", "client certificate (PEM), for a server that verifies clients")
    .option("--tls-key <file>", "the client certificate's private key (PEM)");
}

/** The flags as sources (paths made absolute against the working folder), each named by its flag for errors. */
export function natsAuthSourcesFromFlags(flags: NatsAuthFlags): NatsAuthSources {
  const file = (path: string | undefined, field: string) => (path === undefined ? undefined : { file: resolve(path), field });
  const out: NatsAuthSources = {};
  if (flags.user !== undefined) out.user = { value: flags.user, field: "--user" };
  if (flags.passwordFile !== undefined) out.password = file(flags.passwordFile, "--password-file");
  if (flags.tokenFile !== undefined) out.token = file(flags.tokenFile, "--token-file");
  if (flags.nkeySeedFile !== undefined) out.nkeySeed = file(flags.nkeySeedFile, "--nkey-seed-file");
  if (flags.creds !== undefined) out.creds = file(flags.creds, "--creds");
  if (flags.tlsCa !== undefined || flags.tlsCert !== undefined || flags.tlsKey !== undefined) {
    out.tls = { ca: file(flags.tlsCa, "--tls-ca"), cert: file(flags.tlsCert, "--tls-cert"), key: file(flags.tlsKey, "--tls-key") };
  }
  return out;
}

/**
 * The config's sources with the flags laid over them: a flag replaces the config's entry
 * for the same thing (a password file given by flag replaces nats.password_env too).
 */
export function overlaySources(config: NatsAuthSources, flags: NatsAuthSources): NatsAuthSources {
  const tls = config.tls || flags.tls ? { ...config.tls, ...defined(flags.tls ?? {}) } : undefined;
  return { ...config, ...defined({ ...flags, tls: undefined }), ...(tls ? { tls } : {}) };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
