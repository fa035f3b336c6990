// The messages of the wire contract: their types, their limits, and the schema that
// checks each one exactly. Every message carries the protocol version `v` and a `type`.
//
// Validation order matters to the peer that receives an error: the value must be a plain
// object, then `v` must be this side's version (so a v2 message with other fields still
// reports a version mismatch, not an unknown key), then `type` must be known and allowed,
// then every field.

import { ProtocolVersionError } from "./errors.js";
import { PROTOCOL_VERSION } from "./version.js";
import {
  type Checked,
  type Checker,
  type Exact,
  arrayOf,
  boolean,
  describe,
  fail,
  float32Data,
  isPlainObject,
  literal,
  nullable,
  number,
  numberArray,
  object,
  oneOf,
  string,
  tuple,
} from "./validate.js";

// ---- limits ------------------------------------------------------------------------

/** Ids (runId, taskId, leaseId, workerId) and names (host, backend, tensor, dataset, code). */
export const MAX_ID_LENGTH = 256;
/** Free text: error messages and ack reasons. */
export const MAX_TEXT_LENGTH = 4096;
export const MAX_PAIRS_PER_TASK = 65_536;
export const MAX_BATCH_SIZE = 1_048_576;
/** Most example indices of a loss or curvature task (a full pass over a large dataset). */
export const MAX_INDICES = 10_000_000;
/** Batch indices are < 2^31 (they index Int32 tensors on the worker). */
export const MAX_BATCH_INDEX = 2 ** 31 - 1;
/** Most trainable weight tensors a result may name. */
export const MAX_TENSORS = 4096;
/** Durations in ms stay within what setTimeout accepts. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** A message this large is refused before msgpack parses it. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest g1/g2 slice of one task.chunk (NATS's max_payload is at most 64 MB, usually 1–8 MB). */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

// ---- types -------------------------------------------------------------------------

