// Makes tfjs-backend-wasm fit for gradients in Node: XNNPACK for every matmul (the
// stock kernel falls back to a scalar loop on transposed operands), convolution
// gradients (missing or scalar on wasm), and threads (switched off in Node by tfjs).

import type * as TF from "@tensorflow/tfjs";
import { installBatchMatMulFix } from "./batch-matmul.js";
import { installConvGradients } from "./conv-grad.js";
import { installThreadedWasm, processListenerGuard, readWasmThreads, threadsFailure } from "./threads.js";

export { activeWasmThreads, MAX_WASM_THREADS, setWasmThreads, threadsFailure, WASM_THREADS_ENV, wantedWasmThreads } from "./threads.js";
export { ConvGradientError, installConvGradients } from "./conv-grad.js";
export { installBatchMatMulFix } from "./batch-matmul.js";

export interface WasmSetup {
  /** Threads XNNPACK runs with (1: the stock single-threaded module). */
  threads: number;
  simd: boolean;
  /** What was changed, for the worker's log ("BatchMatMul via XNNPACK", "threads: 2"…). */
  fixes: string[];
}

const WASM_PKG: string = "@tensorflow/tfjs-backend-wasm";

/**
 * Loads tfjs-backend-wasm, installs the kernel fixes and the threaded module, and makes
 * "wasm" the active backend. Safe to call again (a later call only reselects "wasm").
 * Throws if the backend cannot be initialised.
 */
export async function setupWasm(tf: typeof TF): Promise<WasmSetup> {
  await import(WASM_PKG); // registers the backend and its kernels
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true;
  const fixes: string[] = [];
  const threaded = installThreadedWasm(tf, simd);
  for (const k of installBatchMatMulFix(tf)) fixes.push(`${k}: transposes and batches through XNNPACK`);
  for (const k of installConvGradients(tf)) fixes.push(`${k}: from forward Conv2D`);
  const removeListeners = processListenerGuard();
  try {
    if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
  } finally {
    removeListeners();
  }
  const threads = readWasmThreads();
  if (threaded && threads > 1) fixes.push(`threads: ${threads} (threaded SIMD module)`);
  const failure = threadsFailure();
  if (failure) fixes.push(`threads: fell back to 1 (${failure})`);
  return { threads, simd, fixes };
}
