// Every NATS subject and object-store bucket name comes from here, under a configurable
// prefix, so that several runs and users share one cluster without crosstalk.

import { ProtocolError } from "./errors.js";

export const DEFAULT_PREFIX = "gradswarm";
export const MAX_PREFIX_LENGTH = 128;
/** A run id is one subject token of at most this many characters. */
export const MAX_RUN_ID_LENGTH = 128;

const MAX_BUCKET_LENGTH = 240;

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** The subjects of a prefix that every coordinator and worker on it shares. */
export interface Subjects {
  /** Workers publish worker.heartbeat every second. */
  heartbeat: string;
  /** Workers publish worker.announce on start. */
  announce: string;
  /** Request (worker.list) that every worker answers with its announce. */
  list: string;
  /** Coordinators publish run.announce at start and every second while their run lasts. */
  runAnnounce: string;
  /** A coordinator publishes run.end when its run finishes, fails or is interrupted. */
  runEnd: string;
  /** Request (run.list) that every coordinator answers with its run.announce. */
  runList: string;
}

/**
 * The task subjects of one run, `<prefix>.run.<runId>.task.*`: each coordinator listens
 * only to its own, so that several runs share a prefix and its workers (docs/design.md
 * "Runs that share a swarm").
 */
export interface RunSubjects {
  /** Request/reply: a worker pulls a task (task.pull → task | task.none). */
  pull: string;
  /** Request/reply: a worker returns a task.result (→ ack). */
  result: string;
  /** Request/reply: a worker sends a task.chunk of gradient vectors (→ ack). */
  chunk: string;
  /** Request/reply: a worker reports a task.error (→ ack). */
  error: string;
}

/**
 * Checks a subject prefix: dot-separated tokens of [A-Za-z0-9_-], so no wildcards (`*`,
 * `>`), no whitespace and no empty tokens, at most 128 characters. Returns it.
 */
export function validatePrefix(prefix: string): string {
  if (typeof prefix !== "string") throw new ProtocolError("prefix", `expected a string, got ${typeof prefix}`);
  if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
    throw new ProtocolError("prefix", `must be 1 to ${MAX_PREFIX_LENGTH} characters, got ${prefix.length}`);
  }
  for (const token of prefix.split(".")) {
    if (!TOKEN.test(token)) {
      throw new ProtocolError("prefix", `${JSON.stringify(prefix)} must be dot-separated tokens of letters, digits, "_" and "-" (no wildcards, no empty tokens)`);
    }
  }
  return prefix;
}

export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  validatePrefix(prefix);
  return {
    heartbeat: `${prefix}.worker.heartbeat`,
    announce: `${prefix}.worker.announce`,
    list: `${prefix}.worker.list`,
    runAnnounce: `${prefix}.run.announce`,
    runEnd: `${prefix}.run.end`,
    runList: `${prefix}.run.list`,
  };
}

/**
 * Checks a run id as one subject token: [A-Za-z0-9_-], 1 to 128 characters (a UUID, as
 * the coordinator draws them, is one). Returns it.
 */
export function validateRunId(runId: string): string {
  if (typeof runId !== "string") throw new ProtocolError("runId", `expected a string, got ${typeof runId}`);
  if (runId.length === 0 || runId.length > MAX_RUN_ID_LENGTH || !TOKEN.test(runId)) {
    throw new ProtocolError("runId", `${JSON.stringify(runId.slice(0, 160))} must be 1 to ${MAX_RUN_ID_LENGTH} letters, digits, "_" and "-" (one subject token)`);
  }
  return runId;
}

/** The task subjects of run `runId` under `prefix`: `<prefix>.run.<runId>.task.pull` and so on. */
export function runSubjects(prefix: string, runId: string): RunSubjects {
  validatePrefix(prefix);
  validateRunId(runId);
  const base = `${prefix}.run.${runId}.task`;
  return { pull: `${base}.pull`, result: `${base}.result`, chunk: `${base}.chunk`, error: `${base}.error` };
}

/**
 * The JetStream object-store bucket for a prefix's blobs. Bucket names allow only
 * [A-Za-z0-9_-], so "." becomes "_"; "_" and "-" in the prefix are escaped ("-_", "--")
 * so that distinct prefixes never share a bucket ("a.b" → "a_b_blobs", "a_b" →
 * "a-_b_blobs"). "gradswarm.alice" → "gradswarm_alice_blobs".
 */
export function objectBucket(prefix: string = DEFAULT_PREFIX): string {
  validatePrefix(prefix);
  let out = "";
  for (const ch of prefix) {
    out += ch === "." ? "_" : ch === "_" ? "-_" : ch === "-" ? "--" : ch;
  }
  const bucket = `${out}_blobs`;
  // The server keeps a stream per bucket ("OBJ_" + name) in a directory of that name.
  if (bucket.length > MAX_BUCKET_LENGTH) {
    throw new ProtocolError("prefix", `gives a bucket name of ${bucket.length} characters once escaped, over the limit of ${MAX_BUCKET_LENGTH}`);
  }
  return bucket;
}
