// A nats-server for the describe block that calls natsSuite(), started before its tests,
// and stopped after them together with the worker processes the tests pushed.

import { afterAll, beforeAll } from "vitest";
import { startNats, type NatsFixture } from "./nats.js";
import { stopWorkers, type TestWorker } from "./workers.js";

export interface NatsSuite {
  /** Set once the suite's beforeAll has run. */
  nats: NatsFixture;
  /** Worker processes to stop after the suite. */
  workers: TestWorker[];
}

export function natsSuite(): NatsSuite {
  const suite = { workers: [] as TestWorker[] } as NatsSuite;
  beforeAll(async () => {
    suite.nats = await startNats();
  });
  afterAll(async () => {
    await stopWorkers(suite.workers);
    await suite.nats?.close();
  });
  return suite;
}
