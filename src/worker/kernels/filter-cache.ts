// Tensors derived from a convolution's filter (flipped, transposed), kept as long as the
// filter's data lives on the wasm backend. In a gradient the filter is the layer's kernel
// variable, the same data for every minibatch at one θ, so the derived filter is made once
// per θ instead of once per gradient; and because tfjs-backend-wasm keeps the XNNPACK
// operator of a convolution (with its packed weights) per filter tensor, keeping the
// derived filter keeps that operator too.
//
// tfjs tensors never change their data under the same dataId (an assigned variable gets
// new data), so (dataId, shape) identifies the values. An entry whose filter data is gone
// (disposed, or θ replaced) is released at the next lookup.

import type * as TF from "@tensorflow/tfjs";
import type { BackendLike, Info } from "./raw-kernel.js";

/** What of tfjs-backend-wasm's BackendWasm the wasm paths of our kernels use. */
export interface WasmLike extends BackendLike {
  dataIdMap: { has(dataId: object): boolean };
  makeOutput(shape: number[], dtype: TF.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array | Int32Array | Uint8Array;
}

export class FilterCache {
  /** Per filter data: its shape and, per variant ("flipped", "phases 2×2"), the tensors made from it. */
  private readonly entries = new Map<object, { shape: string; derived: Map<string, Info[]> }>();
  private backend: WasmLike | null = null;

  /** The tensors `make` derives from `filter`, made now or kept from before. Never dispose them. */
  get(backend: WasmLike, filter: Info, variant: string, make: () => Info[]): Info[] {
    if (backend !== this.backend) {
      this.entries.clear(); // a new backend instance: the old one's data went with it
      this.backend = backend;
    }
    for (const [source, e] of this.entries) {
      if (!backend.dataIdMap.has(source)) {
        release(backend, e.derived);
        this.entries.delete(source);
      }
    }
    const shape = filter.shape.join();
    let entry = this.entries.get(filter.dataId);
    if (entry && entry.shape !== shape) {
      release(backend, entry.derived);
      entry = undefined;
    }
    if (!entry) {
      entry = { shape, derived: new Map() };
      this.entries.set(filter.dataId, entry);
    }
    let derived = entry.derived.get(variant);
    if (!derived) {
      derived = make();
      entry.derived.set(variant, derived);
    }
    return derived;
  }

  /** Filters with kept tensors now (tests). */
  get size(): number {
    return this.entries.size;
  }
}

function release(backend: WasmLike, derived: Map<string, Info[]>): void {
  for (const list of derived.values()) for (const t of list) backend.disposeData(t.dataId);
}
