import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import {
  type Message,
  type MessageType,
  type TaskCurvatureMessage,
  type TaskCurvatureResultMessage,
  type TaskLossMessage,
  type TaskLossResultMessage,
  type TaskMessage,
  type TaskResultMessage,
  MAX_BATCH_SIZE,
  MAX_METRICS,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolVersionError,
  createMessage,
  decodeAck,
  decodeErrorMessage,
  decodeMessage,
  decodeTask,
  decodeTaskChunk,
  decodeTaskCurvature,
  decodeTaskCurvatureResult,
  decodeTaskError,
  decodeTaskLoss,
  decodeTaskLossResult,
  decodeTaskNone,
  decodeTaskPull,
  decodeTaskResult,
  decodeWorkerAnnounce,
  decodeWorkerHeartbeat,
  decodeWorkerList,
  decodeRunAnnounce,
  decodeRunEnd,
  decodeRunList,
  encodeMessage,
  validateMessage,
  float32Bytes,
  float32View,
  peekSender,
  MAX_CHUNK_BYTES,
  MAX_ID_LENGTH,
  MAX_TENSORS,
} from "../../src/protocol/index.js";

const HASH_A = "a".repeat(64);
const HASH_B = "0123456789abcdef".repeat(4);

/** Packs anything, unvalidated, as a peer (or an attacker) might. */
const rawPackr = new Packr({ useRecords: false, structuredClone: false });
const raw = (value: unknown): Uint8Array => rawPackr.pack(value);
/** Packs extension types (typed arrays, Error, RegExp, Set, Date) too. */
const extPackr = new Packr({ useRecords: false, moreTypes: true });

/** A result of `pairs` pairs over `tensors` weight tensors, with statistics in `metrics` metrics. */
function taskResult(pairs: number, tensors: number, metrics = 1): TaskResultMessage {
  const names = Array.from({ length: tensors }, (_, k) => `dense_${k >> 1}/${k % 2 === 0 ? "kernel" : "bias"}`);
  return createMessage("task.result", {
    runId: "run-1",
    taskId: "task-7",
    leaseId: "lease-7-1",
    workerId: "worker-a",
    computeMs: 12.625,
    tensors: names,
    tensorSizes: names.map((_, k) => 100 * k + 1),
    pairs: Array.from({ length: pairs }, (_, i) => ({
      id: i,
      loss: [0.5 + i * 1e-3, 0.25] as [number, number],
      norm: [1.5, 2.25] as [number, number],
      dot: 0.125 - 0.25 * i,
      tensorNorm: [names.map((_, k) => 0.1 * k + 0.01), names.map((_, k) => 0.2 * k)] as [number[], number[]],
      tensorDot: names.map((_, k) => -0.3 * k + 1e-9),
      metrics: Array.from({ length: metrics }, (_, m) => ({
        norm: [3 + m, 0.5 * (m + 1)] as [number, number],
        dot: -0.75 + i + m,
        tensorNorm: [names.map((_, k) => 0.4 * k + m), names.map((_, k) => 0.3 * k + 1e-3)] as [number[], number[]],
        tensorDot: names.map((_, k) => 0.7 * k - m),
      })),
    })),
  });
}

function task(): TaskMessage {
  return createMessage("task", {
    runId: "run-1",
    taskId: "task-7",
    leaseId: "lease-7-1",
    leaseMs: 30_000,
    snapshot: { hash: HASH_A, bytes: 1_234_567 },
    dataset: { name: "mnist-10k", hash: HASH_B, bytes: 0 },
    returns: "stats",
    labels: "observed",
    labelSeed: 0,
    metrics: [],
    pairs: [
      { id: 0, batches: [[0, 5, 9], [2 ** 31 - 1, 3, 4]] },
      { id: 2 ** 40, batches: [[7], [8]] },
    ],
  });
}

function taskLoss(): TaskLossMessage {
  return createMessage("task.loss", {
    runId: "run-1",
    taskId: "theta/landscape-1d#0",
    leaseId: "theta/landscape-1d#0.1",
    leaseMs: 30_000,
    snapshot: { hash: HASH_A, bytes: 1_234_567 },
    dataset: { name: "mnist-10k", hash: HASH_B, bytes: 10 },
    directions: [{ hash: HASH_B, bytes: 4 * 19_000 }, { hash: HASH_A, bytes: 4 * 19_000 }],
    points: [
      { id: 0, alpha: -1.5, beta: 0 },
      { id: 1, alpha: 0, beta: 0.25 },
      { id: 2 ** 40, alpha: 1e-300, beta: -2 },
    ],
    indices: [0, 1, 2, 2 ** 31 - 1],
  });
}

function taskCurvature(): TaskCurvatureMessage {
  return createMessage("task.curvature", {
    runId: "run-1",
    taskId: "theta/curvature#0",
    leaseId: "theta/curvature#0.1",
    leaseMs: 60_000,
    snapshot: { hash: HASH_A, bytes: 1_234_567 },
    dataset: { name: "mnist-10k", hash: HASH_B, bytes: 10 },
    items: [
      { id: 0, indices: [0, 1, 2, 3] },
      { id: 7, indices: [2 ** 31 - 1] },
    ],
    maxIterations: 100,
    tolerance: 1e-4,
    probes: 32,
    step: 0,
    seed: 12345,
  });
}

function taskLossResult(): TaskLossResultMessage {
  return createMessage("task.loss_result", {
    runId: "run-1",
    taskId: "theta/landscape-1d#0",
    leaseId: "theta/landscape-1d#0.1",
    workerId: "worker-a",
    computeMs: 4.5,
    points: [
      { id: 0, loss: 2.302585092994046, accuracy: 0.125 },
      { id: 1, loss: -1e-9, accuracy: 0 },
      { id: 2 ** 40, loss: 1e300, accuracy: 1 },
    ],
  });
}

function taskCurvatureResult(): TaskCurvatureResultMessage {
  return createMessage("task.curvature_result", {
    runId: "run-1",
    taskId: "theta/curvature#0",
    leaseId: "theta/curvature#0.1",
    workerId: "worker-a",
    computeMs: 812.25,
    items: [
      { id: 0, lambda: 41.5, iterations: 17, converged: true, trace: 310.75, traceStderr: 4.125, products: 98, kinked: 0 },
      { id: 7, lambda: -0.003, iterations: 100, converged: false, trace: -1.5, traceStderr: 0, products: 264, kinked: 3 },
    ],
  });
}