export const WORKER_STATES = ["idle", "busy", "draining"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/**
 * What a worker returns for a task: per-pair statistics, or also the gradient vectors
 * (sent as task.chunk messages before the task.result that commits them).
 */
export const TASK_RETURNS = ["stats", "vectors"] as const;
export type TaskReturns = (typeof TASK_RETURNS)[number];

/** Sent by a worker on start, and as its reply to a worker.list request. */
export interface WorkerAnnounceMessage {
  v: number;
  type: "worker.announce";
  workerId: string;
  /** Drawn at each worker start: two live processes under one workerId differ in it (the second is refused). */
  instance: string;
  host: string;
  pid: number;
  backend: string;
  device: string;
  /** The worker's package version. */
  version: string;
  state: WorkerState;
  taskId: string | null;
  /** The run of the task in hand, null when idle. */
  runId: string | null;
  /** Tasks whose results the coordinators took, since the worker started. */
  tasksDone: number;
  /** Minibatch gradients of pair tasks per second over the last minute. */
  gradientsPerSecond: number;
}

/** Published every second; one naming a task's current lease renews that lease. */
export interface WorkerHeartbeatMessage {
  v: number;
  type: "worker.heartbeat";
  workerId: string;
  /** As in worker.announce. */
  instance: string;
  state: WorkerState;
  taskId: string | null;
  leaseId: string | null;
  /** The run of the task in hand (whose coordinator keeps the lease), null when idle. */
  runId: string | null;
  backend: string;
  device: string;
}

/** A request every worker answers with its announce. */
export interface WorkerListMessage {
  v: number;
  type: "worker.list";
  runId: string;
}

/** Why a run ended (run.end). */
export const RUN_END_REASONS = ["finished", "failed", "interrupted"] as const;
export type RunEndReason = (typeof RUN_END_REASONS)[number];

/**
 * A coordinator's run, published at its start and every `intervalMs` while it lasts, and
 * its answer to run.list: workers pull from the runs they hear of, `coordinator status`
 * lists them.
 */
export interface RunAnnounceMessage {
  v: number;
  type: "run.announce";
  /** One subject token: the run's task subjects are <prefix>.run.<runId>.task.*. */
  runId: string;
  /** What the run measures (its config file's name). */
  label: string;
  /** Who started it (the coordinator's OS user), "" when unknown. */
  owner: string;
  host: string;
  /** The phase running now ("theta/pairs"), "" between phases. */
  phase: string;
  /** Units (pairs, points, items) of the phase done, and its total. */
  done: number;
  total: number;
  /** Time left in the phase at the rate since its first result; null until there is a rate. */
  etaMs: number | null;
  /** Workers that pulled from this run within the last seconds. */
  workers: number;
  /** Expired leases and task errors so far. */
  retries: number;
  /** Workers quarantined by this run. */
  quarantines: number;
  /** When the run started (ms since the epoch). */
  startedAt: number;
  /** How often it is announced: a worker drops a run not heard of for three intervals. */
  intervalMs: number;
}

/** A coordinator's run is over: its workers stop pulling it at once. */
export interface RunEndMessage {
  v: number;
  type: "run.end";
  runId: string;
  reason: RunEndReason;
  message: string;
}

/** A request every coordinator answers with its run.announce. */
export interface RunListMessage {
  v: number;
  type: "run.list";
}

/** A worker asks the coordinator for work (request/reply). */
export interface TaskPullMessage {
  v: number;
  type: "task.pull";
  workerId: string;
  /** As in worker.announce. */
  instance: string;
  backend: string;
}

/** A content-addressed blob in the object store. */
export interface BlobRef {
  /** sha256 of the blob, 64 lower-case hex characters. */
  hash: string;
  /** Size of the blob in bytes. */
  bytes: number;
}

export interface DatasetRef extends BlobRef {
  name: string;
}

export interface TaskPair {
  id: number;
  /** Two minibatches of example indices. */
  batches: [number[], number[]];
}

/**
 * Which labels a gradient uses: the dataset's ("observed"), or labels drawn from the
 * model's own predictive distribution with a seeded generator ("sampled": the true Fisher).
 */
export const LABEL_MODES = ["observed", "sampled"] as const;
export type LabelMode = (typeof LABEL_MODES)[number];

/** Most metrics (diagonal Fisher vectors) one task may name. */
export const MAX_METRICS = 8;

/** The coordinator's reply to task.pull carrying work. */
/** What every task carries: whose run, which task under which lease and for how long, θ and the data. */
export interface TaskHead {
  runId: string;
  taskId: string;
  leaseId: string;
  leaseMs: number;
  snapshot: BlobRef;
  dataset: DatasetRef;
}

export interface TaskMessage extends TaskHead {
  v: number;
  type: "task";
  returns: TaskReturns;
  labels: LabelMode;
  /** Seed of the sampled labels (pair i, minibatch k draws from stream 2i + k). */
  labelSeed: number;
  /**
   * Diagonal metrics M (float32 vector blobs over the gradient's parameters): for each, the
   * result carries the pair's statistics in that metric, ‖g‖_M = √(Σ g_j²/M_j), g1·M⁻¹·g2.
   */
  metrics: BlobRef[];
  pairs: TaskPair[];
}

/** Loss (and accuracy) at points θ + α·d1 + β·d2 of a landscape, over fixed examples. */
export interface TaskLossMessage extends TaskHead {
  v: number;
  type: "task.loss";
  /** d1 and (for a 2-D grid) d2: float32 vector blobs over θ's weights. */
  directions: BlobRef[];
  points: { id: number; alpha: number; beta: number }[];
  indices: number[];
}

/** Curvature of fixed losses, from gradients at perturbed θ only. */
export interface TaskCurvatureMessage extends TaskHead {
  v: number;
  type: "task.curvature";
  /** One loss each: the mean loss over these example indices. */
  items: { id: number; indices: number[] }[];
  maxIterations: number;
  tolerance: number;
  probes: number;
  /** Finite-difference step; 0 means the worker's default for θ. */
  step: number;
  seed: number;
}

/** No work now (retry after retryMs), or the run is over (done). */
export interface TaskNoneMessage {
  v: number;
  type: "task.none";
  runId: string;
  retryMs: number;
  done: boolean;
}

/** Statistics of one pair: for minibatch gradients g1, g2, norm = [‖g1‖, ‖g2‖], dot = g1·g2. */
export interface PairStats {
  id: number;
  loss: [number, number];
  norm: [number, number];
  dot: number;
  /** Per weight tensor, in the order of TaskResultMessage.tensors. */
  tensorNorm: [number[], number[]];
  tensorDot: number[];
  /** The same statistics in each of the task's metrics, in its order. */
  metrics: MetricStats[];
}

export interface MetricStats {
  norm: [number, number];
  dot: number;
  tensorNorm: [number[], number[]];
  tensorDot: number[];
}

/** What every worker reply names: the run, task and lease it answers, and the worker. */
export interface WorkerReply {
  runId: string;
  taskId: string;
  leaseId: string;
  workerId: string;
}

export interface TaskResultMessage extends WorkerReply {
  v: number;
  type: "task.result";
  computeMs: number;
  /**
   * The trainable weight tensors in model order ("dense_1/kernel"); the coordinator sums
   * them into layers. (Protocol v1 called them "layers".)
   */
  tensors: string[];
  /** Trainable parameters per tensor, in the order of `tensors` (the layout of task.chunk vectors). */
  tensorSizes: number[];
  pairs: PairStats[];
}

/**
 * One slice of the two gradients of a pair, for one weight tensor (return: vectors). Slices
 * of a (pair, tensor) come in order of `offset`; g1 and g2 are raw little-endian float32
 * bytes of the same length.
 */
export interface TaskChunkMessage extends WorkerReply {
  v: number;
  type: "task.chunk";
  pair: number;
  /** Index of the tensor in the task.result's `tensors`. */
  tensor: number;
  /** Index of the first value within the tensor's parameters. */
  offset: number;
  g1: Uint8Array;
  g2: Uint8Array;
}

export interface TaskLossResultMessage extends WorkerReply {
  v: number;
  type: "task.loss_result";
  computeMs: number;
  points: { id: number; loss: number; accuracy: number }[];
}

export interface CurvatureItem {
  id: number;
  /** The dominant eigenvalue (largest |λ|, signed) of the loss's Hessian, by power iteration. */
  lambda: number;
  iterations: number;
  converged: boolean;
  /** Hutchinson's estimate of the Hessian's trace, with its standard error. */
  trace: number;
  traceStderr: number;
  /** Hessian-vector products taken, and those whose central difference crossed a kink of the loss (a ReLU switching): unreliable. */
  products: number;
  kinked: number;
}

export interface TaskCurvatureResultMessage extends WorkerReply {
  v: number;
  type: "task.curvature_result";
  computeMs: number;
  items: CurvatureItem[];
}

/** The worker could not do the task. */
export interface TaskErrorMessage extends WorkerReply {
  v: number;
  type: "task.error";
  /** e.g. "dataset_hash_mismatch", "snapshot_missing", "compute_failed", "draining". */
  code: string;
  message: string;
}

/** The coordinator's reply to task.result and task.error. */
export interface AckMessage {
  v: number;
  type: "ack";
  accepted: boolean;
  reason: string | null;
}

/** A reply saying the request was refused (e.g. a protocol version mismatch). */
export interface ErrorMessage {
  v: number;
  type: "error";
  code: string;
  message: string;
}

export type Message =
  | WorkerAnnounceMessage
  | WorkerHeartbeatMessage
  | WorkerListMessage
  | RunAnnounceMessage
  | RunEndMessage
  | RunListMessage
  | TaskPullMessage
  | TaskMessage
  | TaskLossMessage
  | TaskCurvatureMessage
  | TaskNoneMessage
  | TaskResultMessage
  | TaskChunkMessage
  | TaskLossResultMessage
  | TaskCurvatureResultMessage
  | TaskErrorMessage
  | AckMessage
  | ErrorMessage;

export type MessageType = Message["type"];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;
/** A message without its envelope (`v` and `type`). */
export type MessageBody<T extends MessageType> = Omit<MessageOf<T>, "v" | "type">;

export const MESSAGE_TYPES: readonly MessageType[] = [
  "worker.announce",
  "worker.heartbeat",
  "worker.list",
  "run.announce",
  "run.end",
  "run.list",
  "task.pull",
  "task",
  "task.loss",
  "task.curvature",
  "task.none",
  "task.result",
  "task.chunk",
  "task.loss_result",
  "task.curvature_result",
  "task.error",
  "ack",
  "error",
];

/** Builds a message of this protocol version. */
export function createMessage<T extends MessageType>(type: T, body: MessageBody<T>): MessageOf<T> {
  return { v: PROTOCOL_VERSION, type, ...body } as unknown as MessageOf<T>;
}

// ---- schemas -----------------------------------------------------------------------

const id = string({ min: 1, max: MAX_ID_LENGTH });
const name = string({ min: 1, max: MAX_ID_LENGTH });
/** Descriptive strings a worker reports about itself; may be empty when unknown. */
const label = string({ max: MAX_ID_LENGTH });
const text = string({ max: MAX_TEXT_LENGTH });
/** A run id as it appears in subjects: one token (src/protocol/subjects.ts). */
const runToken = string({ min: 1, max: 128, pattern: /^[A-Za-z0-9_-]+$/, patternName: "one subject token of letters, digits, \"_\" and \"-\"" });
const sha256 = string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, patternName: "64 lower-case hex characters (sha256)" });
const count = number({ integer: true, min: 0 });
const workerState = oneOf(WORKER_STATES);
const finite = number();
const nonNegative = number({ min: 0 });

