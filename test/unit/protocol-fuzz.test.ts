// Seeded fuzzing of the decoder: every outcome must be a valid message or a ProtocolError,
// never another error type, a hang, or a polluted prototype.

import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import {
  type Message,
  ProtocolError,
  createMessage,
  decodeMessage,
  encodeMessage,
  validateMessage,
} from "../../src/protocol/index.js";
import { Rng } from "../../src/util/rng.js";

const HASH = "5e".repeat(32);

const SAMPLES: Message[] = [
  createMessage("worker.announce", {
    workerId: "w-1",
    host: "host",
    pid: 77,
    backend: "webgpu",
    device: "NVIDIA H200",
    version: "0.1.0",
    state: "busy",
    taskId: "t-1",
  }),
  createMessage("worker.heartbeat", { workerId: "w-1", state: "idle", taskId: null, leaseId: "l", backend: "cpu", device: "" }),
  createMessage("worker.list", { runId: "run" }),
  createMessage("task.pull", { workerId: "w-1", backend: "wasm" }),
  createMessage("task", {
    runId: "run",
    taskId: "t-1",
    leaseId: "l-1",
    leaseMs: 10_000,
    snapshot: { hash: HASH, bytes: 70_000 },
    dataset: { name: "mnist", hash: HASH, bytes: 1 << 30 },
    returns: "stats",
    pairs: [
      { id: 3, batches: [[1, 2, 300, 70_000], [5, 2 ** 31 - 1]] },
      { id: 4, batches: [[0], [65_536, 7]] },
    ],
  }),
  createMessage("task.none", { runId: "run", retryMs: 100, done: false }),
  createMessage("task.result", {
    runId: "run",
    taskId: "t-1",
    leaseId: "l-1",
    workerId: "w-1",
    computeMs: 3.5,
    layers: ["dense", "dense_1", "out"],
    pairs: [
      { id: 3, loss: [2.3, 2.1], norm: [0.5, 0.25], dot: -0.1, layerNorm: [[0.1, 0.2, 0.3], [0, 1e-30, 7]], layerDot: [1, -2, 3.25] },
      { id: 4, loss: [-1, 1e300], norm: [0, 4], dot: 1e-7, layerNorm: [[1, 2, 3], [4, 5, 6]], layerDot: [0, 0, 0] },
    ],
  }),
  createMessage("task.error", { runId: "run", taskId: "t", leaseId: "l", workerId: "w", code: "compute_failed", message: "OOM" }),
  createMessage("ack", { accepted: false, reason: "duplicate" }),
  createMessage("error", { code: "protocol_version", message: "v1 vs v2" }),
];

const ENCODED = SAMPLES.map((m) => encodeMessage(m));

/** Bytes that steer msgpackr into its rarer paths: records, extensions, big headers, C1. */
const INTERESTING = [
  0x00, 0x01, 0x40, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
  0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
  0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78,
];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextFloat() < 0.3 ? pick(rng, INTERESTING) : rng.nextInt(256);
  return out;
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input);
  const edits = 1 + rng.nextInt(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.nextInt(bytes.length + 1);
    switch (rng.nextInt(7)) {
      case 0: // flip a bit
        if (at < bytes.length) bytes[at]! ^= 1 << rng.nextInt(8);
        break;
      case 1: // overwrite with an interesting byte
        if (at < bytes.length) bytes[at] = pick(rng, INTERESTING);
        break;
      case 2: // overwrite with a random byte
        if (at < bytes.length) bytes[at] = rng.nextInt(256);
        break;
      case 3: // truncate
        bytes = bytes.slice(0, at);
        break;
      case 4: // insert random bytes
        bytes.splice(at, 0, ...randomBytes(rng, 1 + rng.nextInt(8)));
        break;
      case 5: // delete a run
        bytes.splice(at, 1 + rng.nextInt(8));
        break;
      default: {
        // duplicate a slice somewhere else
        const from = rng.nextInt(bytes.length + 1);
        const slice = bytes.slice(from, from + 1 + rng.nextInt(16));
        bytes.splice(at, 0, ...slice);
      }
    }
  }
  return new Uint8Array(bytes);
}