const SAMPLES: Message[] = [
  createMessage("worker.announce", {
    workerId: "w-1",
    instance: "9f86d081884c7d65",
    host: "gpu-host-3",
    pid: 4242,
    backend: "webgpu",
    device: "NVIDIA H200",
    version: "0.1.0",
    state: "idle",
    taskId: null,
    runId: null,
    tasksDone: 0,
    gradientsPerSecond: 0,
  }),
  createMessage("worker.announce", {
    workerId: "w-2",
    instance: "0b14e1c2a3d4f5e6",
    host: "",
    pid: 0,
    backend: "cpu",
    device: "",
    version: "0.1.0",
    state: "busy",
    taskId: "task-1",
    runId: "run-1",
    tasksDone: 40,
    gradientsPerSecond: 123.25,
  }),
  createMessage("run.announce", { runId: "run-1", label: "mnist.yaml", owner: "alice", host: "gpu-host-3", phase: "theta/pairs", done: 40, total: 100, etaMs: 12_000, workers: 3, retries: 2, quarantines: 1, startedAt: 1_700_000_000_000, intervalMs: 1000 }),
  createMessage("run.end", { runId: "run-1", reason: "finished", message: "every phase is measured" }),
  createMessage("run.list", {}),
  createMessage("worker.heartbeat", {
    workerId: "w-1",
    instance: "9f86d081884c7d65",
    state: "busy",
    taskId: "task-1",
    leaseId: "lease-1",
    runId: "run-1",
    backend: "wasm",
    device: "cpu x2",
  }),
  createMessage("worker.heartbeat", { workerId: "w-1", instance: "9f86d081884c7d65", state: "draining", taskId: null, leaseId: null, runId: null, backend: "wasm", device: "" }),
  createMessage("worker.list", { runId: "run-1" }),
  createMessage("task.pull", { workerId: "w-1", instance: "9f86d081884c7d65", backend: "webgpu" }),
  task(),
  createMessage("task.none", { runId: "run-1", retryMs: 250, done: false }),
  createMessage("task.none", { runId: "run-1", retryMs: 0, done: true }),
  taskResult(3, 2),
  taskResult(1, 0),
  createMessage("task.error", {
    runId: "run-1",
    taskId: "task-7",
    leaseId: "lease-7-1",
    workerId: "w-1",
    code: "dataset_hash_mismatch",
    message: "expected sha256 aaaa…, have bbbb…",
  }),
  createMessage("ack", { accepted: true, reason: null }),
  createMessage("ack", { accepted: false, reason: "lease expired" }),
  createMessage("error", { code: "protocol_version", message: "this side speaks v3, the peer sent v2" }),
  // Appended (the tests below index SAMPLES[0], [4] and [7]).
  createMessage("task", {
    ...task(),
    returns: "vectors",
    labels: "sampled",
    labelSeed: Number.MAX_SAFE_INTEGER,
    metrics: Array.from({ length: MAX_METRICS }, (_, m) => ({ hash: m % 2 === 0 ? HASH_A : HASH_B, bytes: 4 * 19_000 + m })),
  }),
  taskResult(2, 3, MAX_METRICS),
  taskResult(2, 4, 0),
  taskLoss(),
  createMessage("task.loss", { ...taskLoss(), directions: [], points: [{ id: 0, alpha: 0, beta: 0 }], indices: [5] }),
  taskCurvature(),
  taskLossResult(),
  taskCurvatureResult(),
];

const DECODERS: Record<MessageType, (bytes: Uint8Array) => Message> = {
  "worker.announce": decodeWorkerAnnounce,
  "worker.heartbeat": decodeWorkerHeartbeat,
  "worker.list": decodeWorkerList,
  "run.announce": decodeRunAnnounce,
  "run.end": decodeRunEnd,
  "run.list": decodeRunList,
  "task.pull": decodeTaskPull,
  task: decodeTask,
  "task.loss": decodeTaskLoss,
  "task.curvature": decodeTaskCurvature,
  "task.none": decodeTaskNone,
  "task.result": decodeTaskResult,
  "task.chunk": decodeTaskChunk,
  "task.loss_result": decodeTaskLossResult,
  "task.curvature_result": decodeTaskCurvatureResult,
  "task.error": decodeTaskError,
  ack: decodeAck,
  error: decodeErrorMessage,
};

/** Runs fn and returns the ProtocolError it throws (failing if it throws anything else or nothing). */
function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw new Error(`expected a ProtocolError, got ${String(err)}`, { cause: err });
  }
  throw new Error("expected a ProtocolError, nothing was thrown");
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe("round trips", () => {
  it("covers every message type", () => {
    // task.chunk carries binary slices and has its own tests below.
    expect(new Set([...SAMPLES.map((m) => m.type), "task.chunk"])).toEqual(new Set(MESSAGE_TYPES));
  });

  for (const msg of SAMPLES) {
    it(`${msg.type} survives encode/decode`, () => {
      const bytes = encodeMessage(msg);
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(decodeMessage(bytes)).toEqual(msg);
      expect(DECODERS[msg.type](bytes)).toEqual(msg);
      expect(decodeMessage(bytes, [msg.type, "error"])).toEqual(msg);
    });
  }

  it("keeps float64 values and large integer ids exactly", () => {
    const msg = taskResult(2, 3);
    msg.pairs[0]!.dot = Math.PI * 1e-300;
    msg.pairs[1]!.id = Number.MAX_SAFE_INTEGER;
    msg.pairs[1]!.loss = [-Number.MAX_VALUE, Number.MIN_VALUE];
    const back = decodeTaskResult(encodeMessage(msg));
    expect(back.pairs[0]!.dot).toBe(Math.PI * 1e-300);
    expect(back.pairs[1]!.id).toBe(Number.MAX_SAFE_INTEGER);
    expect(back.pairs[1]!.loss).toEqual([-Number.MAX_VALUE, Number.MIN_VALUE]);
  });

  it("negative zero arrives as zero (msgpackr packs it as the integer 0)", () => {
    const msg = taskResult(1, 1);
    msg.pairs[0]!.dot = -0;
    expect(Object.is(decodeTaskResult(encodeMessage(msg)).pairs[0]!.dot, 0)).toBe(true);
  });

  it("createMessage stamps the protocol version", () => {
    expect(createMessage("worker.list", { runId: "r" })).toEqual({ v: PROTOCOL_VERSION, type: "worker.list", runId: "r" });
  });

  it("a decoder for one type refuses another type, naming the field", () => {
    const bytes = encodeMessage(createMessage("task.none", { runId: "r", retryMs: 5, done: false }));
    const err = protocolError(() => decodeTask(bytes));
    expect(err.field).toBe("type");
    expect(err.message).toContain('"task.none"');
    expect(protocolError(() => decodeMessage(bytes, ["task", "error"])).field).toBe("type");
  });

  it("refuses an unknown type", () => {
    const err = protocolError(() => decodeMessage(raw({ v: PROTOCOL_VERSION, type: "task.steal" })));
    expect(err.field).toBe("type");
    expect(protocolError(() => decodeMessage(raw({ v: PROTOCOL_VERSION }))).field).toBe("type");
    expect(protocolError(() => decodeMessage(raw({ v: PROTOCOL_VERSION, type: 7 }))).field).toBe("type");
  });

  it("encodeMessage validates what it sends", () => {
    const bad = taskResult(2, 2);
    bad.pairs[1]!.norm[0] = Number.NaN;
    expect(protocolError(() => encodeMessage(bad)).field).toBe("pairs[1].norm[0]");
    const extra = { ...createMessage("ack", { accepted: true, reason: null }), extra: 1 } as unknown as Message;
    expect(protocolError(() => encodeMessage(extra)).field).toBe("extra");
  });
});

describe("malformed bytes", () => {
  for (const msg of SAMPLES) {
    it(`every truncation of ${msg.type} is a ProtocolError naming "message"`, () => {
      const bytes = encodeMessage(msg);
      for (let n = 0; n < bytes.length; n++) {
        const err = protocolError(() => decodeMessage(bytes.slice(0, n)));
        expect(err.field).toBe("message");
      }
    });
  }

  it("trailing bytes are refused", () => {
    const bytes = encodeMessage(SAMPLES[0]!);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(protocolError(() => decodeMessage(longer)).field).toBe("message");
  });

  it("non-object messages are refused", () => {
    for (const value of [null, 1, "task", [1, 2], true, []]) {
      expect(protocolError(() => decodeMessage(raw(value))).field).toBe("message");
    }
    expect(protocolError(() => decodeMessage("not bytes" as unknown as Uint8Array)).field).toBe("message");
  });

  it("a msgpack 0xc1 byte (never used) is refused", () => {
    expect(protocolError(() => decodeMessage(new Uint8Array([0xc1]))).field).toBe("message");
  });
});