const version: Checker<number> = (value) => {
  if (value !== PROTOCOL_VERSION) throw new ProtocolVersionError(PROTOCOL_VERSION, versionForError(value));
  return value;
};

/** What the peer sent as `v`, short enough to put in an error message. */
function versionForError(value: unknown): unknown {
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) return value;
  if (typeof value === "string" && value.length <= 40) return JSON.stringify(value);
  return `(${describe(value)})`;
}

function envelope<T extends MessageType>(type: T) {
  return { v: version, type: literal(type) };
}

const workerAnnounce = object({
  ...envelope("worker.announce"),
  workerId: id,
  instance: id,
  host: label,
  pid: count,
  backend: label,
  device: label,
  version: label,
  state: workerState,
  taskId: nullable(id),
  runId: nullable(runToken),
  tasksDone: count,
  gradientsPerSecond: nonNegative,
});

const workerHeartbeat = object({
  ...envelope("worker.heartbeat"),
  workerId: id,
  instance: id,
  state: workerState,
  taskId: nullable(id),
  leaseId: nullable(id),
  runId: nullable(runToken),
  backend: label,
  device: label,
});

const workerList = object({ ...envelope("worker.list"), runId: id });

const runAnnounce = object({
  ...envelope("run.announce"),
  runId: runToken,
  label,
  owner: label,
  host: label,
  phase: label,
  done: count,
  total: count,
  etaMs: nullable(nonNegative),
  workers: count,
  retries: count,
  quarantines: count,
  startedAt: count,
  intervalMs: number({ integer: true, min: 1, max: MAX_DURATION_MS }),
});

