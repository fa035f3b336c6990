// One way to connect, for both sides: reconnect forever with a short wait, because a
// restarted server must not end a run (clients reconnect by themselves: docs/design.md
// "Measured facts").

import { connect, type NatsConnection } from "@nats-io/transport-node";

export const RECONNECT_WAIT_MS = 250;
export const CONNECT_TIMEOUT_MS = 5000;

export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const servers = url.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    return await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      timeout: CONNECT_TIMEOUT_MS,
      pingInterval: 10_000,
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err });
  }
}

/** True for a request that found nobody listening or got no answer in time. */
export function isNoAnswer(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string; constructor?: { name?: string } } } | null;
  if (e?.name === "TimeoutError") return true;
  // v3: a RequestError whose cause is a NoRespondersError (its name reads "NoResponders").
  return e?.name === "RequestError" && (e.cause?.constructor?.name === "NoRespondersError" || e.cause?.name === "NoResponders");
}