describe("protocol version", () => {
  const expectVersionError = (v: unknown, named: string) => {
    const msg = { ...task(), v, futureField: { anything: [1, 2, 3] }, pairs: "changed in another version" };
    const err = protocolError(() => decodeMessage(raw(msg)));
    expect(err).toBeInstanceOf(ProtocolVersionError);
    const verr = err as ProtocolVersionError;
    expect(verr.field).toBe("v");
    expect(verr.expected).toBe(PROTOCOL_VERSION);
    expect(verr.message).toContain(`v${PROTOCOL_VERSION}`);
    expect(verr.message).toContain(named);
  };

  it("another number is a ProtocolVersionError naming both, checked before anything else", () => {
    // v1 named weight tensors "layers": its messages are refused, not misread.
    expectVersionError(1, "v1");
    expectVersionError(2, "v2");
    expectVersionError(4, "v4");
    expectVersionError(0, "v0");
    expectVersionError(1.5, "v1.5");
    const err = protocolError(() => decodeTask(raw({ v: PROTOCOL_VERSION + 1, type: "task.v3-only" }))) as ProtocolVersionError;
    expect(err).toBeInstanceOf(ProtocolVersionError);
    expect(err.received).toBe(PROTOCOL_VERSION + 1);
  });

  it("a non-number is a ProtocolVersionError naming both", () => {
    expectVersionError("1", '"1"');
    expectVersionError(null, "null");
    expectVersionError(true, "true");
    expectVersionError({ major: 1 }, "an object");
    expectVersionError("x".repeat(10_000), "a string of 10000 characters");
  });

  it("a message without v is refused naming v", () => {
    const { v: _v, ...rest } = createMessage("worker.list", { runId: "r" });
    expect(protocolError(() => decodeMessage(raw(rest))).field).toBe("v");
  });

  it("the version is checked before the type is", () => {
    expect(protocolError(() => decodeAck(raw({ v: PROTOCOL_VERSION + 1, type: "task" })))).toBeInstanceOf(ProtocolVersionError);
  });
});

