// A process of JetStream work-queue consumers for bench/swarm-queue.ts: each on its own NATS
// connection, pulling from one durable pull consumer with next(), decoding the task,
// answering the coordinator with a quickstart-sized task.result (request/reply, as the
// project's results go), and acking the stream message once the coordinator accepted it
// (ackAck: the server confirms, the work-queue stream then drops the task). With --hold,
// the one consumer keeps its first task and sends working() every --working-ms (the
// heartbeat), printing "holding SEQ" on stdout, until it is killed.
// Prints "ready" once every consumer waits for work; SIGTERM ends them.
// Run by the bench: npx tsx bench/queue/js-consumers.ts --nats URL --stream S --consumer C --result SUBJ --count N [--hold]

import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createMessage, decodeAck, decodeMessage, encodeMessage } from "../../src/protocol/index.js";
import { quickstartLayout } from "./messages.js";
import { syntheticPair } from "../scale/synthetic-compute.js";

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`js-consumers: --${name} is missing`);
  return value;
}

const url = arg("nats");
const stream = arg("stream");
const consumerName = arg("consumer");
const resultSubject = arg("result");
const count = Number(arg("count"));
const hold = process.argv.includes("--hold");
const workingMs = hold ? Number(arg("working-ms")) : 0;
const layout = quickstartLayout();
let stopping = false;

async function consume(index: number, nc: NatsConnection): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(stream, consumerName);
  const workerId = `js-${process.pid}-${index}`;
  while (!stopping) {
    const m = await consumer.next({ expires: 2000 }).catch(async (err: Error) => {
      // The server going away fails next() at once: do not spin on it.
      if (!stopping) process.stderr.write(`js-consumers: next() failed: ${err.message}\n`);
      await new Promise((r) => setTimeout(r, 500));
      return null;
    });
    if (!m) continue;
    const task = decodeMessage(m.data, ["task"]);
    if (hold) {
      process.stdout.write(`holding ${m.seq}\n`);
      setInterval(() => m.working(), workingMs);
      return new Promise(() => undefined); // until killed
    }
    const pairs = task.pairs.map((p) => syntheticPair(1, p.id, layout.tensors.length, 0));
    const result = createMessage("task.result", { runId: task.runId, taskId: task.taskId, leaseId: task.leaseId, workerId, computeMs: 0, tensors: layout.tensors, tensorSizes: layout.tensorSizes, pairs });
    const ack = decodeAck((await nc.request(resultSubject, encodeMessage(result), { timeout: 10_000 })).data);
    if (ack.accepted) await m.ackAck();
    else m.nak();
  }
}

const conns = await Promise.all(Array.from({ length: count }, (_, i) => connect({ servers: url, name: `queue-bench-js-${i}` })));
const loops = conns.map((nc, i) => consume(i, nc));
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  stopping = true;
  void Promise.all(loops)
    .catch(() => undefined)
    .then(() => Promise.all(conns.map((nc) => nc.close())))
    .then(() => process.exit(0));
});
