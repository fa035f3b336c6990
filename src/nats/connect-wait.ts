// A client started before its server waits for it: the first connection is tried again
// with backoff (250 ms doubling to 5 s, each wait jittered so that a rack of workers
// started together does not knock in step), up to a deadline, and the wait is said once,
// not at every try. What another try cannot mend (a refused login, a TLS certificate that
// does not match) fails at once. After the first connection, nats.js reconnects by itself
// (connect.ts).

import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsAuth } from "./auth.js";
import { redactUrl } from "./auth.js";
import { connectNats, NatsConnectError } from "./connect.js";

export const FIRST_RETRY_MS = 250;
export const MAX_RETRY_MS = 5000;
/** The worker's default --connect-timeout: long enough for a server being deployed beside it. */
export const DEFAULT_WORKER_CONNECT_TIMEOUT_S = 300;
/** The coordinator's default --connect-timeout: a run is started by hand or by a Job, next to a server that is up or about to be. */
export const DEFAULT_COORDINATOR_CONNECT_TIMEOUT_S = 30;

export interface WaitOptions {
  /** How long to keep trying; 0: one try, no wait. */
  timeoutMs: number;
  /** Aborting ends the wait at once: the result is then null. */
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Injected for tests. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * `attempt` until it succeeds, fails for good (a NatsConnectError marked permanent, or any
 * other error), the deadline passes (the last error is thrown, saying how long it waited),
 * or `signal` aborts (null). `url` is the redacted URL the messages name.
 */
export async function retryConnect<T>(attempt: () => Promise<T>, url: string, o: WaitOptions): Promise<T | null> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? sleepFor;
  const random = o.random ?? Math.random;
  const started = now();
  const deadline = started + o.timeoutMs;
  let delay = FIRST_RETRY_MS;
  let tries = 0;
  for (;;) {
    if (o.signal?.aborted) return null;
    tries++;
    try {
      const done = await attempt();
      if (tries > 1) o.log(`connected to NATS at ${url} after ${seconds(now() - started)} (${tries} tries)`);
      return done;
    } catch (err) {
      if (!(err instanceof NatsConnectError) || err.permanent) throw err;
      const t = now();
      if (o.timeoutMs <= 0) throw err;
      if (t >= deadline) {
        throw new NatsConnectError(`${err.message}; gave up after ${seconds(o.timeoutMs)} and ${tries} tries (--connect-timeout)`, false, err.reason);
      }
      if (tries === 1) o.log(`waiting for NATS at ${url} (${err.reason}); retrying up to ${seconds(o.timeoutMs)}`);
      // Full wait ±25 %, never past the deadline (the last try comes at it).
      const wait = Math.min(delay * (0.75 + 0.5 * random()), deadline - t);
      await sleep(wait, o.signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}

/** connectNats, waiting for the server as retryConnect does. */
export function connectNatsWaiting(url: string, name: string, auth: NatsAuth | undefined, o: WaitOptions): Promise<NatsConnection | null> {
  return retryConnect(() => connectNats(url, name, auth), redactUrl(url), o);
}