describe("field validation", () => {
  const fieldOf = (value: unknown) => protocolError(() => decodeMessage(raw(value))).field;

  it("names a missing field", () => {
    const { leaseId: _l, ...msg } = task();
    expect(fieldOf(msg)).toBe("leaseId");
    const bad = clone(task()) as unknown as Record<string, Record<string, unknown>>;
    delete bad.snapshot!.bytes;
    expect(fieldOf(bad)).toBe("snapshot.bytes");
  });

  it("names an unknown key at any depth", () => {
    expect(fieldOf({ ...task(), extra: 1 })).toBe("extra");
    const nested = clone(task()) as unknown as { snapshot: Record<string, unknown>; pairs: Record<string, unknown>[] };
    nested.snapshot.url = "http://example";
    expect(fieldOf(nested)).toBe("snapshot.url");
    const inPair = clone(taskResult(3, 2)) as unknown as { pairs: Record<string, unknown>[] };
    inPair.pairs[2]!.grad = [1, 2];
    expect(fieldOf(inPair)).toBe("pairs[2].grad");
    const inMetric = clone(taskResult(3, 2)) as unknown as { pairs: { metrics: Record<string, unknown>[] }[] };
    inMetric.pairs[1]!.metrics[0]!.weight = 1;
    expect(fieldOf(inMetric)).toBe("pairs[1].metrics[0].weight");
    const inMetricRef = clone(SAMPLES.find((m) => m.type === "task" && m.metrics.length > 0)!) as unknown as { metrics: Record<string, unknown>[] };
    inMetricRef.metrics[3]!.name = "fisher";
    expect(fieldOf(inMetricRef)).toBe("metrics[3].name");
  });

  it("keeps error messages short whatever the peer sent", () => {
    const longKey = "k".repeat(100_000);
    const err = protocolError(() => decodeMessage(raw({ ...task(), [longKey]: 1 })));
    expect(err.field.length).toBeLessThan(100);
    const long = "x".repeat(100_000);
    for (const bad of [{ ...task(), runId: long }, { ...task(), type: long }, { ...task(), v: long }, { ...task(), leaseMs: long }]) {
      expect(protocolError(() => decodeMessage(raw(bad))).message.length).toBeLessThan(300);
    }
    const trailing = new Uint8Array([...raw({ a: long }), 0x00]);
    expect(protocolError(() => decodeMessage(trailing)).message.length).toBeLessThan(300);
  });

  it("checks string types, bounds and patterns", () => {
    expect(fieldOf({ ...task(), runId: 5 })).toBe("runId");
    expect(fieldOf({ ...task(), runId: "" })).toBe("runId");
    expect(fieldOf({ ...task(), taskId: "t".repeat(257) })).toBe("taskId");
    expect(decodeTask(raw({ ...task(), taskId: "t".repeat(256) })).taskId).toHaveLength(256);
    expect(fieldOf({ ...task(), snapshot: { hash: HASH_A.toUpperCase(), bytes: 1 } })).toBe("snapshot.hash");
    expect(fieldOf({ ...task(), snapshot: { hash: HASH_A.slice(1), bytes: 1 } })).toBe("snapshot.hash");
    expect(fieldOf({ ...task(), dataset: { name: "d", hash: `${HASH_B.slice(1)}g`, bytes: 1 } })).toBe("dataset.hash");
    const err = createMessage("task.error", { runId: "r", taskId: "t", leaseId: "l", workerId: "w", code: "x", message: "m" });
    expect(fieldOf({ ...err, message: "m".repeat(4097) })).toBe("message");
    expect(decodeTaskError(raw({ ...err, message: "m".repeat(4096) })).message).toHaveLength(4096);
    expect(fieldOf({ ...SAMPLES[0]!, state: "sleeping" })).toBe("state");
    expect(fieldOf({ ...SAMPLES[0]!, taskId: 3 })).toBe("taskId");
    expect(fieldOf({ ...task(), returns: "gradients" })).toBe("returns");
  });

  it("checks a task's labels, labelSeed and metrics", () => {
    expect(decodeTask(raw({ ...task(), labels: "sampled" })).labels).toBe("sampled");
    for (const labels of ["true", "", "Observed", null, 0]) expect(fieldOf({ ...task(), labels })).toBe("labels");
    const { labels: _l, ...noLabels } = task();
    expect(fieldOf(noLabels)).toBe("labels");
    expect(decodeTask(raw({ ...task(), labelSeed: Number.MAX_SAFE_INTEGER })).labelSeed).toBe(Number.MAX_SAFE_INTEGER);
    for (const labelSeed of [-1, 0.5, 2 ** 53, Number.NaN, "7", null]) expect(fieldOf({ ...task(), labelSeed })).toBe("labelSeed");
    const { labelSeed: _s, ...noSeed } = task();
    expect(fieldOf(noSeed)).toBe("labelSeed");
    const ref = { hash: HASH_A, bytes: 76 };
    expect(decodeTask(raw({ ...task(), metrics: Array.from({ length: MAX_METRICS }, () => ref) })).metrics).toHaveLength(MAX_METRICS);
    expect(fieldOf({ ...task(), metrics: Array.from({ length: MAX_METRICS + 1 }, () => ref) })).toBe("metrics");
    expect(fieldOf({ ...task(), metrics: ref })).toBe("metrics");
    expect(fieldOf({ ...task(), metrics: [ref, { hash: HASH_A.toUpperCase(), bytes: 76 }] })).toBe("metrics[1].hash");
    expect(fieldOf({ ...task(), metrics: [{ hash: HASH_A, bytes: -4 }] })).toBe("metrics[0].bytes");
    expect(fieldOf({ ...task(), metrics: [{ hash: HASH_A }] })).toBe("metrics[0].bytes");
    const { metrics: _m, ...noMetrics } = task();
    expect(fieldOf(noMetrics)).toBe("metrics");
  });

  it("checks integers and ranges", () => {
    expect(fieldOf({ ...task(), leaseMs: 0 })).toBe("leaseMs");
    expect(fieldOf({ ...task(), leaseMs: 1.5 })).toBe("leaseMs");
    expect(fieldOf({ ...task(), leaseMs: 2 ** 31 })).toBe("leaseMs");
    expect(fieldOf({ ...task(), snapshot: { hash: HASH_A, bytes: -1 } })).toBe("snapshot.bytes");
    expect(fieldOf({ ...task(), snapshot: { hash: HASH_A, bytes: 2 ** 53 } })).toBe("snapshot.bytes");
    expect(fieldOf({ ...SAMPLES[0]!, pid: -3 })).toBe("pid");
    expect(fieldOf({ ...SAMPLES[7]!, retryMs: -1 })).toBe("retryMs");
    expect(fieldOf({ ...SAMPLES[7]!, done: 1 })).toBe("done");
  });

  it("checks batches: non-empty, integer indices in [0, 2^31), at most the cap", () => {
    const withBatch = (b: unknown, i = 1) => {
      const t = clone(task()) as unknown as { pairs: { batches: unknown[] }[] };
      t.pairs[i]!.batches[1] = b;
      return t;
    };
    expect(fieldOf(withBatch([]))).toBe("pairs[1].batches[1]");
    expect(fieldOf(withBatch([1, -1]))).toBe("pairs[1].batches[1][1]");
    expect(fieldOf(withBatch([1, 2 ** 31]))).toBe("pairs[1].batches[1][1]");
    expect(fieldOf(withBatch([0.5]))).toBe("pairs[1].batches[1][0]");
    expect(fieldOf(withBatch(["3"]))).toBe("pairs[1].batches[1][0]");
    expect(fieldOf(withBatch(null, 0))).toBe("pairs[0].batches[1]");
    const t = clone(task()) as unknown as { pairs: { batches: unknown[] }[] };
    t.pairs[0]!.batches = [[1]];
    expect(fieldOf(t)).toBe("pairs[0].batches");
    expect(fieldOf({ ...task(), pairs: [] })).toBe("pairs");
    expect(fieldOf({ ...task(), pairs: [{ id: -1, batches: [[1], [2]] }] })).toBe("pairs[0].id");
  });

  it("refuses a batch over the cap and accepts one at it", () => {
    const atCap = Array.from({ length: MAX_BATCH_SIZE }, (_, i) => i);
    const ok = { ...task(), pairs: [{ id: 0, batches: [atCap, [1]] }] };
    expect(decodeTask(raw(ok)).pairs[0]!.batches[0]).toHaveLength(MAX_BATCH_SIZE);
    atCap.push(0);
    expect(fieldOf(ok)).toBe("pairs[0].batches[0]");
  });

  it("refuses a task with too many pairs", () => {
    const pairs = Array.from({ length: 65_537 }, (_, i) => ({ id: i, batches: [[0], [1]] }));
    expect(fieldOf({ ...task(), pairs })).toBe("pairs");
  });

  it("checks per-tensor lengths against tensors", () => {
    const short = clone(taskResult(3, 2));
    short.pairs[2]!.tensorNorm[1] = [0.5];
    expect(fieldOf(short)).toBe("pairs[2].tensorNorm[1]");
    const long = clone(taskResult(3, 2));
    long.pairs[1]!.tensorDot.push(0);
    expect(fieldOf(long)).toBe("pairs[1].tensorDot");
    // Short too (a check of "more than" alone would let these through), down to empty.
    const shortDot = clone(taskResult(3, 2));
    shortDot.pairs[1]!.tensorDot.pop();
    expect(fieldOf(shortDot)).toBe("pairs[1].tensorDot");
    const noDot = clone(taskResult(3, 2));
    noDot.pairs[0]!.tensorDot = [];
    expect(fieldOf(noDot)).toBe("pairs[0].tensorDot");
    const shortNorm = clone(taskResult(3, 2));
    shortNorm.pairs[0]!.tensorNorm[0] = [];
    expect(fieldOf(shortNorm)).toBe("pairs[0].tensorNorm[0]");
    const three = clone(taskResult(1, 2)) as unknown as { pairs: { tensorNorm: unknown[] }[] };
    three.pairs[0]!.tensorNorm.push([0, 0]);
    expect(fieldOf(three)).toBe("pairs[0].tensorNorm");
    expect(fieldOf({ ...taskResult(1, 2), tensors: ["a", 3] })).toBe("tensors[1]");
    // The same in every metric's statistics.
    const metricShort = clone(taskResult(3, 2, 2));
    metricShort.pairs[2]!.metrics[1]!.tensorNorm[0] = [0.5];
    expect(fieldOf(metricShort)).toBe("pairs[2].metrics[1].tensorNorm[0]");
    const metricLong = clone(taskResult(3, 2, 2));
    metricLong.pairs[0]!.metrics[0]!.tensorNorm[1].push(1);
    expect(fieldOf(metricLong)).toBe("pairs[0].metrics[0].tensorNorm[1]");
    const metricDot = clone(taskResult(3, 2, 2));
    metricDot.pairs[1]!.metrics[1]!.tensorDot = [];
    expect(fieldOf(metricDot)).toBe("pairs[1].metrics[1].tensorDot");
  });

  it("checks a pair's metrics: present, at most MAX_METRICS, each of the right shape", () => {
    expect(decodeTaskResult(raw(taskResult(2, 2, MAX_METRICS))).pairs[1]!.metrics).toHaveLength(MAX_METRICS);
    expect(fieldOf(taskResult(2, 2, MAX_METRICS + 1))).toBe("pairs[0].metrics");
    const missing = clone(taskResult(2, 2)) as unknown as { pairs: Record<string, unknown>[] };
    delete missing.pairs[1]!.metrics;
    expect(fieldOf(missing)).toBe("pairs[1].metrics");
    const noDot = clone(taskResult(2, 2)) as unknown as { pairs: { metrics: Record<string, unknown>[] }[] };
    delete noDot.pairs[0]!.metrics[0]!.dot;
    expect(fieldOf(noDot)).toBe("pairs[0].metrics[0].dot");
    const oneNorm = clone(taskResult(2, 2)) as unknown as { pairs: { metrics: Record<string, unknown>[] }[] };
    oneNorm.pairs[1]!.metrics[0]!.norm = [1];
    expect(fieldOf(oneNorm)).toBe("pairs[1].metrics[0].norm");
    const notObject = clone(taskResult(2, 2)) as unknown as { pairs: { metrics: unknown[] }[] };
    notObject.pairs[0]!.metrics[0] = [1, 2, 3];
    expect(fieldOf(notObject)).toBe("pairs[0].metrics[0]");
  });

  const NUMERIC_PATHS: [string, (m: TaskResultMessage, x: number) => void][] = [
    ["computeMs", (m, x) => (m.computeMs = x)],
    ["pairs[1].id", (m, x) => (m.pairs[1]!.id = x)],
    ["pairs[1].loss[0]", (m, x) => (m.pairs[1]!.loss[0] = x)],
    ["pairs[1].loss[1]", (m, x) => (m.pairs[1]!.loss[1] = x)],
    ["pairs[1].norm[0]", (m, x) => (m.pairs[1]!.norm[0] = x)],
    ["pairs[1].norm[1]", (m, x) => (m.pairs[1]!.norm[1] = x)],
    ["pairs[1].dot", (m, x) => (m.pairs[1]!.dot = x)],
    ["pairs[1].tensorNorm[0][0]", (m, x) => (m.pairs[1]!.tensorNorm[0][0] = x)],
    ["pairs[1].tensorNorm[1][1]", (m, x) => (m.pairs[1]!.tensorNorm[1][1] = x)],
    ["pairs[1].tensorDot[0]", (m, x) => (m.pairs[1]!.tensorDot[0] = x)],
    ["pairs[1].tensorDot[1]", (m, x) => (m.pairs[1]!.tensorDot[1] = x)],
    ["pairs[1].metrics[0].norm[0]", (m, x) => (m.pairs[1]!.metrics[0]!.norm[0] = x)],
    ["pairs[1].metrics[0].norm[1]", (m, x) => (m.pairs[1]!.metrics[0]!.norm[1] = x)],
    ["pairs[1].metrics[0].dot", (m, x) => (m.pairs[1]!.metrics[0]!.dot = x)],
    ["pairs[1].metrics[0].tensorNorm[0][1]", (m, x) => (m.pairs[1]!.metrics[0]!.tensorNorm[0][1] = x)],
    ["pairs[1].metrics[0].tensorNorm[1][0]", (m, x) => (m.pairs[1]!.metrics[0]!.tensorNorm[1][0] = x)],
    ["pairs[1].metrics[0].tensorDot[1]", (m, x) => (m.pairs[1]!.metrics[0]!.tensorDot[1] = x)],
  ];

  for (const [path, set] of NUMERIC_PATHS) {
    it(`refuses NaN and ±Infinity in ${path}`, () => {
      for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const msg = taskResult(3, 2);
        set(msg, x);
        const err = protocolError(() => decodeTaskResult(raw(msg)));
        expect(err.field).toBe(path);
        expect(protocolError(() => encodeMessage(msg)).field).toBe(path);
      }
    });
  }

  it("refuses negative norms", () => {
    const a = taskResult(2, 2);
    a.pairs[0]!.norm[1] = -1e-12;
    expect(fieldOf(a)).toBe("pairs[0].norm[1]");
    const b = taskResult(2, 2);
    b.pairs[1]!.tensorNorm[0][1] = -0.5;
    expect(fieldOf(b)).toBe("pairs[1].tensorNorm[0][1]");
    const c = taskResult(2, 2);
    c.computeMs = -1;
    expect(fieldOf(c)).toBe("computeMs");
    const d = taskResult(2, 2);
    d.pairs[1]!.metrics[0]!.norm[0] = -1;
    expect(fieldOf(d)).toBe("pairs[1].metrics[0].norm[0]");
    const e = taskResult(2, 2);
    e.pairs[0]!.metrics[0]!.tensorNorm[1][0] = -1e-300;
    expect(fieldOf(e)).toBe("pairs[0].metrics[0].tensorNorm[1][0]");
    // Dot products may be negative, in a metric too.
    const f = taskResult(2, 2);
    f.pairs[0]!.metrics[0]!.dot = -5;
    f.pairs[0]!.metrics[0]!.tensorDot[0] = -5;
    expect(decodeTaskResult(raw(f))).toEqual(f);
  });
});

