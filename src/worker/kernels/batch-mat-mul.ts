// BatchMatMul on tfjs-backend-wasm through XNNPACK whatever the flags (see fused-mat-mul.ts
// for _FusedMatMul).
//
// tfjs-backend-wasm 4.22's batch_mat_mul_impl.cc takes XNNPACK's fully-connected path only
// when neither transpose flag is set and both batch dimensions are 1; anything else runs a
// blocked scalar loop 8–12× slower. Every gradient of a dense layer is such a call:
// dA = dy·Bᵀ (transposeB) and dB = Aᵀ·dy (transposeA). The replacement kernel transposes
// explicitly with the wasm Transpose kernel and hands 2-D (batch 1) pieces to the original
// kernel, then puts the batch back together:
//   - both batches 1: one call;
//   - A batched, B not: A's batch folds into its rows ([batch·m, k]·[k, n]), one call;
//   - B batched, A not: B's batch folds into its columns via a transpose, one call;
//   - both batched: one call per output matrix (Slice), joined by Concat.
// The arithmetic is the same product; only the float32 summation order differs from the
// scalar loop (XNNPACK's SIMD kernels), as it does from the cpu backend.

import type * as TF from "@tensorflow/tfjs";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, sizeOf, Temps, view, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

/**
 * Below this many multiply-adds per matrix, batched products (both operands batched alike)
 * stay on the original kernel: one XNNPACK call per matrix costs more than the loop saves.
 */
const PER_MATRIX_MIN_MACS = 16 * 1024;

function batchIndex(outIndex: number, outDims: readonly number[], dims: readonly number[]): number {
  // Row-major index into `dims` (right-aligned against outDims, 1 = broadcast) of the
  // element at flat position outIndex of outDims.
  let index = 0;
  let stride = 1;
  let rest = outIndex;
  for (let i = outDims.length - 1, j = dims.length - 1; i >= 0; i--, j--) {
    const coord = rest % outDims[i]!;
    rest = Math.floor(rest / outDims[i]!);
    if (j >= 0) {
      const d = dims[j]!;
      if (d !== 1) index += coord * stride;
      stride *= d;
    }
  }
  return index;
}

function makeBatchMatMul(tf: typeof TF, on: string, original: RawKernelFunc): RawKernelFunc {
  return (args: KernelArgs): Info => {
    const inputs = args.inputs as TF.NamedTensorInfoMap;
    const a = inputs["a"]!;
    const b = inputs["b"]!;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const transposeA = !!attrs.transposeA;
    const transposeB = !!attrs.transposeB;
    if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
      return single(original(args)); // its own error for what it does not support
    }
    const aRank = a.shape.length;
    const bRank = b.shape.length;
    const m = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
    const k = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
    const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
    const n = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
    if (k !== kB) return single(original(args)); // throws tfjs's own message
    const aDims = a.shape.slice(0, -2);
    const bDims = b.shape.slice(0, -2);
    const outDims = tf.broadcast_util.assertAndGetBroadcastShape(aDims, bDims);
    const batchA = sizeOf(aDims);
    const batchB = sizeOf(bDims);
    const batch = sizeOf(outDims);
    const outShape = [...outDims, m, n];
    if (m * k * n === 0) return single(original(args));
    // (Broadcasting both ways, [2,1]×[1,3], the original sizes its output by the larger
    // batch and is wrong: that case always goes through the per-matrix path.)
    if (batchA > 1 && batchB > 1 && batchA === batchB && m * k * n < PER_MATRIX_MIN_MACS) return single(original(args));

    const backend = args.backend as BackendLike;
    const transpose = backendKernel(tf, on, "Transpose");
    const temps = new Temps(backend);
    const plain = { transposeA: false, transposeB: false };
    const run = (x: Info, y: Info): Info => single(original({ inputs: { a: x, b: y }, backend, attrs: plain }));
    try {
      // A as [batchA, m, k] and B as [batchB, k, n], transposed explicitly where flagged.
      let a3 = view(a, transposeA ? [batchA, k, m] : [batchA, m, k]);
      if (transposeA) a3 = temps.keep(single(transpose({ inputs: { x: a3 }, backend, attrs: { perm: [0, 2, 1] } })));
      let b3 = view(b, transposeB ? [batchB, n, k] : [batchB, k, n]);
      if (transposeB) b3 = temps.keep(single(transpose({ inputs: { x: b3 }, backend, attrs: { perm: [0, 2, 1] } })));

      if (batchB === 1) {
        // Covers batch 1 too: [batchA·m, k]·[k, n].
        const out = run(view(a3, [1, batchA * m, k]), view(b3, [1, k, n]));
        out.shape = outShape;
        return out;
      }
      if (batchA === 1) {
        // A·[B₀ B₁ …] = [A·B₀ A·B₁ …]: B as [k, batchB·n], the result back to [batchB, m, n].
        const bWide = temps.keep(single(transpose({ inputs: { x: b3 }, backend, attrs: { perm: [1, 0, 2] } })));
        const wide = temps.keep(run(view(a3, [1, m, k]), view(bWide, [1, k, batchB * n])));
        const out = single(transpose({ inputs: { x: view(wide, [m, batchB, n]) }, backend, attrs: { perm: [1, 0, 2] } }));
        out.shape = outShape;
        return out;
      }
      // Both batched: one product per output matrix.
      const slice = backendKernel(tf, on, "Slice");
      const concat = backendKernel(tf, on, "Concat");
      const pieces: Info[] = [];
      for (let i = 0; i < batch; i++) {
        const ia = batchIndex(i, outDims, aDims);
        const ib = batchIndex(i, outDims, bDims);
        const ai = temps.keep(single(slice({ inputs: { x: a3 }, backend, attrs: { begin: [ia, 0, 0], size: [1, m, k] } })));
        const bi = temps.keep(single(slice({ inputs: { x: b3 }, backend, attrs: { begin: [ib, 0, 0], size: [1, k, n] } })));
        pieces.push(temps.keep(run(ai, bi)));
      }
      const out = single(concat({ inputs: pieces, backend, attrs: { axis: 0 } }));
      out.shape = outShape;
      return out;
    } finally {
      temps.dispose();
    }
  };
}

/** BatchMatMul (wasm): transposes and batches handed to XNNPACK as 2-D products. */
export const batchMatMul: KernelOfOurs = {
  kernelName: "BatchMatMul",
  purpose: "transposed and batched operands through XNNPACK, not a scalar loop",
  wrapsOriginal: true,
  make: (tf, on, original) => makeBatchMatMul(tf, on, original!),
};
