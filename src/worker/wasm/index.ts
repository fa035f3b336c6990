// Makes tfjs-backend-wasm fit for gradients in Node: our kernels (XNNPACK for every
// matmul, convolution gradients: src/worker/kernels/register-wasm.ts) and threads
// (switched off in Node by tfjs).

import type * as TF from "@tensorflow/tfjs";
import { registerBatchNormGradient } from "../kernels/batch-norm-grad.js";
import { registerWasmKernels } from "../kernels/register-wasm.js";
import { installThreadedWasm, processListenerGuard, readWasmThreads, setWasmThreads, threadsFailure } from "./threads.js";

export { activeWasmThreads, MAX_WASM_THREADS, setWasmThreads, threadsFailure, wantedWasmThreads } from "./threads.js";

export interface WasmSetup {
  /** Threads XNNPACK runs with (1: the stock single-threaded module). */
  threads: number;
  simd: boolean;
  /** What was changed, for the worker's log ("BatchMatMul: …", "threads: 2"…). */
  fixes: string[];
}

export interface WasmOptions {
  /** XNNPACK threads (1 to MAX_WASM_THREADS); default: one per logical CPU, at most 8. */
  threads?: number;
}

const WASM_PKG: string = "@tensorflow/tfjs-backend-wasm";

/**
 * Loads tfjs-backend-wasm, registers our kernels and the threaded module, and makes
 * "wasm" the active backend. Safe to call again (a later call only reselects "wasm"; a
 * different thread count then throws, see setWasmThreads). Throws if the backend cannot
 * be initialised.
 */
export async function setupWasm(tf: typeof TF, options: WasmOptions = {}): Promise<WasmSetup> {
  if (options.threads !== undefined) setWasmThreads(options.threads);
  await import(WASM_PKG); // registers the backend and its kernels
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true;
  const fixes: string[] = [];
  const threaded = installThreadedWasm(tf, simd);
  for (const k of registerWasmKernels(tf)) fixes.push(`${k.kernelName}: ${k.purpose}`);
  // Registered for every backend (tfjs-core keeps one gradient per kernel name).
  if (registerBatchNormGradient(tf)) fixes.push("FusedBatchNorm gradient: per-channel factors broadcast, no full-size Tile");
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
