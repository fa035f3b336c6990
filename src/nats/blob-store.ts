// Content-addressed blobs (θ snapshots, datasets) in a JetStream object store: the name
// of a blob is the sha256 of its bytes, so a put is skipped when the blob is there, and a
// get is checked against its name.

import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { sha256Hex } from "../model/snapshot.js";

// The object store's own digest check runs ~60 MB/s in pure JS, ~500 MB/s native
// (docs/design.md "Measured facts").
setSha256Backend("native");

export class BlobError extends Error {
  override name = "BlobError";
  constructor(
    /** "blob_missing", "blob_hash_mismatch" or "blob_store_unavailable": what a worker reports. */
    readonly code: "blob_missing" | "blob_hash_mismatch" | "blob_store_unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * How long a blob read may go without a byte before it is given up as stalled. A healthy
 * read streams chunks back to back; the object store's own reader notices a consumer lost
 * with its server only through missed 30 s idle heartbeats (a 30–60 s stall, measured: see
 * docs/design.md, "Leases and liveness"), and all that time the worker's heartbeats would keep
 * a task alive that makes no progress.
 */
export const BLOB_STALL_MS = 10_000;

export interface BlobGetOptions {
  /** No data for this long: the read is abandoned with blob_store_unavailable (default BLOB_STALL_MS). */
  stallMs?: number;
  /** Called with the bytes read so far, after each chunk. */
  onProgress?: (bytes: number, total: number) => void;
}

export class BlobStore {
  private constructor(
    private readonly store: ObjectStore,
    private readonly maxPayload: number,
  ) {}

  /**
   * Opens the bucket, creating it if `create` (the coordinator) and it is missing, with
   * `replicas` copies in a JetStream cluster.
   */
  static async open(nc: NatsConnection, bucket: string, create: boolean, replicas = 1): Promise<BlobStore> {
    const objm = new Objm(nc);
    try {
      return new BlobStore(create ? await objm.create(bucket, { replicas }) : await objm.open(bucket), nc.info?.max_payload ?? 1024 * 1024);
    } catch (err) {
      throw new BlobError("blob_store_unavailable", `object store bucket ${bucket} cannot be ${create ? "created" : "opened"} (is JetStream enabled on the server?): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stores `bytes` under their hash unless a blob of that name and size is there already. */
  async put(bytes: Uint8Array, description: string, knownHash?: string): Promise<{ hash: string; uploaded: boolean }> {
    const hash = knownHash ?? sha256Hex(bytes);
    const info = await this.store.info(hash);
    if (info && !info.deleted && info.size === bytes.length) return { hash, uploaded: false };
    // Chunks as large as the server takes: each is an acknowledged publish, so the default
    // 128 KB chunks made a large θ latency-bound (~500 MB/s with 1 MB chunks: docs/design.md
    // "Measured facts").
    await this.store.putBlob({ name: hash, description, options: { max_chunk_size: this.maxPayload } }, bytes);
    return { hash, uploaded: true };
  }

  /**
   * The blob named `hash`, checked: the object store verifies the bytes against the
   * digest recorded with them while it streams them, and the digest must be `hash`. So
   * the content is hashed once, not twice, and lands in one buffer of the right size
   * (a SharedArrayBuffer).
   */
  async get(hash: string, options: BlobGetOptions = {}): Promise<Uint8Array> {
    try {
      return await this.fetch(hash, options);
    } catch (err) {
      if (err instanceof BlobError) throw err;
      // A timeout or a lost connection (a restart, a cluster electing a new leader).
      throw new BlobError("blob_store_unavailable", `blob ${hash} could not be fetched: ${(err as Error).message}`, { cause: err });
    }
  }

  private async fetch(hash: string, options: BlobGetOptions): Promise<Uint8Array> {
    const stallMs = options.stallMs ?? BLOB_STALL_MS;
    const r = await this.store.get(hash);
    if (!r) throw new BlobError("blob_missing", `blob ${hash} is not in the object store`);
    // Read below; a read abandoned as stalled must not leave its rejection unhandled.
    r.error.catch(() => undefined);
    const recorded = digestHex(r.info.digest);
    if (recorded !== hash) throw new BlobError("blob_hash_mismatch", `blob ${hash} holds content with sha256 ${recorded ?? r.info.digest}: refusing a content mismatch`);
    // Shared memory: a worker hands these bytes to its compute threads as a view, not a
    // copy, so a model or dataset is held once per worker process however many threads.
    const out = new Uint8Array(new SharedArrayBuffer(r.info.size));
    let at = 0;
    const reader = r.data.getReader();
    for (;;) {
      const { done, value } = await readWithin(reader, stallMs, () => `blob ${hash}: no data for ${stallMs} ms after ${at} of ${out.length} bytes (its server may be gone)`);
      if (done) break;
      if (at + value.length > out.length) throw new BlobError("blob_hash_mismatch", `blob ${hash} is longer than its recorded ${out.length} bytes`);
      out.set(value, at);
      at += value.length;
      options.onProgress?.(at, out.length);
    }
    const err = await r.error;
    if (err) throw new BlobError("blob_hash_mismatch", `blob ${hash}: ${err.message}`, { cause: err });
    if (at !== out.length) throw new BlobError("blob_hash_mismatch", `blob ${hash} has ${at} of its recorded ${out.length} bytes`);
    return out;
  }
}

/** The next chunk, or a blob_store_unavailable error (and the read cancelled) if none comes within `ms`. */
async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number, stalled: () => string): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Rejected before the cancel, which ends the pending read as if the blob were complete.
      reject(new BlobError("blob_store_unavailable", stalled()));
      reader.cancel().catch(() => undefined);
    }, ms);
  });
  try {
    return await Promise.race([reader.read(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** "SHA-256=<base64url>" (the object store's digest) as lower-case hex, or null. */
function digestHex(digest: string): string | null {
  const m = /^SHA-256=([A-Za-z0-9_-]+=*)$/i.exec(digest);
  if (!m) return null;
  const bytes = Buffer.from(m[1]!, "base64url");
  return bytes.length === 32 ? bytes.toString("hex") : null;
}