describe("task.loss, task.curvature and their results", () => {
  const fieldOf = (value: unknown) => protocolError(() => decodeMessage(raw(value))).field;

  it("each decoder takes its own type only", () => {
    const own: [Message, (bytes: Uint8Array) => Message][] = [
      [taskLoss(), decodeTaskLoss],
      [taskCurvature(), decodeTaskCurvature],
      [taskLossResult(), decodeTaskLossResult],
      [taskCurvatureResult(), decodeTaskCurvatureResult],
    ];
    for (const [msg, decode] of own) {
      expect(decode(encodeMessage(msg))).toEqual(msg);
      for (const [other] of own) {
        if (other === msg) continue;
        const err = protocolError(() => decode(encodeMessage(other)));
        expect(err.field).toBe("type");
        expect(err.message).toContain(JSON.stringify(other.type));
      }
      expect(protocolError(() => decode(encodeMessage(task()))).field).toBe("type");
    }
    // And the decoders of task and task.result take none of them.
    expect(protocolError(() => decodeTask(encodeMessage(taskLoss()))).field).toBe("type");
    expect(protocolError(() => decodeTask(encodeMessage(taskCurvature()))).field).toBe("type");
    expect(protocolError(() => decodeTaskResult(encodeMessage(taskLossResult()))).field).toBe("type");
    expect(protocolError(() => decodeTaskResult(encodeMessage(taskCurvatureResult()))).field).toBe("type");
  });

  it("task.loss: at most two directions, finite points, at least one point and one index", () => {
    expect(fieldOf({ ...taskLoss(), directions: [...taskLoss().directions, { hash: HASH_A, bytes: 4 }] })).toBe("directions");
    expect(fieldOf({ ...taskLoss(), directions: [{ hash: "x", bytes: 4 }] })).toBe("directions[0].hash");
    expect(fieldOf({ ...taskLoss(), directions: [{ hash: HASH_A, bytes: 1.5 }] })).toBe("directions[0].bytes");
    expect(fieldOf({ ...taskLoss(), points: [] })).toBe("points");
    expect(fieldOf({ ...taskLoss(), points: [{ id: 0, alpha: 1 }] })).toBe("points[0].beta");
    expect(fieldOf({ ...taskLoss(), points: [{ id: 0, alpha: 1, beta: 0, gamma: 0 }] })).toBe("points[0].gamma");
    expect(fieldOf({ ...taskLoss(), points: [{ id: -1, alpha: 1, beta: 0 }] })).toBe("points[0].id");
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "1"]) {
      expect(fieldOf({ ...taskLoss(), points: [{ id: 0, alpha: 0, beta: 0 }, { id: 1, alpha: x, beta: 0 }] })).toBe("points[1].alpha");
      expect(fieldOf({ ...taskLoss(), points: [{ id: 0, alpha: 0, beta: x }] })).toBe("points[0].beta");
    }
    expect(fieldOf({ ...taskLoss(), points: Array.from({ length: 65_537 }, (_, id) => ({ id, alpha: 0, beta: 0 })) })).toBe("points");
    expect(fieldOf({ ...taskLoss(), indices: [] })).toBe("indices");
    expect(fieldOf({ ...taskLoss(), indices: [0, -1] })).toBe("indices[1]");
    expect(fieldOf({ ...taskLoss(), indices: [2 ** 31] })).toBe("indices[0]");
    expect(fieldOf({ ...taskLoss(), indices: [0.5] })).toBe("indices[0]");
    expect(fieldOf({ ...taskLoss(), leaseMs: 0 })).toBe("leaseMs");
    expect(fieldOf({ ...taskLoss(), snapshot: { hash: HASH_A } })).toBe("snapshot.bytes");
    const { directions: _d, ...noDirections } = taskLoss();
    expect(fieldOf(noDirections)).toBe("directions");
    // Fields of task do not belong to task.loss.
    expect(fieldOf({ ...taskLoss(), returns: "stats" })).toBe("returns");
  });

  it("task.curvature: items with indices, bounded iterations, tolerance, probes, step and seed", () => {
    expect(fieldOf({ ...taskCurvature(), items: [] })).toBe("items");
    expect(fieldOf({ ...taskCurvature(), items: Array.from({ length: 4097 }, (_, id) => ({ id, indices: [0] })) })).toBe("items");
    expect(fieldOf({ ...taskCurvature(), items: [{ id: 0, indices: [] }] })).toBe("items[0].indices");
    expect(fieldOf({ ...taskCurvature(), items: [{ id: 0, indices: [1] }, { id: 1, indices: [1, 2 ** 31] }] })).toBe("items[1].indices[1]");
    expect(fieldOf({ ...taskCurvature(), items: [{ id: 0.5, indices: [1] }] })).toBe("items[0].id");
    expect(fieldOf({ ...taskCurvature(), items: [{ id: 0, indices: [1], weight: 1 }] })).toBe("items[0].weight");
    for (const maxIterations of [0, 10_001, 2.5]) expect(fieldOf({ ...taskCurvature(), maxIterations })).toBe("maxIterations");
    expect(decodeTaskCurvature(raw({ ...taskCurvature(), maxIterations: 10_000 })).maxIterations).toBe(10_000);
    for (const tolerance of [-1e-9, 1.5, Number.NaN]) expect(fieldOf({ ...taskCurvature(), tolerance })).toBe("tolerance");
    expect(decodeTaskCurvature(raw({ ...taskCurvature(), tolerance: 0 })).tolerance).toBe(0);
    for (const probes of [-1, 100_001, 0.5]) expect(fieldOf({ ...taskCurvature(), probes })).toBe("probes");
    expect(decodeTaskCurvature(raw({ ...taskCurvature(), probes: 0 })).probes).toBe(0);
    for (const step of [-1e-3, Number.POSITIVE_INFINITY, Number.NaN]) expect(fieldOf({ ...taskCurvature(), step })).toBe("step");
    expect(decodeTaskCurvature(raw({ ...taskCurvature(), step: 1e-3 })).step).toBe(1e-3);
    for (const seed of [-1, 0.5, 2 ** 53]) expect(fieldOf({ ...taskCurvature(), seed })).toBe("seed");
    const { seed: _s, ...noSeed } = taskCurvature();
    expect(fieldOf(noSeed)).toBe("seed");
  });

  it("task.loss_result: finite losses, accuracies in [0, 1], at least one point", () => {
    const withPoint = (point: Record<string, unknown>) => ({ ...taskLossResult(), points: [taskLossResult().points[0], point] });
    for (const loss of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(fieldOf(withPoint({ id: 1, loss, accuracy: 0.5 }))).toBe("points[1].loss");
    for (const accuracy of [-1e-9, 1.0000001, Number.NaN, null]) expect(fieldOf(withPoint({ id: 1, loss: 1, accuracy }))).toBe("points[1].accuracy");
    expect(fieldOf(withPoint({ id: 1, loss: 1 }))).toBe("points[1].accuracy");
    expect(fieldOf(withPoint({ id: 1, loss: 1, accuracy: 1, alpha: 0 }))).toBe("points[1].alpha");
    expect(fieldOf({ ...taskLossResult(), points: [] })).toBe("points");
    expect(fieldOf({ ...taskLossResult(), computeMs: -1 })).toBe("computeMs");
    expect(fieldOf({ ...taskLossResult(), workerId: "" })).toBe("workerId");
  });

  it("task.curvature_result: finite values, a non-negative standard error, a boolean converged", () => {
    const withItem = (item: Record<string, unknown>) => ({ ...taskCurvatureResult(), items: [taskCurvatureResult().items[0], item] });
    const good = taskCurvatureResult().items[1]!;
    for (const key of ["lambda", "trace", "traceStderr"] as const) {
      for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(fieldOf(withItem({ ...good, [key]: x }))).toBe(`items[1].${key}`);
    }
    expect(fieldOf(withItem({ ...good, traceStderr: -1e-12 }))).toBe("items[1].traceStderr");
    // A dominant eigenvalue and a trace may be negative (a saddle).
    expect(decodeTaskCurvatureResult(raw(withItem({ ...good, lambda: -3, trace: -7 }))).items[1]).toMatchObject({ lambda: -3, trace: -7 });
    expect(fieldOf(withItem({ ...good, iterations: -1 }))).toBe("items[1].iterations");
    expect(fieldOf(withItem({ ...good, iterations: 1.5 }))).toBe("items[1].iterations");
    expect(fieldOf(withItem({ ...good, converged: 1 }))).toBe("items[1].converged");
    for (const key of ["products", "kinked"] as const) {
      for (const x of [-1, 0.5, Number.NaN]) expect(fieldOf(withItem({ ...good, [key]: x }))).toBe(`items[1].${key}`);
    }
    const { kinked: _k, ...noKinked } = good;
    expect(fieldOf(withItem(noKinked))).toBe("items[1].kinked");
    expect(fieldOf(withItem({ ...good, hessian: [] }))).toBe("items[1].hessian");
    const { converged: _c, ...noConverged } = good;
    expect(fieldOf(withItem(noConverged))).toBe("items[1].converged");
    expect(fieldOf({ ...taskCurvatureResult(), items: [] })).toBe("items");
    expect(fieldOf({ ...taskCurvatureResult(), items: Array.from({ length: 4097 }, (_, id) => ({ ...good, id })) })).toBe("items");
  });
});

