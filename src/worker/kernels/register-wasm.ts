// The kernels gradswarm registers on tfjs-backend-wasm, all of them, before the backend
// first starts (the wrapped kernels' setup functions run then).

import type * as TF from "@tensorflow/tfjs";
import { batchMatMul } from "./batch-mat-mul.js";
import { conv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { conv2DBackpropInput } from "./conv2d-backprop-input.js";
import { depthwiseBackpropFilter, depthwiseBackpropInput } from "./depthwise-backprop.js";
import { fusedMatMul } from "./fused-mat-mul.js";
import { identityShared } from "./identity.js";
import { maxPoolGrad } from "./max-pool-grad.js";
import { registerKernels, type KernelOfOurs } from "./register.js";
import { sumLeading } from "./sum-leading.js";

/**
 * BatchMatMul, _FusedMatMul (a scalar loop on transposed operands), Conv2DBackpropFilter
 * (missing), Conv2DBackpropInput (a scalar loop), Identity (a copy), the two depthwise conv
 * gradients (missing), MaxPoolGrad (wrong where windows do not tile the input), Sum over
 * leading axes (a transpose first).
 */
export const WASM_KERNELS: readonly KernelOfOurs[] = [batchMatMul, fusedMatMul, conv2DBackpropFilter, conv2DBackpropInput, identityShared, depthwiseBackpropInput, depthwiseBackpropFilter, maxPoolGrad, sumLeading];

/** Registers WASM_KERNELS (tfjs-backend-wasm imported); returns those registered now. */
export function registerWasmKernels(tf: typeof TF): KernelOfOurs[] {
  return registerKernels(tf, "wasm", WASM_KERNELS);
}
