// Messages that could not fit the server's max_payload are refused before dispatch,
// saying what to lower, rather than failing at send time lease after lease.

import { describe, expect, it } from "vitest";
import { RunFailure } from "../../src/coordinator/run-failure.js";
import { checkPayloads, resultBytesBound } from "../../src/coordinator/payload-check.js";
import { createMessage, encodeMessage, type TaskMessage } from "../../src/protocol/index.js";

const HASH = "ab".repeat(32);

function task(pairs: number, batch: number): TaskMessage {
  const b = Array.from({ length: batch }, (_, i) => 1_000_000 + i);
  return createMessage("task", {
    runId: "r",
    taskId: "t0",
    leaseId: "t0.1",
    leaseMs: 60_000,
    snapshot: { hash: HASH, bytes: 1 },
    dataset: { hash: HASH, bytes: 1, name: "d" },
    returns: "stats",
    labels: "observed",
    labelSeed: 0,
    metrics: [],
    pairs: Array.from({ length: pairs }, (_, id) => ({ id, batches: [b, b] as [number[], number[]] })),
  });
}

describe("payload checks", () => {
  it("bounds a result from above", () => {
    // Results report per trainable weight tensor.
    const tensors = ["dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias", "dense_3/kernel", "dense_3/bias"];
    const real = (metrics: number) =>
      encodeMessage(
        createMessage("task.result", {
          runId: "0f8fad5b-d9cb-469f-a165-70867728950e",
          taskId: "theta/fisher-empirical#123",
          leaseId: "theta/fisher-empirical#123.17",
          workerId: "gpu-host-17-1234",
          computeMs: 12345,
          tensors,
          tensorSizes: [50176, 64, 4096, 64, 640, 10],
          pairs: Array.from({ length: 8 }, (_, id) => ({
            id,
            loss: [2.301234567, 2.29876543] as [number, number],
            norm: [1.23456789, 2.3456789] as [number, number],
            dot: 0.123456789,
            tensorNorm: [tensors.map(() => 0.987654321), tensors.map(() => 0.87654321)] as [number[], number[]],
            tensorDot: tensors.map(() => -0.0123456789),
            metrics: Array.from({ length: metrics }, () => ({
              norm: [12.3456789, 23.456789] as [number, number],
              dot: -1.23456789,
              tensorNorm: [tensors.map(() => 9.87654321), tensors.map(() => 8.7654321)] as [number[], number[]],
              tensorDot: tensors.map(() => -0.123456789),
            })),
          })),
        }),
      ).length;
    expect(resultBytesBound(8, tensors)).toBeGreaterThanOrEqual(real(0));
    expect(resultBytesBound(8, tensors, 2)).toBeGreaterThanOrEqual(real(2));
    // Statistics in metrics make a result larger, and the bound says so.
    expect(resultBytesBound(8, tensors, 2)).toBeGreaterThan(resultBytesBound(8, tensors));
  });

  it("passes what fits, refuses a task or a result that cannot fit, naming pairs.per_task", () => {
    expect(() => checkPayloads(1024 * 1024, task(8, 32), ["a", "b"], 8)).not.toThrow();
    const tooManyIndices = () => checkPayloads(1024 * 1024, task(64, 4096), ["a"], 64);
    expect(tooManyIndices).toThrow(RunFailure);
    expect(tooManyIndices).toThrow(/a task of 64 pairs is \d+ bytes; lower pairs.per_task to at most \d+/);
    const manyTensors = Array.from({ length: 4000 }, (_, t) => `dense_${t}/kernel`);
    expect(() => checkPayloads(1024 * 1024, task(2, 8), manyTensors, 256)).toThrow(/a result for 256 pairs over 4000 weight tensors/);
    // Statistics in each metric repeat the per-tensor arrays: what fits alone may not fit with them.
    const tensors = Array.from({ length: 200 }, (_, l) => `dense_${l >> 1}/${l % 2 === 0 ? "kernel" : "bias"}`);
    expect(() => checkPayloads(1024 * 1024, task(2, 8), tensors, 64)).not.toThrow();
    expect(() => checkPayloads(1024 * 1024, task(2, 8), tensors, 64, 8)).toThrow(/a result for 64 pairs over 200 weight tensors .*lower pairs.per_task to at most \d+/);
  });
});
