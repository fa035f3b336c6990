// The wire contract shared by coordinator and worker: no NATS, no TensorFlow.js.

export { ProtocolError, ProtocolVersionError } from "./errors.js";
export { PROTOCOL_VERSION } from "./version.js";
export { float32Bytes, float32View, int32View } from "./float-bytes.js";
/** A short description of an untrusted value for error messages; never echoes large content. */
export { describe as describeValue, shortKey } from "./validate.js";
export {
  type BundleDtype,
  type BundleTensor,
  type TensorBundle,
  type TensorSpec,
  decodeTensorBundle,
  elementCount,
  encodeTensorBundle,
} from "./tensor-bundle.js";
export {
  type AckMessage,
  type BlobRef,
  type DatasetRef,
  type ErrorMessage,
  type Message,
  type MessageBody,
  type MessageOf,
  type MessageType,
  type PairStats,
  type TaskChunkMessage,
  type TaskErrorMessage,
  type TaskMessage,
  type TaskNoneMessage,
  type TaskPair,
  type TaskPullMessage,
  type TaskResultMessage,
  type TaskReturns,
  type WorkerAnnounceMessage,
  type WorkerHeartbeatMessage,
  type WorkerListMessage,
  type WorkerState,
  MAX_BATCH_INDEX,
  MAX_CHUNK_BYTES,
  MAX_BATCH_SIZE,
  MAX_DURATION_MS,
  MAX_ID_LENGTH,
  MAX_LAYERS,
  MAX_MESSAGE_BYTES,
  MAX_PAIRS_PER_TASK,
  MAX_TEXT_LENGTH,
  MESSAGE_TYPES,
  TASK_RETURNS,
  WORKER_STATES,
  createMessage,
  validateMessage,
} from "./messages.js";
export {
  decodeAck,
  decodeErrorMessage,
  decodeMessage,
  decodeTask,
  decodeTaskChunk,
  decodeTaskError,
  decodeTaskNone,
  decodeTaskPull,
  decodeTaskResult,
  decodeWorkerAnnounce,
  decodeWorkerHeartbeat,
  decodeWorkerList,
  encodeMessage,
  peekSender,
} from "./codec.js";
export { DEFAULT_PREFIX, MAX_PREFIX_LENGTH, type Subjects, objectBucket, subjects, validatePrefix } from "./subjects.js";
