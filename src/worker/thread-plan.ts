// How many compute threads a worker runs, and how many wasm threads each of them, from the
// worker's options alone (its command line: src/worker/cli.ts). Several minibatches side
// by side use a CPU's cores better than one minibatch's matmul on several threads
// (README.md, Commands), so a CPU worker runs a compute thread per core and one wasm
// thread in each; a GPU does its own parallelism, so a GPU worker keeps one thread.

import { availableParallelism } from "node:os";
import type { BackendInfo } from "./backend.js";
import { MAX_WASM_THREADS } from "./wasm/threads.js";

export interface ThreadOptions {
  /** A count, or "auto": one per core on the wasm and cpu backends, one otherwise. */
  computeThreads: number | "auto";
  /**
   * The cores this worker may use (default: every core of the machine). It caps what
   * CPU backends take; the embedded default splits the machine between its local workers.
   */
  cpuCores?: number;
  /** XNNPACK threads of each compute thread on wasm; an explicit value always wins. */
  wasmThreads?: number;
}

/** Backends that compute on the CPU cores this worker may use, one minibatch per core. */
function usesCores(info: Pick<BackendInfo, "backend" | "gpu">): boolean {
  return !info.gpu && (info.backend === "wasm" || info.backend === "cpu");
}

/**
 * Compute threads to start on the backend the first one selected. `auto`: on the wasm
 * and cpu backends one per core the worker may use; one on a GPU, and on libtensorflow's
 * CPU backend (which threads itself) or a software WebGPU adapter.
 */
export function computeThreadCount(options: ThreadOptions, info: Pick<BackendInfo, "backend" | "gpu">, machineCores = availableParallelism()): number {
  if (options.computeThreads !== "auto") return options.computeThreads;
  return usesCores(info) ? (options.cpuCores ?? machineCores) : 1;
}

/**
 * XNNPACK threads of each compute thread, decided before the backend is known (the first
 * thread selects it with this count): the explicit count; else 1 when several compute
 * threads may run (`auto` or more than one), which share the cores; else, for one compute
 * thread, every core the worker may use, at most MAX_WASM_THREADS.
 */
export function wasmThreadsPerComputeThread(options: ThreadOptions, machineCores = availableParallelism()): number {
  if (options.wasmThreads !== undefined) return options.wasmThreads;
  if (options.computeThreads === "auto" || options.computeThreads > 1) return 1;
  return Math.max(1, Math.min(MAX_WASM_THREADS, options.cpuCores ?? machineCores));
}
