// AddN on tfjs-backend-webgpu, in chunks. The stock kernel binds every input as a storage
// buffer of one shader. Past the device's per-stage limit (8 by default, 16 at most on
// Dawn: docs/design.md "Measured facts") the pipeline fails validation and the kernel returns zeros, with a console message
// and no exception. This one sums at most (limit − 1) inputs per shader, then sums the
// partial sums the same way, so any number of tensors adds up right.

import type { KernelOfOurs } from "./register.js";
import type { Info, KernelArgs, RawKernelFunc } from "./raw-kernel.js";

interface WebgpuBackendLike {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Inputs one AddN shader may take: one storage buffer goes to the output. */
export function addNInputsPerShader(backend: WebgpuBackendLike): number {
  return Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
}

function chunked(original: RawKernelFunc): RawKernelFunc {
  const kernel = ({ inputs, backend, attrs }: KernelArgs): Info => {
    const all = inputs as Info[];
    const max = addNInputsPerShader(backend as WebgpuBackendLike);
    if (all.length <= max) return original({ inputs: all, backend, attrs }) as Info;
    const partial: Info[] = [];
    for (let i = 0; i < all.length; i += max) {
      const part = all.slice(i, i + max);
      // A lone last input needs no shader; it is summed in the next round as it is.
      partial.push(part.length === 1 ? part[0]! : (original({ inputs: part, backend, attrs }) as Info));
    }
    const out = kernel({ inputs: partial, backend, attrs });
    for (const p of partial) if (!all.includes(p)) (backend as WebgpuBackendLike).disposeData(p.dataId);
    return out;
  };
  return kernel;
}

/** AddN (webgpu): chunks of inputs a shader can bind. */
export const addN: KernelOfOurs = {
  kernelName: "AddN",
  purpose: "in chunks a shader can bind",
  wrapsOriginal: true,
  make: (_tf, _on, original) => chunked(original!),
};
