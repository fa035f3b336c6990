// How a client logs in to a NATS server and secures the connection, for the coordinator
// and the worker alike: user and password, token, NKey seed, creds file (a user JWT and
// its seed, as `nsc` writes them), TLS with a CA, and a client certificate and key
// (mutual TLS). nats.js does the protocol; this module only gathers the secrets.
//
// Where a secret comes from is said by the user (a file, an environment variable whose
// value the CLI passes in, or the URL); natsAuthFrom reads them once, refuses what is
// ambiguous, and returns the values for connect.ts. Secrets never leave this module and
// connect.ts except to nats.js: a URL is printed and stored only as redactUrl writes it,
// and every connection error is scrubbed of the secrets before it is shown.

import { accessSync, constants, readFileSync, statSync } from "node:fs";

/** The environment variables read when no other place gives the password or the token (README.md "Workers on other machines"). */
export const PASSWORD_ENV = "GRADSWARM_NATS_PASSWORD";
export const TOKEN_ENV = "GRADSWARM_NATS_TOKEN";

/** A secret file is a line or a few (a creds file is ~1 KB); anything larger is not one. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

export class NatsAuthError extends Error {
  override name = "NatsAuthError";
}

/** A file the user named, with the field or flag that named it (for errors). */
export interface FileRef {
  file: string;
  field: string;
}

/** An environment variable the user named, with the field that named it. */
export interface EnvRef {
  env: string;
  field: string;
}

/** Where the login and the TLS files come from, as config or flags say it (paths absolute). */
export interface NatsAuthSources {
  user?: { value: string; field: string };
  password?: FileRef | EnvRef;
  token?: FileRef | EnvRef;
  nkeySeed?: FileRef;
  creds?: FileRef;
  tls?: { ca?: FileRef; cert?: FileRef; key?: FileRef };
}

/** What connect.ts gives nats.js: secrets as values, TLS files as paths (nats.js reads them at each connect). */
export interface NatsAuth {
  user?: string;
  password?: string;
  token?: string;
  /** The seed's text (SU...), for nkeyAuthenticator. */
  nkeySeed?: string;
  /** The creds file's bytes, for credsAuthenticator. */
  creds?: Uint8Array;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** How the login was given, for messages ("user alice", "a token", "the NKey seed in FILE"); never a secret. */
  described?: string;
}

/** Environment variables, as the CLI passes them (library code never reads process.env). */
export type Environment = Readonly<Record<string, string | undefined>>;

// --- URLs ---------------------------------------------------------------------------

/** The credentials part of one server URL: "scheme://" and "user:pass" before the last "@" (a raw "@" in a password stays hidden). */
const USERINFO = /^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)(.*)@/s;

/**
 * A server URL, or a comma-separated list, as it may be printed and stored: the user part
 * of each one with a password kept ("nats://alice:***@host:4222"), a user part without
 * one (a token, as NATS reads it) replaced whole ("nats://***@host:4222").
 */