const runEnd = object({ ...envelope("run.end"), runId: runToken, reason: oneOf(RUN_END_REASONS), message: text });

const runList = object({ ...envelope("run.list") });

const taskPull = object({ ...envelope("task.pull"), workerId: id, instance: id, backend: label });

const batch = numberArray({ integer: true, min: 0, max: MAX_BATCH_INDEX, minLength: 1, maxLength: MAX_BATCH_SIZE });

/** What every task carries: whose run, which task under which lease, for how long. */
const taskHead = {
  runId: id,
  taskId: id,
  leaseId: id,
  leaseMs: number({ integer: true, min: 1, max: MAX_DURATION_MS }),
};

/** What every worker reply names: the run, task and lease it answers, and the worker. */
const workerReply = { runId: id, taskId: id, leaseId: id, workerId: id };

const task = object({
  ...envelope("task"),
  ...taskHead,
  snapshot: object({ hash: sha256, bytes: count }),
  dataset: object({ name, hash: sha256, bytes: count }),
  returns: oneOf(TASK_RETURNS),
  labels: oneOf(LABEL_MODES),
  labelSeed: number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
  metrics: arrayOf(object({ hash: sha256, bytes: count }), { maxLength: MAX_METRICS }),
  pairs: arrayOf(object({ id: count, batches: tuple<[number[], number[]]>(batch, batch) }), {
    minLength: 1,
    maxLength: MAX_PAIRS_PER_TASK,
  }),
});

const blobRef = object({ hash: sha256, bytes: count });
const exampleIndices = numberArray({ integer: true, min: 0, max: MAX_BATCH_INDEX, minLength: 1, maxLength: MAX_INDICES });

const taskLoss = object({
  ...envelope("task.loss"),
  ...taskHead,
  snapshot: blobRef,
  dataset: object({ name, hash: sha256, bytes: count }),
  directions: arrayOf(blobRef, { maxLength: 2 }),
  points: arrayOf(object({ id: count, alpha: finite, beta: finite }), { minLength: 1, maxLength: MAX_PAIRS_PER_TASK }),
  indices: exampleIndices,
});

