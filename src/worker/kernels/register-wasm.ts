// The kernels gradswarm registers on tfjs-backend-wasm, all of them, before the backend
// first starts (the wrapped kernels' setup functions run then).

import type * as TF from "@tensorflow/tfjs";
import { batchMatMul } from "./batch-mat-mul.js";
import { conv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { conv2DBackpropInput } from "./conv2d-backprop-input.js";
import { depthwiseBackpropFilter, depthwiseBackpropInput } from "./depthwise-backprop.js";
import { fusedMatMul } from "./fused-mat-mul.js";
import { registerKernels, type KernelOfOurs } from "./register.js";

/** BatchMatMul, _FusedMatMul (a scalar loop on transposed operands), Conv2DBackpropFilter (missing), Conv2DBackpropInput (a scalar loop), the depthwise backprops (missing). */
export const WASM_KERNELS: readonly KernelOfOurs[] = [batchMatMul, fusedMatMul, conv2DBackpropFilter, conv2DBackpropInput, depthwiseBackpropInput, depthwiseBackpropFilter];

/** Registers WASM_KERNELS (tfjs-backend-wasm imported); returns those registered now. */
export function registerWasmKernels(tf: typeof TF): KernelOfOurs[] {
  return registerKernels(tf, "wasm", WASM_KERNELS);
}
