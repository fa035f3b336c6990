// The dispatcher on NATS: subscribes to the run's subjects under its prefix, decodes each
// request (refusing what does not decode, with the reason), hands it to the Dispatcher and
// sends back its answer. Everything about tasks and workers is decided in dispatcher.ts.

import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { createMessage, decodeMessage, encodeMessage, peekSender, ProtocolError, ProtocolVersionError, subjects, type Message, type MessageOf, type MessageType } from "../protocol/index.js";
import { Dispatcher, type Ack } from "./dispatcher.js";

export class DispatcherWire {
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly dispatcher: Dispatcher,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    const s = subjects(this.prefix);
    const d = this.dispatcher;
    this.listen(s.pull, ["task.pull"], (m, pull) => this.reply(m, d.pull(pull)));
    this.listen(s.result, ["task.result", "task.loss_result", "task.curvature_result"], (m, result) => {
      const ack = d.result(result);
      if (ack instanceof Promise) void ack.then((a) => this.ack(m, a));
      else this.ack(m, ack);
    });
    this.listen(s.chunk, ["task.chunk"], (m, chunk) => this.ack(m, d.chunk(chunk)));
    this.listen(s.error, ["task.error"], (m, error) => this.ack(m, d.error(error)));
    this.listen(s.heartbeat, ["worker.heartbeat"], (_m, hb) => d.heartbeat(hb));
    this.listen(s.announce, ["worker.announce"], (_m, a) => d.announce(a));
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
  }

  private listen<T extends MessageType>(subject: string, types: readonly T[], handle: (msg: Msg, decoded: MessageOf<T>) => void): void {
    this.subs.push(
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            const decoded = this.decode(msg, types);
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
    if (msg.reply) msg.respond(encodeMessage(message));
  }

  private ack(msg: Msg, ack: Ack): void {
    this.reply(msg, createMessage("ack", ack));
  }
}
