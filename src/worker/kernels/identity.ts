// Identity on tfjs-backend-wasm without a copy. tfjs-core clones every tensor it saves for
// the backward pass through the Identity kernel, and wasm's (4.22) copies the data, where
// the cpu backend's takes a reference: on ResNet-18-CIFAR at B=32 that was 230 copies per
// gradient (bench/README.md, "ResNet-18"), and a fresh copy of every conv kernel per
// gradient, so nothing derived from a kernel could be kept between gradients at one θ
// (filter-cache.ts). Tensors never change their data, so sharing it is safe: the same
// reference count wasm's own Reshape keeps (incRef, and disposeData frees at zero).

import type { KernelOfOurs } from "./register.js";
import type { Info, KernelArgs } from "./raw-kernel.js";

interface RefCounting {
  incRef(dataId: object): void;
}

/** Identity (wasm): the input's data, one more reference to it. */
export const identityShared: KernelOfOurs = {
  kernelName: "Identity",
  purpose: "shares the data (one more reference) instead of copying it",
  wrapsOriginal: true,
  make: (_tf, _on, original) => (args: KernelArgs): Info | Info[] => {
    const { x } = args.inputs as { x: Info };
    if (x.dtype === "string") return original!(args); // strings live in JS, not the heap
    (args.backend as RefCounting).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};
