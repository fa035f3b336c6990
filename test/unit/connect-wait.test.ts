// The first connection's wait (src/nats/connect-wait.ts) on an injected clock: the
// backoff schedule (250 ms doubling to 5 s, ±25 % jitter, never past the deadline), one
// "waiting" line however many tries, a permanent error not retried, the last error after
// the deadline, 0 as one try, and an abort that ends the wait at once.

import { describe, expect, it } from "vitest";
import { FIRST_RETRY_MS, MAX_RETRY_MS, retryConnect } from "../../src/nats/connect-wait.js";
import { NatsConnectError } from "../../src/nats/connect.js";

const URL = "nats://alice:***@host:4222";

function harness(failures: number, random = () => 0.5) {
  let t = 0;
  const sleeps: number[] = [];
  const logs: string[] = [];
  let tries = 0;
  const attempt = async () => {
    tries++;
    if (tries <= failures) throw new NatsConnectError(`cannot connect to NATS at ${URL}: connection refused`, false, "connection refused");
    return "nc";
  };
  const opts = {
    log: (l: string) => logs.push(l),
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    random,
  };
  return { attempt, opts, sleeps, logs, tries: () => tries };
}

describe("waiting for the NATS server", () => {
  it("backs off 250 ms doubling to 5 s and says it waits once, and once that it connected", async () => {
    const h = harness(7);
    expect(await retryConnect(h.attempt, URL, { ...h.opts, timeoutMs: 300_000 })).toBe("nc");
    expect(h.sleeps).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(h.logs).toEqual([`waiting for NATS at ${URL} (connection refused); retrying up to 300 s`, `connected to NATS at ${URL} after 17.8 s (8 tries)`]);
  });

  it("jitters each wait by ±25 %", async () => {
    const lo = harness(2, () => 0);
    await retryConnect(lo.attempt, URL, { ...lo.opts, timeoutMs: 60_000 });
    const hi = harness(2, () => 1);
    await retryConnect(hi.attempt, URL, { ...hi.opts, timeoutMs: 60_000 });
    expect(lo.sleeps).toEqual([0.75 * FIRST_RETRY_MS, 0.75 * 2 * FIRST_RETRY_MS]);
    expect(hi.sleeps).toEqual([1.25 * FIRST_RETRY_MS, 1.25 * 2 * FIRST_RETRY_MS]);
  });

  it("gives up at the deadline with the last error and the URL, after one waiting line", async () => {
    const h = harness(Infinity);
    const err = await retryConnect(h.attempt, URL, { ...h.opts, timeoutMs: 12_000 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(NatsConnectError);
    expect((err as Error).message).toBe(`cannot connect to NATS at ${URL}: connection refused; gave up after 12 s and 7 tries (--connect-timeout)`);
    // 250+500+1000+2000+4000 = 7750, then the rest of the deadline, 4250 ms: the last try comes at it.
    expect(h.sleeps).toEqual([250, 500, 1000, 2000, 4000, 4250]);
    expect(h.logs).toHaveLength(1);
    expect(Math.max(...h.sleeps)).toBeLessThanOrEqual(MAX_RETRY_MS);
  });

  it("does not retry a refused login", async () => {
    let tries = 0;
    const refused = new NatsConnectError(`cannot connect to NATS at ${URL}: Authorization Violation`, true, "Authorization Violation");
    const err = await retryConnect(
      async () => {
        tries++;
        throw refused;
      },
      URL,
      { ...harness(0).opts, timeoutMs: 300_000 },
    ).catch((e: Error) => e);
    expect([err, tries]).toEqual([refused, 1]);
  });

  it("0 is one try, no wait", async () => {
    const h = harness(1);
    await expect(retryConnect(h.attempt, URL, { ...h.opts, timeoutMs: 0 })).rejects.toThrow("connection refused");
    expect([h.tries(), h.sleeps, h.logs]).toEqual([1, [], []]);
  });

  it("an abort ends the wait with null", async () => {
    const h = harness(Infinity);
    const stop = new AbortController();
    const sleep = async (ms: number) => {
      h.sleeps.push(ms);
      if (h.sleeps.length === 3) stop.abort();
    };
    expect(await retryConnect(h.attempt, URL, { ...h.opts, sleep, timeoutMs: 300_000, signal: stop.signal })).toBeNull();
    expect(h.tries()).toBe(3);
  });
});
