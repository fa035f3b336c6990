// A process hosting simulated workers for bench/coordinator-scale.ts: the real SwarmWorker
// (src/worker/serve.ts: pulls, leases, heartbeats, result retries), each on its own NATS
// connection, with the synthetic compute of synthetic-compute.ts in place of TensorFlow.js.
// Prints "ready" once every worker runs; on SIGTERM drains them all, then prints one JSON
// line: each accepted result's round trip (request → ack, ms) and the first and last ack.
// Run by the bench: npx tsx bench/scale/sim-workers.ts --nats URL --prefix P --ids a,b --delay-ms 20

import { SwarmWorker } from "../../src/worker/serve.js";
import { syntheticCompute } from "./synthetic-compute.js";

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`sim-workers: --${name} is missing`);
  return value;
}

const natsUrl = arg("nats");
const prefix = arg("prefix");
const ids = arg("ids").split(",");
const delayMs = Number(arg("delay-ms"));
if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`sim-workers: --delay-ms ${arg("delay-ms")} is not a non-negative number`);

/** Round trips of accepted results, in ms; refused ones only counted. */
const roundTrips: number[] = [];
let refused = 0;
let firstAck = Infinity;
let lastAck = -Infinity;
const logLines: string[] = [];

const workers = ids.map(
  (id) =>
    new SwarmWorker({
      natsUrl,
      prefix,
      id,
      backend: "cpu",
      connectTimeoutMs: 10_000,
      compute: async () => syntheticCompute(delayMs, 1),
      // Kept, not printed: 256 workers' start-up lines would drown the bench's table.
      log: (line) => void (logLines.length < 200 && logLines.push(`[${id}] ${line}`)),
      onResultAck: (ms, accepted) => {
        const now = Date.now();
        if (!accepted) return void refused++;
        roundTrips.push(ms);
        if (now < firstAck) firstAck = now;
        lastAck = now;
      },
    }),
);
await Promise.all(workers.map((w) => w.start()));
process.stdout.write("ready\n");

process.once("SIGTERM", () => {
  void Promise.all(workers.map((w) => w.drain())).then(() => {
    const failed = workers.filter((w) => w.lifecycle === "failed").length;
    process.stdout.write(JSON.stringify({ roundTrips, refused, firstAck, lastAck, failed, log: failed > 0 || refused > 0 ? logLines.slice(-20) : [] }) + "\n");
    process.exit(0);
  });
});
