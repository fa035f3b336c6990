// Messages to bytes and back. msgpackr with safe options: no record definitions and no
// structured clone on either side. Decoding untrusted bytes can still yield extension
// values (Error, Set, RegExp, Date, typed arrays), so every decode validates the result
// exactly (messages.ts) and every failure, msgpackr's own included, is a ProtocolError.

import { Packr, Unpackr } from "msgpackr";
import { ProtocolError } from "./errors.js";
import {
  MAX_ID_LENGTH,
  MAX_MESSAGE_BYTES,
  type AckMessage,
  type ErrorMessage,
  type Message,
  type MessageOf,
  type MessageType,
  type TaskChunkMessage,
  type TaskCurvatureMessage,
  type TaskCurvatureResultMessage,
  type TaskLossMessage,
  type TaskLossResultMessage,
  type TaskErrorMessage,
  type TaskMessage,
  type TaskNoneMessage,
  type TaskPullMessage,
  type TaskResultMessage,
  type WorkerAnnounceMessage,
  type WorkerHeartbeatMessage,
  type WorkerListMessage,
  type RunAnnounceMessage,
  type RunEndMessage,
  type RunListMessage,
  validateMessage,
} from "./messages.js";
import { ROOT_FIELD, describe, isPlainObject } from "./validate.js";

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
});

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  int64AsType: "number",
});

/** Validates a message (a bug on the sending side surfaces here, naming the field) and encodes it. */
export function encodeMessage(msg: Message): Uint8Array {
  validateMessage(msg);
  return packr.pack(msg);
}

function unpack(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError(ROOT_FIELD, `expected bytes, got ${describe(bytes)}`);
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(ROOT_FIELD, `${bytes.length} bytes exceeds the limit of ${MAX_MESSAGE_BYTES}`);
  }
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ProtocolError(ROOT_FIELD, `not valid msgpack: ${why.slice(0, 200)}`, { cause: err });
  }
}

/**
 * Decodes and validates a message of any type, or of one of `allowedTypes`. A reply the
 * peer may refuse should allow "error" so that the refusal can be reported.
 */
export function decodeMessage<T extends MessageType = MessageType>(bytes: Uint8Array, allowedTypes?: readonly T[]): MessageOf<T> {
  return validateMessage(unpack(bytes), allowedTypes);
}

export function decodeWorkerAnnounce(bytes: Uint8Array): WorkerAnnounceMessage {
  return decodeMessage(bytes, ["worker.announce"]);
}

export function decodeWorkerHeartbeat(bytes: Uint8Array): WorkerHeartbeatMessage {
  return decodeMessage(bytes, ["worker.heartbeat"]);
}

export function decodeWorkerList(bytes: Uint8Array): WorkerListMessage {
  return decodeMessage(bytes, ["worker.list"]);
}

export function decodeRunAnnounce(bytes: Uint8Array): RunAnnounceMessage {
  return decodeMessage(bytes, ["run.announce"]);
}

export function decodeRunEnd(bytes: Uint8Array): RunEndMessage {
  return decodeMessage(bytes, ["run.end"]);
}

export function decodeRunList(bytes: Uint8Array): RunListMessage {
  return decodeMessage(bytes, ["run.list"]);
}

export function decodeTaskPull(bytes: Uint8Array): TaskPullMessage {
  return decodeMessage(bytes, ["task.pull"]);
}

export function decodeTask(bytes: Uint8Array): TaskMessage {
  return decodeMessage(bytes, ["task"]);
}

export function decodeTaskNone(bytes: Uint8Array): TaskNoneMessage {
  return decodeMessage(bytes, ["task.none"]);
}

export function decodeTaskResult(bytes: Uint8Array): TaskResultMessage {
  return decodeMessage(bytes, ["task.result"]);
}

export function decodeTaskChunk(bytes: Uint8Array): TaskChunkMessage {
  return decodeMessage(bytes, ["task.chunk"]);
}

export function decodeTaskLoss(bytes: Uint8Array): TaskLossMessage {
  return decodeMessage(bytes, ["task.loss"]);
}

export function decodeTaskCurvature(bytes: Uint8Array): TaskCurvatureMessage {
  return decodeMessage(bytes, ["task.curvature"]);
}

export function decodeTaskLossResult(bytes: Uint8Array): TaskLossResultMessage {
  return decodeMessage(bytes, ["task.loss_result"]);
}

export function decodeTaskCurvatureResult(bytes: Uint8Array): TaskCurvatureResultMessage {
  return decodeMessage(bytes, ["task.curvature_result"]);
}

export function decodeTaskError(bytes: Uint8Array): TaskErrorMessage {
  return decodeMessage(bytes, ["task.error"]);
}

export function decodeAck(bytes: Uint8Array): AckMessage {
  return decodeMessage(bytes, ["ack"]);
}

export function decodeErrorMessage(bytes: Uint8Array): ErrorMessage {
  return decodeMessage(bytes, ["error"]);
}

/**
 * The ids a message claims to come from, read without validating the rest: so that a
 * result refused as malformed can still be charged to the worker and lease it names.
 * Never throws; fields that are missing or not short strings are left out.
 */
export function peekSender(bytes: Uint8Array): { workerId?: string; taskId?: string; leaseId?: string; runId?: string } {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    return {};
  }
  if (!isPlainObject(value)) return {};
  const out: Record<string, string> = {};
  for (const key of ["workerId", "taskId", "leaseId", "runId"]) {
    const v = Object.prototype.hasOwnProperty.call(value, key) ? value[key] : undefined;
    if (typeof v === "string" && v.length > 0 && v.length <= MAX_ID_LENGTH) out[key] = v;
  }
  return out;
}
