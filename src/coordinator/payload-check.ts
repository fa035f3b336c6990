// A task or a result larger than the server's max_payload would be refused by the
// client at send time: the lease would expire over and over and the run would never
// end. So the largest of each is measured before dispatch, and a run whose messages
// cannot fit stops at once, saying what to change.

import { createMessage, encodeMessage, type TaskMessage } from "../protocol/index.js";
import { RunFailure } from "./run-failure.js";

/** The largest task.result a task of `pairs` pairs over the weight tensors `tensors` can produce. */
export function resultBytesBound(pairs: number, tensors: readonly string[], metrics = 0): number {
  // 0.1 encodes as a float64 (9 bytes), as real statistics do.
  const values = tensors.map(() => 0.1);
  const msg = createMessage("task.result", {
    runId: "r".repeat(36),
    taskId: "t".repeat(16),
    leaseId: "l".repeat(24),
    workerId: "w".repeat(64),
    computeMs: 123456.5,
    tensors: [...tensors],
    tensorSizes: tensors.map(() => Number.MAX_SAFE_INTEGER),
    pairs: Array.from({ length: pairs }, (_, id) => ({
      id: id + 1_000_000_000,
      loss: [0.1, 0.1] as [number, number],
      norm: [0.1, 0.1] as [number, number],
      dot: 0.1,
      tensorNorm: [values, values] as [number[], number[]],
      tensorDot: values,
      metrics: Array.from({ length: metrics }, () => ({ norm: [0.1, 0.1] as [number, number], dot: 0.1, tensorNorm: [values, values] as [number[], number[]], tensorDot: values })),
    })),
  });
  return encodeMessage(msg).length;
}

export function checkPayloads(maxPayload: number, largestTask: TaskMessage, tensors: readonly string[], perTask: number, metrics = 0): void {
  const problems: string[] = [];
  const taskBytes = encodeMessage(largestTask).length;
  if (taskBytes > maxPayload) {
    const perPair = taskBytes / largestTask.pairs.length;
    problems.push(`a task of ${largestTask.pairs.length} pairs is ${taskBytes} bytes; lower pairs.per_task to at most ${Math.max(1, Math.floor((maxPayload * 0.9) / perPair))}`);
  }
  const resultBytes = resultBytesBound(perTask, tensors, metrics);
  if (resultBytes > maxPayload) {
    const perPair = resultBytes / perTask;
    problems.push(`a result for ${perTask} pairs over ${tensors.length} weight tensors can reach ${resultBytes} bytes; lower pairs.per_task to at most ${Math.max(1, Math.floor((maxPayload * 0.9) / perPair))}`);
  }
  if (problems.length > 0) {
    throw new RunFailure(`messages would not fit the NATS server's max_payload of ${maxPayload} bytes: ${problems.join("; ")} (or raise max_payload on the server)`);
  }
}