describe("hostile input", () => {
  it("a __proto__ key fails as an unknown key and pollutes nothing", () => {
    const top = JSON.parse(`{"__proto__": {"polluted": true}, ${JSON.stringify(task()).slice(1)}`) as unknown;
    expect(Object.prototype.hasOwnProperty.call(top, "__proto__")).toBe(true);
    const err = protocolError(() => decodeMessage(raw(top)));
    expect(err.field).toMatch(/^__proto_/);
    expect(err.message).toContain("unknown key");

    const inner = clone(taskResult(2, 1)) as unknown as { pairs: unknown[] };
    inner.pairs[1] = JSON.parse(`{"__proto__": {"polluted": true}, ${JSON.stringify(inner.pairs[1]).slice(1)}`);
    expect(protocolError(() => decodeMessage(raw(inner))).field).toMatch(/^pairs\[1\]\.__proto_/);

    const alone = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    expect(protocolError(() => decodeMessage(raw(alone))).field).toBe("v");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
  });

  const hugeHeaders: [string, number[]][] = [
    ["array32 of 2^32-1", [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]],
    ["array16 of 65535", [0xdc, 0xff, 0xff, 0x01]],
    ["map32 of 2^32-1", [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x76, 0x01]],
    ["map16 of 65535", [0xde, 0xff, 0xff, 0xa1, 0x76, 0x01]],
    ["str32 of 2^32-1", [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61, 0x62]],
    ["str16 of 65535", [0xda, 0xff, 0xff, 0x61]],
    ["bin32 of 2^32-1", [0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]],
    ["ext32 of 2^32-1", [0xc9, 0xff, 0xff, 0xff, 0xff, 0x74, 0x00]],
    ["ext32 typed array", [0xc9, 0xff, 0xff, 0xff, 0xf0, 0x74, 0x08, 0x00]],
  ];

  /** {v, type: "task", pairs: <header>} so the bomb sits inside a plausible message. */
  function nested(header: number[]): Uint8Array {
    const prefix = raw({ v: PROTOCOL_VERSION, type: "task" });
    const out = [...prefix];
    out[0] = 0x83; // fixmap of 3 instead of 2
    out.push(0xa5, ...Buffer.from("pairs"), ...header);
    return new Uint8Array(out);
  }

  for (const [name, header] of hugeHeaders) {
    it(`a declared ${name} with few bytes following fails quickly`, () => {
      for (const bytes of [new Uint8Array(header), nested(header)]) {
        const t0 = performance.now();
        expect(protocolError(() => decodeMessage(bytes)).field).toBe("message");
        expect(performance.now() - t0).toBeLessThan(100);
      }
    });
  }

  it("nested huge arrays cannot add up to a huge allocation", () => {
    // 64 nested array32 headers each declaring 2^32-1 elements.
    const bytes: number[] = [];
    for (let i = 0; i < 64; i++) bytes.push(0xdd, 0xff, 0xff, 0xff, 0xff);
    const t0 = performance.now();
    expect(protocolError(() => decodeMessage(new Uint8Array(bytes))).field).toBe("message");
    // Many small arrays that together declare more elements than there are bytes.
    const wide: number[] = [0xdc, 0x00, 0x40];
    for (let i = 0; i < 64; i++) wide.push(0xdc, 0x10, 0x00);
    expect(protocolError(() => decodeMessage(new Uint8Array(wide))).field).toBe("message");
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it("deep nesting is a ProtocolError, not a stack overflow escaping", () => {
    const depth = 200_000;
    const bytes = new Uint8Array(depth + 1).fill(0x91);
    bytes[depth] = 0x01;
    expect(protocolError(() => decodeMessage(bytes)).field).toBe("message");
  });

  const EXTENSIONS: [string, unknown][] = [
    ["Error", new Error("boom")],
    ["TypeError", new TypeError("boom")],
    ["Set", new Set([1, 2])],
    ["RegExp", /a+/g],
    ["Date", new Date(0)],
    ["Float32Array", new Float32Array([1, 2])],
    ["Float64Array", new Float64Array([1, 2])],
    ["Int32Array", new Int32Array([1, 2])],
    ["Uint8Array (bin)", new Uint8Array([1, 2])],
    ["Map", new Map<unknown, unknown>([["a", 1]])],
    ["bigint", 2n ** 70n],
    ["undefined", undefined],
  ];

  for (const [name, ext] of EXTENSIONS) {
    it(`a ${name} where an object, array, number or string is expected is a ProtocolError`, () => {
      const fields: [string, (m: Record<string, unknown>) => void][] = [
        ["computeMs", (m) => (m.computeMs = ext)],
        ["runId", (m) => (m.runId = ext)],
        ["tensors", (m) => (m.tensors = ext)],
        ["pairs", (m) => (m.pairs = ext)],
        ["pairs[0]", (m) => ((m.pairs as unknown[])[0] = ext)],
        ["pairs[0].tensorDot", (m) => ((m.pairs as Record<string, unknown>[])[0]!.tensorDot = ext)],
        ["pairs[0].loss[1]", (m) => (((m.pairs as Record<string, unknown>[])[0]!.loss as unknown[])[1] = ext)],
      ];
      for (const [path, set] of fields) {
        const msg = clone(taskResult(2, 2)) as unknown as Record<string, unknown>;
        set(msg);
        const bytes = extPackr.pack(msg);
        const err = protocolError(() => decodeTaskResult(bytes));
        // A Map decodes as an object (mapsAsObjects), so it fails on its first key.
        if (ext instanceof Map && path === "pairs[0]") expect(err.field).toBe("pairs[0].a");
        else expect(err.field).toBe(path);
      }
    });
  }

  it("extensions as the whole message are refused", () => {
    for (const [name, ext] of EXTENSIONS) {
      if (name === "Map") continue; // a Map of string keys is a msgpack map: an object on the wire
      expect(protocolError(() => decodeMessage(extPackr.pack(ext))).field).toBe("message");
    }
    // A Map holding a valid message is a msgpack map like any other.
    const m = new Map(Object.entries(SAMPLES[4]!));
    expect(decodeMessage(extPackr.pack(m))).toEqual(SAMPLES[4]);
  });

  it("structured-clone references are refused", () => {
    const cyclic: Record<string, unknown> = { v: PROTOCOL_VERSION, type: "worker.list" };
    cyclic.runId = cyclic;
    const bytes = new Packr({ structuredClone: true, useRecords: false }).pack(cyclic);
    expect(protocolError(() => decodeMessage(bytes)).field).toBe("message");
  });

  it("records defined inside one message decode as plain objects and are validated as such", () => {
    const recordPackr = new Packr({ useRecords: true });
    const msg = taskResult(8, 2);
    expect(decodeTaskResult(recordPackr.pack(msg))).toEqual(msg);
    const bad = clone(msg) as unknown as { pairs: Record<string, unknown>[] };
    // Own "__proto__" keys in every pair: msgpackr compiles a reader for a record used often.
    for (const p of bad.pairs) {
      Object.defineProperty(p, "__proto__", { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
    }
    expect(protocolError(() => decodeTaskResult(recordPackr.pack(bad))).field).toMatch(/^pairs\[\d\]\./);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("validateMessage refuses objects with another prototype", () => {
    const msg = Object.assign(Object.create({ inherited: 1 }) as object, SAMPLES[4]);
    expect(protocolError(() => validateMessage(msg)).field).toBe("message");
    expect(validateMessage(Object.assign(Object.create(null) as object, SAMPLES[4]))).toEqual(SAMPLES[4]);
  });
});


describe("task.chunk (gradient vectors)", () => {
  const g1 = Float32Array.from([1.5, -2.25, 3e-8, 0]);
  const g2 = Float32Array.from([0.5, 4, -1e30, 7]);
  const chunk = (over: Record<string, unknown> = {}) =>
    ({ v: PROTOCOL_VERSION, type: "task.chunk", runId: "r", taskId: "t", leaseId: "t.1", workerId: "w", pair: 3, tensor: 1, offset: 128, g1: float32Bytes(g1), g2: float32Bytes(g2), ...over }) as const;

  it("round-trips its float32 slices exactly", () => {
    const decoded = decodeTaskChunk(encodeMessage(chunk() as unknown as Message));
    expect(Array.from(float32View(decoded.g1))).toEqual(Array.from(g1));
    expect(Array.from(float32View(decoded.g2))).toEqual(Array.from(g2));
    expect(decoded).toMatchObject({ pair: 3, tensor: 1, offset: 128 });
  });

  it("refuses NaN or Infinity inside a slice, naming the slice and the index", () => {
    const bad = Float32Array.from([1, 2, NaN]);
    expect(() => decodeTaskChunk(raw(chunk({ g1: float32Bytes(bad), g2: float32Bytes(Float32Array.from([1, 2, 3])) })))).toThrow(/g1: value 2 is NaN/);
    const inf = Float32Array.from([1, Infinity, 3]);
    expect(() => decodeTaskChunk(raw(chunk({ g1: float32Bytes(Float32Array.from([1, 2, 3])), g2: float32Bytes(inf) })))).toThrow(/g2: value 1 is Infinity/);
  });

  it("refuses slices of unequal length, a partial float, an empty or an oversized slice", () => {
    expect(() => decodeTaskChunk(raw(chunk({ g2: float32Bytes(Float32Array.from([1])) })))).toThrow(ProtocolError);
    expect(() => decodeTaskChunk(raw(chunk({ g1: new Uint8Array(6), g2: new Uint8Array(6) })))).toThrow(/whole number of float32/);
    expect(() => decodeTaskChunk(raw(chunk({ g1: new Uint8Array(0), g2: new Uint8Array(0) })))).toThrow(/empty/);
    const big = new Uint8Array(MAX_CHUNK_BYTES + 4);
    expect(() => decodeTaskChunk(raw(chunk({ g1: big })))).toThrow(/g1: holds \d+ bytes, over the limit/);
    expect(() => decodeTaskChunk(raw(chunk({ g1: [1, 2, 3, 4] })))).toThrow(ProtocolError);
  });

  it("reads floats at any byte offset (a Buffer slice is a view, not a copy)", () => {
    const backing = new Uint8Array(4 * 4 + 1);
    backing.set(float32Bytes(g1), 1);
    const unaligned = backing.subarray(1);
    expect(Array.from(float32View(unaligned))).toEqual(Array.from(g1));
    const buf = Buffer.concat([Buffer.alloc(3), Buffer.from(float32Bytes(g1))]).subarray(3);
    expect(Array.from(float32View(buf))).toEqual(Array.from(g1));
  });
});

describe("peekSender", () => {
  it("reads the ids of a message it would refuse, and never throws", () => {
    const bytes = raw({ v: 1, type: "task.result", workerId: "w-9", taskId: "t3", leaseId: "t3.2", runId: "r", pairs: "garbage" });
    expect(peekSender(bytes)).toEqual({ workerId: "w-9", taskId: "t3", leaseId: "t3.2", runId: "r" });
    expect(peekSender(new Uint8Array([0xc1, 0xff]))).toEqual({});
    expect(peekSender(raw([1, 2]))).toEqual({});
    expect(peekSender(raw({ workerId: 5, taskId: "x".repeat(1000) }))).toEqual({});
  });
});

describe("refusals in words, and the limits of names, tensors and indices", () => {
  const refusal = (value: unknown, allowed?: readonly MessageType[]) => {
    const err = protocolError(() => validateMessage(value, allowed));
    return `${err.constructor.name} ${err.message}`;
  };

  it("the version the peer sent, as the peer reads it", () => {
    const base = { type: "ack", accepted: true, reason: null };
    const sent = (v: unknown) => refusal({ ...base, v });
    expect(sent(true)).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent vtrue`);
    expect(sent(null)).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent vnull`);
    expect(sent(undefined)).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent vundefined`);
    expect(sent("x".repeat(40))).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent v"${"x".repeat(40)}"`);
    expect(sent("x".repeat(41))).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent v(a string of 41 characters)`);
    expect(sent([1])).toBe(`ProtocolVersionError v: protocol version mismatch: this side speaks v${PROTOCOL_VERSION}, the peer sent v(an array of 1)`);
    expect(refusal(base)).toBe("ProtocolError v: missing protocol version");
  });

  it("the envelope: not an object, a type that is not a string, unknown, or not allowed here", () => {
    expect(refusal([1])).toBe("ProtocolError message: expected a message object, got an array of 1");
    expect(refusal({ v: PROTOCOL_VERSION, type: 5 })).toBe("ProtocolError type: expected a message type string, got the number 5");
    expect(refusal({ v: PROTOCOL_VERSION, type: "nope" })).toBe('ProtocolError type: unknown message type the string "nope"');
    const ack = createMessage("ack", { accepted: true, reason: null });
    expect(ack).toEqual({ v: PROTOCOL_VERSION, type: "ack", accepted: true, reason: null });
    expect(refusal(ack, ["task"])).toBe('ProtocolError type: expected "task", got the string "ack"');
    expect(refusal(ack, ["task", "task.loss"])).toBe('ProtocolError type: expected one of "task", "task.loss", got the string "ack"');
  });

  it("task.result: tensorSizes and every per-tensor array against the tensors, in words", () => {
    const sizes = clone(taskResult(2, 2));
    sizes.tensorSizes = [10];
    expect(refusal(sizes)).toBe("ProtocolError tensorSizes: has 1 values, tensors names 2");
    const norm = clone(taskResult(2, 2));
    norm.pairs[1]!.tensorNorm[0] = [1];
    expect(refusal(norm)).toBe("ProtocolError pairs[1].tensorNorm[0]: has 1 values, tensors names 2");
    const metricNorm = clone(taskResult(2, 2, 1));
    metricNorm.pairs[0]!.metrics[0]!.tensorNorm[1] = [];
    expect(refusal(metricNorm)).toBe("ProtocolError pairs[0].metrics[0].tensorNorm[1]: has 0 values, tensors names 2");
    const metricDot = clone(taskResult(2, 2, 1));
    metricDot.pairs[0]!.metrics[0]!.tensorDot = [1, 2, 3];
    expect(refusal(metricDot)).toBe("ProtocolError pairs[0].metrics[0].tensorDot: has 3 values, tensors names 2");
  });

  it("task.result: at most MAX_TENSORS tensors, sizes that are counts", () => {
    const many = taskResult(1, 0);
    const names = Array.from({ length: MAX_TENSORS + 1 }, (_, k) => `w${k}`);
    expect(protocolError(() => validateMessage({ ...many, tensors: names })).field).toBe("tensors");
    for (const bad of [-1, 1.5]) {
      const r = clone(taskResult(1, 2));
      r.tensorSizes[1] = bad;
      expect(protocolError(() => validateMessage(r)).field).toBe("tensorSizes[1]");
    }
    const long = clone(taskResult(1, 2));
    long.tensors[0] = "n".repeat(MAX_ID_LENGTH + 1);
    expect(protocolError(() => validateMessage(long)).field).toBe("tensors[0]");
    const empty = clone(taskResult(1, 2));
    empty.tensors[0] = "";
    expect(protocolError(() => validateMessage(empty)).field).toBe("tensors[0]");
  });

  it("names and labels: a name is 1 to MAX_ID_LENGTH characters, a label at most MAX_ID_LENGTH", () => {
    const t = task();
    expect(protocolError(() => validateMessage({ ...t, dataset: { ...t.dataset, name: "" } })).field).toBe("dataset.name");
    expect(protocolError(() => validateMessage({ ...t, dataset: { ...t.dataset, name: "d".repeat(MAX_ID_LENGTH + 1) } })).field).toBe("dataset.name");
    expect(validateMessage({ ...t, dataset: { ...t.dataset, name: "d".repeat(MAX_ID_LENGTH) } })).toBeTruthy();
    const pull = createMessage("task.pull", { workerId: "w", instance: "w", backend: "b".repeat(MAX_ID_LENGTH + 1) });
    expect(protocolError(() => validateMessage(pull)).field).toBe("backend");
  });

  it("announce, heartbeat and pull carry the worker's instance: missing or empty is refused", () => {
    const msgs = [
      createMessage("task.pull", { workerId: "w", instance: "9f86d081884c7d65", backend: "cpu" }),
      createMessage("worker.heartbeat", { workerId: "w", instance: "9f86d081884c7d65", state: "idle", taskId: null, leaseId: null, runId: null, backend: "cpu", device: "" }),
      createMessage("worker.announce", { workerId: "w", instance: "9f86d081884c7d65", host: "h", pid: 1, backend: "cpu", device: "", version: "0", state: "idle", taskId: null, runId: null, tasksDone: 0, gradientsPerSecond: 0 }),
    ];
    for (const m of msgs) {
      expect(validateMessage(m)).toBeTruthy();
      const { instance: _gone, ...without } = m;
      expect(refusal(without)).toBe("ProtocolError instance: missing");
      expect(protocolError(() => validateMessage({ ...m, instance: "" })).field).toBe("instance");
    }
  });

  it("a hash that is not sha256 says what a sha256 looks like", () => {
    const t = task();
    expect(refusal({ ...t, snapshot: { ...t.snapshot, hash: "A".repeat(64) } })).toBe(
      `ProtocolError snapshot.hash: expected 64 lower-case hex characters (sha256), got a string of 64 characters`,
    );
  });

  it("task.none: retryMs is a whole number of ms", () => {
    expect(protocolError(() => validateMessage(createMessage("task.none", { runId: "r", retryMs: 1.5, done: false }))).field).toBe("retryMs");
  });

  it("task.chunk: a tensor index in [0, MAX_TENSORS), whole; slices of equal, non-zero length, in words", () => {
    const chunk = (over: Record<string, unknown>) => ({
      v: PROTOCOL_VERSION,
      type: "task.chunk",
      runId: "r",
      taskId: "t",
      leaseId: "t.1",
      workerId: "w",
      pair: 0,
      tensor: 0,
      offset: 0,
      g1: new Uint8Array(16),
      g2: new Uint8Array(16),
      ...over,
    });
    expect(validateMessage(chunk({ tensor: MAX_TENSORS - 1 }))).toBeTruthy();
    for (const tensor of [-1, 1.5, MAX_TENSORS]) expect(protocolError(() => validateMessage(chunk({ tensor }))).field).toBe("tensor");
    expect(refusal(chunk({ g2: new Uint8Array(4) }))).toBe("ProtocolError g2: holds 4 bytes, g1 holds 16");
    expect(refusal(chunk({ g1: new Uint8Array(0), g2: new Uint8Array(0) }))).toBe("ProtocolError g1: is empty");
  });
});
