// How our kernels get onto a backend: tfjs-core's registerKernel, with a kernelName and a
// backendName, as each tfjs backend package registers its own (its register_all_kernels).
// Which kernel goes on which backend is written in one table per backend:
// register-wasm.ts and register-webgpu.ts.

import type * as TF from "@tensorflow/tfjs";
import type { RawKernelFunc } from "./raw-kernel.js";

/** One kernel of gradswarm's, to be registered on a backend. */
export interface KernelOfOurs {
  kernelName: string;
  /** What it is for, in words (the worker's log lists it). */
  purpose: string;
  /**
   * Whether it wraps the kernel the backend registered under the same name (handing it the
   * cases it does well; that kernel's setup and dispose functions are kept) rather than
   * replacing it, or filling the gap where there is none, with one built from others.
   */
  wrapsOriginal: boolean;
  /** The kernel function for `backendName`; `original` is the backend's own, if it has one. */
  make(tf: typeof TF, backendName: string, original: RawKernelFunc | null): RawKernelFunc;
}

/** Marks kernel functions registered here, so that registering again changes nothing. */
const GRADSWARM_KERNEL = Symbol.for("gradswarm.kernel");

function isOurs(config: TF.KernelConfig | undefined): boolean {
  return !!config && (config.kernelFunc as { [GRADSWARM_KERNEL]?: boolean })[GRADSWARM_KERNEL] === true;
}

/**
 * Registers `kernels` on `backendName` (whose package must be imported). Idempotent;
 * returns the kernels registered by this call.
 */
export function registerKernels(tf: typeof TF, backendName: string, kernels: readonly KernelOfOurs[]): KernelOfOurs[] {
  const done: KernelOfOurs[] = [];
  for (const k of kernels) {
    const config = tf.getKernel(k.kernelName, backendName);
    if (isOurs(config)) continue;
    if (k.wrapsOriginal && !config) throw new Error(`the ${backendName} backend has no ${k.kernelName} kernel to wrap`);
    const original = config ? (config.kernelFunc as unknown as RawKernelFunc) : null;
    const kernelFunc = k.make(tf, backendName, original);
    Object.defineProperty(kernelFunc, GRADSWARM_KERNEL, { value: true });
    if (config) tf.unregisterKernel(k.kernelName, backendName);
    const base = k.wrapsOriginal && config ? config : { kernelName: k.kernelName, backendName };
    tf.registerKernel({ ...base, kernelFunc: kernelFunc as unknown as TF.KernelFunc });
    done.push(k);
  }
  return done;
}