const taskCurvature = object({
  ...envelope("task.curvature"),
  ...taskHead,
  snapshot: blobRef,
  dataset: object({ name, hash: sha256, bytes: count }),
  items: arrayOf(object({ id: count, indices: exampleIndices }), { minLength: 1, maxLength: 4096 }),
  maxIterations: number({ integer: true, min: 1, max: 10_000 }),
  tolerance: number({ min: 0, max: 1 }),
  probes: number({ integer: true, min: 0, max: 100_000 }),
  step: number({ min: 0 }),
  seed: number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
});

const taskNone = object({
  ...envelope("task.none"),
  runId: id,
  retryMs: number({ integer: true, min: 0, max: MAX_DURATION_MS }),
  done: boolean,
});

const tensorValues = numberArray({ maxLength: MAX_TENSORS });
const tensorNorms = numberArray({ min: 0, maxLength: MAX_TENSORS });

const metricStats = object({
  norm: tuple<[number, number]>(nonNegative, nonNegative),
  dot: finite,
  tensorNorm: tuple<[number[], number[]]>(tensorNorms, tensorNorms),
  tensorDot: tensorValues,
});

const pairStats = object({
  id: count,
  loss: tuple<[number, number]>(finite, finite),
  norm: tuple<[number, number]>(nonNegative, nonNegative),
  dot: finite,
  tensorNorm: tuple<[number[], number[]]>(tensorNorms, tensorNorms),
  tensorDot: tensorValues,
  metrics: arrayOf(metricStats, { maxLength: MAX_METRICS }),
});

/** The weight tensors a task.result names, and its per-pair statistics over them. */
const resultTensors = arrayOf(name, { maxLength: MAX_TENSORS });
const resultPairs = arrayOf(pairStats, { minLength: 1, maxLength: MAX_PAIRS_PER_TASK });

const taskResultShape = object({
  ...envelope("task.result"),
  ...workerReply,
  computeMs: nonNegative,
  tensors: resultTensors,
  tensorSizes: numberArray({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER, maxLength: MAX_TENSORS }),
  pairs: resultPairs,
});

/** Every per-tensor array of `pairs` (at `path`) has one value per tensor of the n named. */
function checkTensorCounts(pairs: readonly PairStats[], n: number, path: string): void {
  const at = (suffix: string): string => (path === "" ? suffix : `${path}.${suffix}`);
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    for (let k = 0; k < 2; k++) {
      const len = p.tensorNorm[k]!.length;
      if (len !== n) fail(at(`pairs[${i}].tensorNorm[${k}]`), `has ${len} values, tensors names ${n}`);
    }
    if (p.tensorDot.length !== n) fail(at(`pairs[${i}].tensorDot`), `has ${p.tensorDot.length} values, tensors names ${n}`);
    for (let m = 0; m < p.metrics.length; m++) {
      const ms = p.metrics[m]!;
      for (let k = 0; k < 2; k++) {
        if (ms.tensorNorm[k]!.length !== n) fail(at(`pairs[${i}].metrics[${m}].tensorNorm[${k}]`), `has ${ms.tensorNorm[k]!.length} values, tensors names ${n}`);
      }
      if (ms.tensorDot.length !== n) fail(at(`pairs[${i}].metrics[${m}].tensorDot`), `has ${ms.tensorDot.length} values, tensors names ${n}`);
    }
  }
}

/** The shape, then every per-tensor array against the number of tensors. */
const taskResult: typeof taskResultShape = (value, path) => {
  const msg = taskResultShape(value, path);
  const n = msg.tensors.length;
  if (msg.tensorSizes.length !== n) fail("tensorSizes", `has ${msg.tensorSizes.length} values, tensors names ${n}`);
  checkTensorCounts(msg.pairs, n, path);
  return msg;
};

const lossPoints = arrayOf(object({ id: count, loss: finite, accuracy: number({ min: 0, max: 1 }) }), { minLength: 1, maxLength: MAX_PAIRS_PER_TASK });

const taskLossResult = object({
  ...envelope("task.loss_result"),
  ...workerReply,
  computeMs: nonNegative,
  points: lossPoints,
});

const curvatureItems = arrayOf(
  object({ id: count, lambda: finite, iterations: count, converged: boolean, trace: finite, traceStderr: nonNegative, products: count, kinked: count }),
  { minLength: 1, maxLength: 4096 },
);

