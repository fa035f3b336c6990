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
  private readonly entries = new Map<object, { shape: string; derived: Info }>();
  private backend: WasmLike | null = null;

  /** The tensor `make` derives from `filter`, made now or kept from before. Never dispose it. */
  get(backend: WasmLike, filter: Info, make: () => Info): Info {
    if (backend !== this.backend) {
      this.entries.clear(); // a new backend instance: the old one's data went with it
      this.backend = backend;
    }
    for (const [source, e] of this.entries) {
      if (!backend.dataIdMap.has(source)) {
        backend.disposeData(e.derived.dataId);
        this.entries.delete(source);
      }
    }
    const shape = filter.shape.join();
    const hit = this.entries.get(filter.dataId);
    if (hit && hit.shape === shape) return hit.derived;
    if (hit) backend.disposeData(hit.derived.dataId);
    const derived = make();
    this.entries.set(filter.dataId, { shape, derived });
    return derived;
  }

  /** Entries held now (tests). */
  get size(): number {
    return this.entries.size;
  }
}
