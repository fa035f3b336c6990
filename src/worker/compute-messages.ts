// Messages between a worker's NATS thread and its compute thread (structured clone over
// a MessagePort, never on the wire). The compute thread holds TensorFlow.js; the main
// thread keeps heartbeats and NATS pings flowing while a step runs for seconds.

import type { CurvatureItem, LabelMode, PairStats } from "../protocol/index.js";
import type { BackendChoice, BackendInfo, BackendOptions } from "./backend.js";
import type { PairInput } from "./gradients.js";

/** Grouped minibatch gradients: "auto" uses them on a GPU backend, where they pay. */
export const GROUP_CHOICES = ["auto", "on", "off"] as const;
export type GroupChoice = (typeof GROUP_CHOICES)[number];

/**
 * A blob (θ, the dataset, a vector) as it crosses to the compute thread: by hash, with its
 * bytes only the first time. (Not the protocol's BlobRef, which names a blob on the wire.)
 */
export interface ThreadBlob {
  hash: string;
  /** Present only when the compute thread does not hold this blob yet. */
  bytes?: Uint8Array;
}

/** What a task asks of the compute thread; vector blobs (metrics, directions) by reference. */
export type Job =
  | { type: "pairs"; pairs: PairInput[]; vectors: boolean; labels: LabelMode; labelSeed: number; metrics: ThreadBlob[] }
  | { type: "loss"; points: { id: number; alpha: number; beta: number }[]; directions: ThreadBlob[]; indices: number[] }
  | { type: "curvature"; items: { id: number; indices: number[] }[]; maxIterations: number; tolerance: number; probes: number; step: number; seed: number };

export type JobResult =
  | { type: "pairs"; layout: GradientLayout; pairs: PairStats[] }
  | { type: "loss"; points: { id: number; loss: number; accuracy: number }[] }
  | { type: "curvature"; items: CurvatureItem[] };

export type ToCompute =
  /** The backend to select and how to set it up: the worker's options, nothing from the environment. */
  | { kind: "init"; backend: BackendChoice; group: GroupChoice; options: BackendOptions }
  | { kind: "task"; id: number; snapshot: ThreadBlob; dataset: ThreadBlob & { name: string }; job: Job }
  /** After a "vectors" message: go on with the next pair, or stop the task. */
  | { kind: "continue"; id: number; abort: boolean };

export type FromCompute =
  | { kind: "ready"; info: BackendInfo; grouping: boolean }
  | { kind: "init-failed"; message: string }
  | { kind: "result"; id: number; result: JobResult; computeMs: number }
  /** Both gradients of one pair (vectors tasks); the thread waits for "continue". */
  | { kind: "vectors"; id: number; pair: number; g1: Float32Array[]; g2: Float32Array[]; layout: GradientLayout }
  | { kind: "task-failed"; id: number; code: ComputeFailure; message: string };

export type ComputeFailure = "blob_missing" | "bad_snapshot" | "bad_dataset" | "bad_vector" | "model_mismatch" | "compute_failed" | "aborted";

/** How the trainable weights map onto the reported tensors: what task.result and task.chunk describe. */
export interface GradientLayout {
  tensors: string[];
  tensorSizes: number[];
  /** The index in `tensors` of each trainable weight, in gradient order. */
  weightTensor: number[];
}
