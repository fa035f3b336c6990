// Messages the NATS server sends on its own account. A request published with a reply
// subject when nobody subscribes to its subject (worker.list with no worker, run.list
// with no run) draws an empty message with the status header 503 "no responders" on that
// reply subject: it is not a peer's message and must not be decoded as one.

import type { Msg } from "@nats-io/transport-node";

export function isNoResponders(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}
