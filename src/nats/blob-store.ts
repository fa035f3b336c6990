// Content-addressed blobs (θ snapshots, datasets) in a JetStream object store: the name
// of a blob is the sha256 of its bytes, so a put is skipped when the blob is there, and a
// get is checked against its name.

import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { sha256Hex } from "../model/snapshot.js";

// The object store's own digest check runs ~60 MB/s in pure JS, ~500 MB/s native (FACTS.md).
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
  private constructor(private readonly store: ObjectStore) {}

  /**
   * Opens the bucket, creating it if `create` (the coordinator) and it is missing, with
   * `replicas` copies in a JetStream cluster.
   */
  static async open(nc: NatsConnection, bucket: string, create: boolean, replicas = 1): Promise<BlobStore> {
    const objm = new Objm(nc);
    try {
      return new BlobStore(create ? await objm.create(bucket, { replicas }) : await objm.open(bucket));
    } catch (err) {
      throw new BlobError("blob_store_unavailable", `object store bucket ${bucket} cannot be ${create ? "created" : "opened"} (is JetStream enabled on the server?): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stores `bytes` under their hash unless a blob of that name and size is there already. */
  async put(bytes: Uint8Array, description: string, knownHash?: string): Promise<{ hash: string; uploaded: boolean }> {
    const hash = knownHash ?? sha256Hex(bytes);
    const info = await this.store.info(hash);
    if (info && !info.deleted && info.size === bytes.length) return { hash, uploaded: false };
    await this.store.putBlob({ name: hash, description }, bytes);
    return { hash, uploaded: true };
  }

  async get(hash: string): Promise<Uint8Array> {
    const bytes = await this.store.getBlob(hash);
    if (!bytes) throw new BlobError("blob_missing", `blob ${hash} is not in the object store`);
    const actual = sha256Hex(bytes);
    if (actual !== hash) throw new BlobError("blob_hash_mismatch", `blob ${hash} has sha256 ${actual}: refusing a content mismatch`);
    return bytes;
  }
}