const taskCurvatureResult = object({
  ...envelope("task.curvature_result"),
  ...workerReply,
  computeMs: nonNegative,
  items: curvatureItems,
});

const tensorsAndPairsShape = object({ tensors: resultTensors, pairs: resultPairs });
const tensorsAndPairs: typeof tensorsAndPairsShape = (value, path) => {
  const part = tensorsAndPairsShape(value, path);
  checkTensorCounts(part.pairs, part.tensors.length, path);
  return part;
};

/**
 * The parts of results that the coordinator keeps (its journal holds them as they were
 * accepted), checked exactly as the results that carried them: a resume reads them back
 * as untrusted input. Each throws a ProtocolError naming the field below `path`.
 */
export const RESULT_PARTS = {
  /** A task.result's tensors and pairs, the pairs' per-tensor arrays against the tensors. */
  pairs: tensorsAndPairs,
  /** A task.loss_result's points. */
  lossPoints,
  /** A task.curvature_result's items. */
  curvatureItems,
} as const;

const chunkData = float32Data(MAX_CHUNK_BYTES);

const taskChunkShape = object({
  ...envelope("task.chunk"),
  ...workerReply,
  pair: count,
  tensor: number({ integer: true, min: 0, max: MAX_TENSORS - 1 }),
  offset: count,
  g1: chunkData,
  g2: chunkData,
});

const taskChunk: typeof taskChunkShape = (value, path) => {
  const msg = taskChunkShape(value, path);
  if (msg.g1.length !== msg.g2.length) fail("g2", `holds ${msg.g2.length} bytes, g1 holds ${msg.g1.length}`);
  if (msg.g1.length === 0) fail("g1", "is empty");
  return msg;
};

const taskError = object({
  ...envelope("task.error"),
  ...workerReply,
  code: name,
  message: text,
});

const ack = object({ ...envelope("ack"), accepted: boolean, reason: nullable(text) });

const errorReply = object({ ...envelope("error"), code: name, message: text });

const SCHEMAS = {
  "worker.announce": workerAnnounce,
  "worker.heartbeat": workerHeartbeat,
  "worker.list": workerList,
  "run.announce": runAnnounce,
  "run.end": runEnd,
  "run.list": runList,
  "task.pull": taskPull,
  task,
  "task.loss": taskLoss,
  "task.curvature": taskCurvature,
  "task.none": taskNone,
  "task.result": taskResult,
  "task.chunk": taskChunk,
  "task.loss_result": taskLossResult,
  "task.curvature_result": taskCurvatureResult,
  "task.error": taskError,
  ack,
  error: errorReply,
} satisfies { [T in MessageType]: Checker<MessageOf<T>> };

// Compile-time: each schema checks exactly the fields its interface declares.
type SchemaMatches = { [T in MessageType]: Exact<Checked<(typeof SCHEMAS)[T]>, MessageOf<T>> }[MessageType];
const schemasMatchTypes: SchemaMatches extends true ? true : never = true;
void schemasMatchTypes;

const KNOWN_TYPES = new Set<string>(MESSAGE_TYPES);

function listTypes(types: readonly string[]): string {
  return types.map((t) => JSON.stringify(t)).join(", ");
}

/**
 * Checks that a decoded value is exactly a message of this protocol version, of one of
 * `allowedTypes` (default: any). Returns it, typed; throws ProtocolVersionError for a
 * version mismatch and ProtocolError naming the field for anything else.
 */
export function validateMessage<T extends MessageType = MessageType>(value: unknown, allowedTypes?: readonly T[]): MessageOf<T> {
  if (!isPlainObject(value)) fail("", `expected a message object, got ${describe(value)}`);
  if (!Object.prototype.hasOwnProperty.call(value, "v")) fail("v", "missing protocol version");
  version(value.v, "v");
  const type = value.type;
  if (typeof type !== "string") fail("type", `expected a message type string, got ${describe(type)}`);
  if (!KNOWN_TYPES.has(type)) fail("type", `unknown message type ${describe(type)}`);
  if (allowedTypes && !(allowedTypes as readonly string[]).includes(type)) {
    fail("type", `expected ${allowedTypes.length === 1 ? "" : "one of "}${listTypes(allowedTypes)}, got ${describe(type)}`);
  }
  SCHEMAS[type as MessageType](value, "");
  return value as unknown as MessageOf<T>;
}
