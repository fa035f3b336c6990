// Sends a pair's two gradients to the coordinator as task.chunk messages under the
// server's max_payload: one slice of one weight tensor each, g1 and g2 side by side so the
// coordinator can reduce each chunk as it arrives. A few chunks are in flight at a time;
// NATS keeps one connection's messages in order, which the coordinator relies on.

import type { NatsConnection } from "@nats-io/transport-node";
import { createMessage, decodeAck, encodeMessage, float32Bytes, MAX_CHUNK_BYTES } from "../protocol/index.js";
import type { GradientLayout } from "./compute-messages.js";

/** Bytes kept free in each chunk message for the envelope (ids, numbers, msgpack headers). */
const ENVELOPE_BYTES = 1024;
const IN_FLIGHT = 4;
const ACK_TIMEOUT_MS = 30_000;

export class ChunkRefused extends Error {
  override name = "ChunkRefused";
}

export interface ChunkTarget {
  nc: NatsConnection;
  subject: string;
  runId: string;
  taskId: string;
  leaseId: string;
  workerId: string;
}

/** Values of g1 (and of g2) per chunk, for a server's max_payload. */
export function floatsPerChunk(maxPayload: number): number {
  return Math.max(1, Math.floor(Math.min(maxPayload - ENVELOPE_BYTES, 2 * MAX_CHUNK_BYTES) / 8));
}

export async function sendPairVectors(target: ChunkTarget, pair: number, g1: Float32Array[], g2: Float32Array[], layout: GradientLayout): Promise<{ chunks: number; bytes: number }> {
  const per = floatsPerChunk(target.nc.info?.max_payload ?? 1024 * 1024);
  const inFlight = new Set<Promise<void>>();
  const tensorOffset = layout.tensors.map(() => 0);
  let chunks = 0;
  let bytes = 0;
  let refused: Error | null = null;
  for (let w = 0; w < g1.length; w++) {
    const tensor = layout.weightTensor[w]!;
    const a = g1[w]!;
    const b = g2[w]!;
    for (let start = 0; start < a.length; start += per) {
      if (refused) throw refused;
      const end = Math.min(a.length, start + per);
      const msg = createMessage("task.chunk", {
        runId: target.runId,
        taskId: target.taskId,
        leaseId: target.leaseId,
        workerId: target.workerId,
        pair,
        tensor,
        offset: tensorOffset[tensor]! + start,
        g1: float32Bytes(a.subarray(start, end)),
        g2: float32Bytes(b.subarray(start, end)),
      });
      const sent = target.nc.request(target.subject, encodeMessage(msg), { timeout: ACK_TIMEOUT_MS }).then((reply) => {
        const ack = decodeAck(reply.data);
        if (!ack.accepted) refused ??= new ChunkRefused(`chunk of pair ${pair} refused: ${ack.reason ?? "no reason"}`);
      });
      const tracked: Promise<void> = sent.catch((err: unknown) => {
        refused ??= err as Error;
      });
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
      chunks++;
      bytes += 8 * (end - start);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    tensorOffset[tensor]! += a.length;
  }
  await Promise.all(inFlight);
  if (refused) throw refused;
  return { chunks, bytes };
}
