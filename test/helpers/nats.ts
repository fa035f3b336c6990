// A real nats-server per test file, on a free port, with its own JetStream store
// (the project's own launcher, also used by the embedded default).

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from "../../src/nats/server-process.js";

export interface NatsFixture {
  server: NatsServerHandle;
  nc: NatsConnection;
  close(): Promise<void>;
}

export async function startNats(options: NatsServerOptions = {}): Promise<NatsFixture> {
  const server = await startNatsServer(options);
  const nc = await connect({ servers: server.url });
  return {
    server,
    nc,
    async close() {
      await nc.close().catch(() => undefined);
      await server.stop();
    },
  };
}

let prefixCounter = 0;
/** A subject prefix no other test uses, so tests on one server never see each other's messages. */
export function uniquePrefix(name: string): string {
  return `test.${name.replace(/[^A-Za-z0-9_-]/g, "-")}.${process.pid}-${++prefixCounter}`;
}
