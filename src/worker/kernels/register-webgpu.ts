// The kernels gradswarm registers on tfjs-backend-webgpu, once the backend is set up.

import type * as TF from "@tensorflow/tfjs";
import { addN } from "./add-n.js";
import { conv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { conv2DBackpropInput } from "./conv2d-backprop-input.js";
import type { ConvGradChoice } from "../backend.js";
import { registerKernels, type KernelOfOurs } from "./register.js";

/** Always: the stock AddN returns zeros past the shader's binding limit. */
export const WEBGPU_KERNELS: readonly KernelOfOurs[] = [addN];

/**
 * With conv gradients "forward": the wasm construction on the webgpu backend's own
 * forward kernels, instead of tfjs-webgpu's slow backprop kernels (README.md).
 */
export const WEBGPU_FORWARD_CONV_KERNELS: readonly KernelOfOurs[] = [conv2DBackpropFilter, conv2DBackpropInput];

/** Registers the webgpu kernels (the backend set up); returns those registered now. */
export function registerWebgpuKernels(tf: typeof TF, convGrad: ConvGradChoice): KernelOfOurs[] {
  return registerKernels(tf, "webgpu", convGrad === "forward" ? [...WEBGPU_KERNELS, ...WEBGPU_FORWARD_CONV_KERNELS] : WEBGPU_KERNELS);
}
