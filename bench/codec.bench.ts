// What exact validation costs on the coordinator's hottest message: decoding a
// task.result (64 pairs × 20 weight tensors, no metrics) with gradswarm's decoder (msgpackr + exact checks)
// vs msgpackr alone (the naive way: trust the peer) and JSON. vitest prints the ratios.
// Run: npx vitest bench --run bench/codec.bench.ts

import { Unpackr } from "msgpackr";
import { bench, describe } from "vitest";
import { createMessage, decodeTaskResult, encodeMessage } from "../src/protocol/index.js";

const tensors = Array.from({ length: 20 }, (_, l) => `dense_${l >> 1}/${l % 2 === 0 ? "kernel" : "bias"}`);
const message = createMessage("task.result", {
  runId: "run",
  taskId: "t0001",
  leaseId: "t0001.1",
  workerId: "w1",
  computeMs: 12,
  tensors,
  tensorSizes: tensors.map(() => 1000),
  pairs: Array.from({ length: 64 }, (_, id) => ({
    id,
    loss: [2.3 + id * 1e-3, 2.2],
    norm: [1.5, 1.7],
    dot: 0.8,
    tensorNorm: [tensors.map((_, l) => 0.1 + l), tensors.map((_, l) => 0.2 + l)] as [number[], number[]],
    tensorDot: tensors.map((_, l) => 0.01 * l),
    metrics: [],
  })),
});
const bytes = encodeMessage(message);
const json = JSON.stringify(message);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false, int64AsType: "number" });

describe(`decode a task.result of 64 pairs × 20 weight tensors (${bytes.length} bytes msgpack)`, () => {
  bench("gradswarm decodeTaskResult (msgpackr + exact validation)", () => {
    decodeTaskResult(bytes);
  });
  bench("msgpackr unpack alone (no validation)", () => {
    unpackr.unpack(bytes);
  });
  bench("JSON.parse of the same message", () => {
    JSON.parse(json);
  });
});
