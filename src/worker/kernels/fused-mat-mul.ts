// _FusedMatMul (a dense layer's matmul + bias + activation) on tfjs-backend-wasm with its
// transpose flags set: tfjs-backend-wasm 4.22 then runs the same blocked scalar loop as
// BatchMatMul (batch-mat-mul.ts) on anything but plain 2-D operands. The operands are transposed
// explicitly with the wasm Transpose kernel, and the original kernel does the rest.

import type * as TF from "@tensorflow/tfjs";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, Temps, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

/** _FusedMatMul with transpose flags: the same explicit transposes, then the original. */
function makeFusedMatMul(tf: typeof TF, on: string, original: RawKernelFunc): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const inputs = args.inputs as TF.NamedTensorInfoMap;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const a = inputs["a"]!;
    const b = inputs["b"]!;
    if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length !== 3 || b.shape.length !== 3) {
      return single(original(args));
    }
    const backend = args.backend as BackendLike;
    const transpose = backendKernel(tf, on, "Transpose");
    const temps = new Temps(backend);
    try {
      const at = attrs.transposeA ? temps.keep(single(transpose({ inputs: { x: a }, backend, attrs: { perm: [0, 2, 1] } }))) : a;
      const bt = attrs.transposeB ? temps.keep(single(transpose({ inputs: { x: b }, backend, attrs: { perm: [0, 2, 1] } }))) : b;
      return single(original({ inputs: { ...inputs, a: at, b: bt }, backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } }));
    } finally {
      temps.dispose();
    }
  };
}

/** _FusedMatMul (wasm): transposed operands made plain before the original runs. */
export const fusedMatMul: KernelOfOurs = {
  kernelName: "_FusedMatMul",
  purpose: "transposed operands through XNNPACK, not a scalar loop",
  wrapsOriginal: true,
  make: (tf, on, original) => makeFusedMatMul(tf, on, original!),
};
