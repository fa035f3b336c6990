// One way to connect, for both sides: reconnect forever with a short wait, because a
// restarted server must not end a run (clients reconnect by themselves: docs/design.md
// "Measured facts"); the login and TLS of src/nats/auth.ts; and errors that name the
// server by its redacted URL, say what to check, and never carry a secret.

import { connect, credsAuthenticator, nkeyAuthenticator, tokenAuthenticator, usernamePasswordAuthenticator, type Authenticator, type NatsConnection } from "@nats-io/transport-node";
import { redactUrl, scrub, secretsOf, splitUrlCredentials, type NatsAuth } from "./auth.js";

export const RECONNECT_WAIT_MS = 250;
export const CONNECT_TIMEOUT_MS = 5000;

/** What to pass when the server asks for a login, in the words of both CLIs and the config. */
export const CREDENTIALS_HELP =
  "pass --user NAME with --password-file FILE (or GRADSWARM_NATS_PASSWORD), --token-file FILE (or GRADSWARM_NATS_TOKEN), --nkey-seed-file FILE or --creds FILE " +
  "(in a coordinator config: nats.user with nats.password_file or nats.password_env, nats.token_file, nats.token_env, nats.nkey_seed_file, nats.creds_file)";

const TLS_HELP = "check --tls-ca (the CA that signed the server's certificate), and --tls-cert/--tls-key if the server verifies clients (nats.tls.ca, nats.tls.cert, nats.tls.key in a config)";

export class NatsConnectError extends Error {
  override name = "NatsConnectError";
  constructor(
    message: string,
    /** True when trying again cannot help: the login was refused, or the TLS certificates do not match. */
    readonly permanent = false,
    /** What went wrong, without the URL ("connection refused (connect ECONNREFUSED 127.0.0.1:4222)"), scrubbed. */
    readonly reason = message,
  ) {
    super(message);
  }
}

function authenticator(auth: NatsAuth): Authenticator | undefined {
  const enc = new TextEncoder();
  if (auth.user !== undefined) return usernamePasswordAuthenticator(auth.user, auth.password);
  if (auth.token !== undefined) return tokenAuthenticator(auth.token);
  if (auth.nkeySeed !== undefined) return nkeyAuthenticator(enc.encode(auth.nkeySeed));
  if (auth.creds !== undefined) return credsAuthenticator(auth.creds);
  return undefined;
}

/**
 * What to check, from what went wrong: a refused login, a TLS failure, or nothing to add;
 * and whether another try could go better (a refused login or a certificate will not).
 */
function advice(err: unknown, auth: NatsAuth): { hint: string; permanent: boolean } {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } } | null;
  const text = `${e?.message ?? ""} ${e?.cause?.message ?? ""} ${e?.code ?? ""} ${e?.cause?.code ?? ""}`.toLowerCase();
  if (e?.name === "AuthorizationError" || /authorization violation|authentication/.test(text)) {
    const hint = auth.described ? `the server refused the login (${auth.described}): check it; the server's authorization block names who may log in` : `the server requires credentials: ${CREDENTIALS_HELP}`;
    return { hint, permanent: true };
  }
  if (/tls|ssl|certificate|cert_|self.signed|unable to (get|verify)|handshake/.test(text)) return { hint: TLS_HELP, permanent: true };
  // A server that verifies clients drops a TLS 1.3 client without a certificate after the
  // client's side of the handshake is done: the client sees only a timeout (which a server
  // still starting gives too, so it is tried again).
  if (auth.tls && (e?.name === "TimeoutError" || /timeout/.test(text))) return { hint: `no answer in time; if the server verifies clients, ${TLS_HELP}`, permanent: false };
  return { hint: "", permanent: false };
}

/**
 * Connects to `url` (a comma-separated list of servers). Credentials in the URL are taken
 * out of it and passed as a login (nats.js would send none); `auth` (natsAuthFrom) has
 * already merged them with what config, flags and environment give.
 */
export async function connectNats(url: string, name: string, auth?: NatsAuth): Promise<NatsConnection> {
  const { servers, user, password, token } = splitUrlCredentials(url);
  const login: NatsAuth = auth ?? (user !== undefined ? { user, password, described: `user ${user}` } : token !== undefined ? { token, described: "a token" } : {});
  try {
    return await connect({
      servers,
      name,
      authenticator: authenticator(login),
      ...(login.tls ? { tls: { ...login.tls } } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      timeout: CONNECT_TIMEOUT_MS,
      pingInterval: 10_000,
    });
  } catch (err) {
    const said = scrub(`${(err as Error).message}${(err as Error).cause instanceof Error ? ` (${((err as Error).cause as Error).message})` : ""}`, secretsOf(login));
    const { hint, permanent } = advice(err, login);
    // No `cause`: nats.js's error may hold the options it was given, secrets included.
    throw new NatsConnectError(`cannot connect to NATS at ${redactUrl(url)}: ${said}${hint ? `; ${hint}` : ""}`, permanent, said);
  }
}

/** Whether a request failed because nobody subscribes to its subject (the other side is gone). */
export function isNoResponders(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string; constructor?: { name?: string } } } | null;
  return e?.name === "RequestError" && (e.cause?.constructor?.name === "NoRespondersError" || e.cause?.name === "NoResponders");
}

/** True for a request that found nobody listening or got no answer in time. */
export function isNoAnswer(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string; constructor?: { name?: string } } } | null;
  if (e?.name === "TimeoutError") return true;
  // v3: a RequestError whose cause is a NoRespondersError (its name reads "NoResponders").
  return e?.name === "RequestError" && (e.cause?.constructor?.name === "NoRespondersError" || e.cause?.name === "NoResponders");
}
