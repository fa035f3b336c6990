// Blobs a worker fetched, by hash, most recent last; a run needs one θ and one dataset,
// so a few entries cover switching between runs. Concurrent gets of one hash share a fetch.

export class BlobCache {
  private readonly entries = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly capacity: number) {}

  get(hash: string, fetch: () => Promise<Uint8Array>): Promise<Uint8Array> {
    let entry = this.entries.get(hash);
    if (entry) {
      this.entries.delete(hash);
    } else {
      entry = fetch();
      // A failed fetch is not cached: the next task tries again.
      entry.catch(() => this.entries.get(hash) === entry && this.entries.delete(hash));
    }
    this.entries.set(hash, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }
}
