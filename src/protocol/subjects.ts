// Every NATS subject and object-store bucket name comes from here, under a configurable
// prefix, so that several runs and users share one cluster without crosstalk.

import { ProtocolError } from "./errors.js";

export const DEFAULT_PREFIX = "gradswarm";
export const MAX_PREFIX_LENGTH = 128;

const MAX_BUCKET_LENGTH = 240;

const TOKEN = /^[A-Za-z0-9_-]+$/;

export interface Subjects {
  /** Request/reply: a worker pulls a task (task.pull → task | task.none). */
  pull: string;
  /** Request/reply: a worker returns a task.result (→ ack). */
  result: string;
  /** Request/reply: a worker sends a task.chunk of gradient vectors (→ ack). */
  chunk: string;
  /** Request/reply: a worker reports a task.error (→ ack). */
  error: string;
  /** Workers publish worker.heartbeat every second. */
  heartbeat: string;
  /** Workers publish worker.announce on start. */
  announce: string;
  /** Request (worker.list) that every worker answers with its announce. */
  list: string;
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
    pull: `${prefix}.task.pull`,
    result: `${prefix}.task.result`,
    chunk: `${prefix}.task.chunk`,
    error: `${prefix}.task.error`,
    heartbeat: `${prefix}.worker.heartbeat`,
    announce: `${prefix}.worker.announce`,
    list: `${prefix}.worker.list`,
  };
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