export function redactUrl(url: string): string {
  return url
    .split(",")
    .map((server) =>
      server.replace(USERINFO, (_all, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(":");
        return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : "***"}@`;
      }),
    )
    .join(",");
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new NatsAuthError(`the ${what} in the NATS URL is not valid percent-encoding`);
  }
}

/**
 * The servers of a URL list without their credentials, and the credentials they carried:
 * "user:pass@" is a user and password, "token@" a token (NATS's reading of a user part
 * without a password). Every server that carries credentials must carry the same ones.
 */
export function splitUrlCredentials(url: string): { servers: string[]; user?: string; password?: string; token?: string } {
  const servers: string[] = [];
  let found: { user?: string; password?: string; token?: string } | null = null;
  for (const raw of url.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = USERINFO.exec(raw);
    if (!m) {
      servers.push(raw);
      continue;
    }
    servers.push(m[1]! + raw.slice(m[0].length));
    const userinfo = m[2]!;
    const colon = userinfo.indexOf(":");
    const these = colon >= 0 ? { user: decode(userinfo.slice(0, colon), "user"), password: decode(userinfo.slice(colon + 1), "password") } : { token: decode(userinfo, "token") };
    if (found && (found.user !== these.user || found.password !== these.password || found.token !== these.token)) {
      throw new NatsAuthError(`the servers in the NATS URL ${redactUrl(url)} carry different credentials; give them once (--user/--password-file, or the same in every URL)`);
    }
    found = these;
  }
  return { servers, ...found };
}

// --- reading the sources --------------------------------------------------------------

function readSecretFile(ref: FileRef, what: string): Buffer {
  let bytes: Buffer;
  try {
    if (statSync(ref.file).size > MAX_SECRET_FILE_BYTES) throw new Error(`over ${MAX_SECRET_FILE_BYTES} bytes: not a ${what} file`);
    bytes = readFileSync(ref.file);
  } catch (err) {
    throw new NatsAuthError(`${ref.field} ${ref.file}: cannot read the ${what}: ${(err as Error).message}`);
  }
  return bytes;
}

/** A password or token: the file's text without its final line break(s) (`echo secret > file` writes one). */
function readSecret(ref: FileRef | EnvRef, what: string, env: Environment): string {
  let value: string;
  if ("file" in ref) {
    value = readSecretFile(ref, what).toString("utf8").replace(/[\r\n]+$/, "");
    if (value === "") throw new NatsAuthError(`${ref.field} ${ref.file}: the file is empty; it should hold the ${what}`);
  } else {
    const v = env[ref.env];
    if (v === undefined || v === "") throw new NatsAuthError(`${ref.field}: the environment variable ${ref.env} is ${v === undefined ? "not set" : "empty"}; it should hold the ${what}`);
    value = v;
  }
  return value;
}

function checkReadable(ref: FileRef, what: string): string {
  try {
    accessSync(ref.file, constants.R_OK);
    if (!statSync(ref.file).isFile()) throw new Error("not a file");
  } catch (err) {
    throw new NatsAuthError(`${ref.field} ${ref.file}: cannot read the ${what}: ${(err as Error).message}`);
  }
  return ref.file;
}

/**
 * The login and TLS settings for `url`: the sources read (files now, environment values
 * from `env`), the URL's own credentials merged in, and anything ambiguous refused: two
 * ways to log in, a password twice, a password without a user, a certificate without its
 * key. GRADSWARM_NATS_PASSWORD is read when a user is given and nothing else gives its
 * password; GRADSWARM_NATS_TOKEN when nothing else gives any login.
 */
export function natsAuthFrom(url: string, sources: NatsAuthSources, env: Environment = {}): NatsAuth {
  const inUrl = splitUrlCredentials(url);
  const auth: NatsAuth = {};
  const ways: string[] = [];

  // user and password
  if (sources.user && inUrl.user !== undefined && sources.user.value !== inUrl.user) {
    throw new NatsAuthError(`${sources.user.field} names user ${sources.user.value}, the NATS URL user ${inUrl.user}: give the user once`);
  }
  if (sources.password && inUrl.password !== undefined) throw new NatsAuthError(`${sources.password.field} and the NATS URL both give a password: give it once`);
  const user = sources.user?.value ?? inUrl.user;
  let password = inUrl.password;
  const passwordFrom = sources.password ?? (user !== undefined && password === undefined && env[PASSWORD_ENV] !== undefined ? { env: PASSWORD_ENV, field: `$${PASSWORD_ENV}` } : undefined);
  if (passwordFrom) password = readSecret(passwordFrom, "password", env);
  if (password !== undefined && user === undefined) {
    throw new NatsAuthError(`${sources.password?.field ?? "the NATS URL"} gives a password but no user names it: add --user (nats.user in a config)`);
  }
  if (user !== undefined) {
    if (password === undefined) throw new NatsAuthError(`user ${user} has no password: give --password-file or ${PASSWORD_ENV} (nats.password_file or nats.password_env in a config)`);
    auth.user = user;
    auth.password = password;
    ways.push(`user ${user}`);
  }

  // token
  if (sources.token && inUrl.token !== undefined) throw new NatsAuthError(`${sources.token.field} and the NATS URL both give a token: give it once`);
  if (sources.token || inUrl.token !== undefined) {
    auth.token = sources.token ? readSecret(sources.token, "token", env) : inUrl.token;
    ways.push("a token");
  }

  if (sources.nkeySeed) {
    const seed = readSecretFile(sources.nkeySeed, "NKey seed").toString("utf8").trim();
    if (!/^SU[A-Z2-7]+$/.test(seed)) throw new NatsAuthError(`${sources.nkeySeed.field} ${sources.nkeySeed.file}: not a user NKey seed (one line starting with SU, as \`nk -gen user\` writes it)`);
    auth.nkeySeed = seed;
    ways.push(`the NKey seed in ${sources.nkeySeed.file}`);
  }
  if (sources.creds) {
    const creds = readSecretFile(sources.creds, "creds");
    const text = creds.toString("utf8");
    if (!text.includes("-----BEGIN NATS USER JWT-----") || !text.includes("-----BEGIN USER NKEY SEED-----")) {
      throw new NatsAuthError(`${sources.creds.field} ${sources.creds.file}: not a creds file (it holds a NATS USER JWT and a USER NKEY SEED block, as \`nsc generate creds\` writes them)`);
    }
    auth.creds = new Uint8Array(creds);
    ways.push(`the creds file ${sources.creds.file}`);
  }

  if (ways.length === 0 && env[TOKEN_ENV] !== undefined) {
    auth.token = readSecret({ env: TOKEN_ENV, field: `$${TOKEN_ENV}` }, "token", env);
    ways.push("a token");
  }
  if (ways.length > 1) throw new NatsAuthError(`several ways to log in are given (${ways.join(", ")}): a NATS server takes one; keep one`);
  if (ways.length === 1) auth.described = ways[0];

  const tls = sources.tls;
  if (tls && (tls.ca || tls.cert || tls.key)) {
    if (!!tls.cert !== !!tls.key) {
      const [given, missing] = tls.cert ? [tls.cert.field, "the key (--tls-key, nats.tls.key)"] : [tls.key!.field, "the certificate (--tls-cert, nats.tls.cert)"];
      throw new NatsAuthError(`${given} is given without ${missing}: a client certificate needs both`);
    }
    auth.tls = {};
    if (tls.ca) auth.tls.caFile = checkReadable(tls.ca, "CA certificate");
    if (tls.cert) auth.tls.certFile = checkReadable(tls.cert, "client certificate");
    if (tls.key) auth.tls.keyFile = checkReadable(tls.key, "client key");
  }
  return auth;
}

/** Every secret value in `auth` (and each seed or JWT inside a creds file), to scrub from any message. */
export function secretsOf(auth: NatsAuth): string[] {
  const out = [auth.password, auth.token, auth.nkeySeed].filter((s): s is string => !!s);
  if (auth.creds) {
    for (const m of new TextDecoder().decode(auth.creds).matchAll(/-----BEGIN [A-Z ]+-----\s*([^\s-][^-]*?)\s*-{3,}END/g)) out.push(m[1]!.trim());
  }
  return out;
}

/** `text` with every secret replaced by *** and every URL's credentials redacted. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join("***");
  // Credentials of a URL anywhere in the text: "scheme://userinfo@".
  return out.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/@,]+@/g, (_m, scheme: string) => `${scheme}***@`);
}
