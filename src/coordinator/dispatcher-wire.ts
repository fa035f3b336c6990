// The dispatcher on NATS: subscribes to the run's task subjects (<prefix>.run.<runId>.task.*)
// and the prefix's worker subjects, decodes each
// request (refusing what does not decode, with the reason), hands it to the Dispatcher and
// sends back its answer. Everything about tasks and workers is decided in dispatcher.ts.

import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { createMessage, decodeMessage, encodeMessage, peekSender, ProtocolError, ProtocolVersionError, runSubjects, subjects, type Message, type MessageOf, type MessageType } from "../protocol/index.js";
import { isNoResponders } from "../nats/server-status.js";
import { Dispatcher, type Ack } from "./dispatcher.js";

/** At most one worker.list per this long, however many unknown workers are heard. */
export const LIST_INTERVAL_MS = 1000;

function add(totals: Map<string, number>, key: string, n: number): void {
  totals.set(key, (totals.get(key) ?? 0) + n);
}

export class DispatcherWire {
  private readonly subs: Subscription[] = [];
  private lastList = -Infinity;
  private listTimer: NodeJS.Timeout | null = null;
  /** Bytes of the messages received and of the replies sent, by message type ("undecodable" for what did not decode); read by src/metrics/coordinator.ts. */
  readonly bytes = { received: new Map<string, number>(), sent: new Map<string, number>() };

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly dispatcher: Dispatcher,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    const s = subjects(this.prefix);
    const d = this.dispatcher;
    const run = runSubjects(this.prefix, d.runId);
    this.listen(run.pull, ["task.pull"], (m, pull) => this.reply(m, d.pull(pull)));
    this.listen(run.result, ["task.result", "task.loss_result", "task.curvature_result"], (m, result) => {
      const ack = d.result(result);
      if (ack instanceof Promise) void ack.then((a) => this.ack(m, a));
      else this.ack(m, ack);
    });
    this.listen(run.chunk, ["task.chunk"], (m, chunk) => this.ack(m, d.chunk(chunk)));
    this.listen(run.error, ["task.error"], (m, error) => this.ack(m, d.error(error)));
    this.listen(s.heartbeat, ["worker.heartbeat"], (_m, hb) => d.heartbeat(hb));
    this.listen(s.announce, ["worker.announce"], (_m, a) => d.announce(a));
    // Workers started before this coordinator announced to nobody: ask them all now.
    this.askWorkers();
  }

  /**
   * Asks every worker of the prefix to announce itself (worker.list). Each answers with
   * its announce, sent to the announce subject (the request's reply subject) and taken
   * there like any other: host, pid, backend, device and version reach the registry
   * however the worker was first heard. Calls closer than LIST_INTERVAL_MS are folded
   * into one, sent at the end of the interval.
   */
  askWorkers(): void {
    if (this.listTimer || this.subs.length === 0 || this.nc.isClosed()) return;
    const send = () => {
      this.listTimer = null;
      if (this.subs.length === 0 || this.nc.isClosed()) return;
      this.lastList = Date.now();
      const s = subjects(this.prefix);
      this.nc.publish(s.list, encodeMessage(createMessage("worker.list", { runId: this.dispatcher.runId })), { reply: s.announce });
    };
    const wait = this.lastList + LIST_INTERVAL_MS - Date.now();
    if (wait <= 0) send();
    else this.listTimer = setTimeout(send, wait);
  }

  stop(): void {
    if (this.listTimer) clearTimeout(this.listTimer);
    this.listTimer = null;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
  }

  private listen<T extends MessageType>(subject: string, types: readonly T[], handle: (msg: Msg, decoded: MessageOf<T>) => void): void {
    this.subs.push(
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          // worker.list goes out with the announce subject as its reply: with no worker
          // listening, the server's "no responders" comes back there.
          if (isNoResponders(msg)) return;
          try {
            const decoded = this.decode(msg, types);
            add(this.bytes.received, decoded?.type ?? "undecodable", msg.data.length);
            if (decoded) handle(msg, decoded);
          } catch (e) {
            // A handler bug must not take the subscription down; report it and go on.
            this.log(`internal error handling ${subject}: ${(e as Error).stack ?? String(e)}`);
          }
        },
      }),
    );
  }

  /** Decodes a request; a bad one goes to the dispatcher as refused (and its sender hears why), and null comes back. */
  private decode<T extends MessageType>(msg: Msg, types: readonly T[]): MessageOf<T> | null {
    try {
      return decodeMessage(msg.data, types);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const refused = {
        code: err instanceof ProtocolVersionError ? ("protocol_version" as const) : ("bad_message" as const),
        subject: msg.subject,
        message: err.message,
        sender: peekSender(msg.data),
        types,
      };
      this.dispatcher.refuse(refused);
      this.reply(msg, Dispatcher.refusal(refused));
      return null;
    }
  }

  private reply(msg: Msg, message: Message): void {
    if (!msg.reply) return;
    const data = encodeMessage(message);
    add(this.bytes.sent, message.type, data.length);
    msg.respond(data);
  }

  private ack(msg: Msg, ack: Ack): void {
    this.reply(msg, createMessage("ack", ack));
  }
}
