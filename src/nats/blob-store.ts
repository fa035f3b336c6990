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
  async get(hash: string): Promise<Uint8Array> {
    try {
      return await this.fetch(hash);
    } catch (err) {
      if (err instanceof BlobError) throw err;
      // A timeout or a lost connection (a restart, a cluster electing a new leader).
      throw new BlobError("blob_store_unavailable", `blob ${hash} could not be fetched: ${(err as Error).message}`, { cause: err });
    }
  }

  private async fetch(hash: string): Promise<Uint8Array> {
    const r = await this.store.get(hash);
    if (!r) throw new BlobError("blob_missing", `blob ${hash} is not in the object store`);
    const recorded = digestHex(r.info.digest);
    if (recorded !== hash) throw new BlobError("blob_hash_mismatch", `blob ${hash} holds content with sha256 ${recorded ?? r.info.digest}: refusing a content mismatch`);
    // Shared memory: a worker hands these bytes to its compute threads as a view, not a
    // copy, so a model or dataset is held once per worker process however many threads.
    const out = new Uint8Array(new SharedArrayBuffer(r.info.size));
    let at = 0;
    const reader = r.data.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > out.length) throw new BlobError("blob_hash_mismatch", `blob ${hash} is longer than its recorded ${out.length} bytes`);
      out.set(value, at);
      at += value.length;
    }
    const err = await r.error;
    if (err) throw new BlobError("blob_hash_mismatch", `blob ${hash}: ${err.message}`, { cause: err });
    if (at !== out.length) throw new BlobError("blob_hash_mismatch", `blob ${hash} has ${at} of its recorded ${out.length} bytes`);
    return out;
  }
}

/** "SHA-256=<base64url>" (the object store's digest) as lower-case hex, or null. */
function digestHex(digest: string): string | null {
  const m = /^SHA-256=([A-Za-z0-9_-]+=*)$/i.exec(digest);
  if (!m) return null;
  const bytes = Buffer.from(m[1]!, "base64url");
  return bytes.length === 32 ? bytes.toString("hex") : null;
}