/** Weird values a hostile peer might put in place of a field. */
const WEIRD: unknown[] = [
  null,
  undefined,
  true,
  0,
  -1,
  0.5,
  2 ** 31,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  "",
  "x".repeat(300),
  [],
  [[]],
  {},
  { v: 1 },
  new Map([[1, 2]]),
  new Set([1]),
  new Error("e"),
  /re/,
  new Date(0),
  new Float32Array(3),
  new Float64Array([Number.NaN]),
  new Uint8Array(4),
  2n ** 64n,
];

const extPackr = new Packr({ useRecords: false, moreTypes: true });

/** Replaces one random node of a message (an object value or array element) by a weird value. */
function corrupt(rng: Rng, msg: unknown): unknown {
  const copy = structuredClone(msg) as Record<string, unknown>;
  let node: Record<string, unknown> | unknown[] = copy;
  for (;;) {
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) return copy;
    const key = pick(rng, keys);
    const child = (node as Record<string | number, unknown>)[key];
    const descend = typeof child === "object" && child !== null && rng.nextFloat() < 0.6;
    if (descend) {
      node = child as Record<string, unknown>;
      continue;
    }
    if (rng.nextFloat() < 0.15 && !Array.isArray(node)) {
      // add an unknown key instead
      (node as Record<string, unknown>)[`k${rng.nextInt(4)}`] = pick(rng, WEIRD);
    } else {
      (node as Record<string | number, unknown>)[key] = pick(rng, WEIRD);
    }
    return copy;
  }
}

type Outcome = "valid" | "refused";

function outcome(bytes: Uint8Array): Outcome {
  let decoded: Message;
  try {
    decoded = decodeMessage(bytes);
  } catch (err) {
    if (err instanceof ProtocolError) return "refused";
    throw new Error(`decode threw ${String(err)} for bytes ${Buffer.from(bytes).toString("hex")}`, { cause: err });
  }
  // A message that decodes is exactly valid, and encodes and decodes to itself.
  expect(validateMessage(decoded)).toBe(decoded);
  expect(decodeMessage(encodeMessage(decoded))).toEqual(decoded);
  return "valid";
}

function tally(results: Outcome[]): Record<Outcome, number> {
  const counts = { valid: 0, refused: 0 };
  for (const r of results) counts[r]++;
  return counts;
}

describe("fuzzing the decoder", () => {
  it("random byte strings are refused with ProtocolError", () => {
    const rng = new Rng(20240611, 1);
    const results: Outcome[] = [];
    for (let i = 0; i < 3000; i++) results.push(outcome(randomBytes(rng, rng.nextInt(96))));
    const counts = tally(results);
    expect(counts.refused).toBeGreaterThan(2900);
  });

  it("random byte strings that open with a map are refused with ProtocolError", () => {
    const rng = new Rng(20240611, 2);
    const results: Outcome[] = [];
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(rng, 1 + rng.nextInt(128));
      bytes[0] = 0x80 | rng.nextInt(16);
      results.push(outcome(bytes));
    }
    expect(tally(results).refused).toBeGreaterThan(1900);
  });

  it("byte-level mutations of valid messages are valid messages or ProtocolErrors", () => {
    const rng = new Rng(20240611, 3);
    const results: Outcome[] = [];
    for (let i = 0; i < 6000; i++) results.push(outcome(mutate(rng, pick(rng, ENCODED))));
    const counts = tally(results);
    // Both outcomes occur: some mutations only change a value within its bounds.
    expect(counts.refused).toBeGreaterThan(1000);
    expect(counts.valid).toBeGreaterThan(10);
  });

  it("structural corruptions of valid messages are refused", () => {
    const rng = new Rng(20240611, 4);
    const results: Outcome[] = [];
    for (let i = 0; i < 3000; i++) {
      const bad = corrupt(rng, pick(rng, SAMPLES));
      results.push(outcome(extPackr.pack(bad)));
    }
    const counts = tally(results);
    expect(counts.refused).toBeGreaterThan(2500);
  });

  it("leaves Object.prototype untouched", () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(Object.getOwnPropertyNames(Object.getPrototypeOf({})));
    for (const key of Object.getOwnPropertyNames(Object.prototype)) {
      expect(["__proto_", "polluted", "v", "type"]).not.toContain(key);
    }
  });
});
