// Multi-threaded tfjs-backend-wasm in Node.
//
// tfjs-backend-wasm 4.22 ships a threaded+SIMD build (wasm-out/tfjs-backend-wasm-threaded-
// simd.{js,wasm}) but never uses it in Node, for three reasons read from its source:
//  1. the flag WASM_HAS_MULTITHREAD_SUPPORT answers false whenever IS_NODE (tfjs#3830);
//  2. its init() hands Emscripten the pthread worker script as a blob: URL and the main
//     script as a Blob; Node's worker_threads can load neither;
//  3. the C side (backend.cc) computes `num_cores = emscripten_num_logical_cores() / 2`
//     once, when the module starts, and caps every thread count to it, so a 2-core
//     machine gets 1 thread whatever setThreadsCount() asked for.
//
// The work-around replaces the "wasm" backend factory with one that starts the same
// Emscripten module itself: the worker script (shipped as a JS string in
// wasm-out/tfjs-backend-wasm-threaded-simd.worker.js) is written to a .cjs file, the main
// script is the shipped wasm-out JS file, and the binary is instantiated through
// Emscripten's instantiateWasm hook with emscripten_num_logical_cores answering twice the
// thread count wanted, so that the C cap is the count itself. The backend object is
// tfjs's own BackendWasm; every wasm kernel works on it unchanged.
//
// Emscripten pre-starts 8 pthread workers (its PTHREAD_POOL_SIZE); XNNPACK's thread pool
// takes `threads - 1` of them (the calling thread is the other). The rest are terminated
// once the pool is up, and the pool's workers are unref'd so that they do not keep a
// process alive that has nothing else to do.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type * as TF from "@tensorflow/tfjs";

const require = createRequire(import.meta.url);

/** Emscripten's pre-started worker pool, and so the most threads the module can run. */
export const MAX_WASM_THREADS = 8;

/** How long the threaded module may take to start before it is given up for 1 thread. */
const START_TIMEOUT_MS = 30_000;

const WASM_PKG = "@tensorflow/tfjs-backend-wasm";
const WASM_PRIORITY = 2; // what tfjs-backend-wasm registers itself with

interface NodeWorkerLike {
  ref(): void;
  unref(): void;
  terminate(): unknown;
}

interface PThreadLike {
  unusedWorkers: NodeWorkerLike[];
  runningWorkers: NodeWorkerLike[];
  terminateAllThreads(): void;
}

/** The part of an Emscripten module tfjs's BackendWasm and its kernels use. */
interface EmscriptenModuleLike {
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  PThread?: PThreadLike;
  tfjs?: Record<string, (...args: unknown[]) => unknown>;
  [key: string]: unknown;
}

/** The few WebAssembly JS API calls used here (the ES2022 lib has no WebAssembly types). */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => object;
  instantiate(binary: Uint8Array, imports: object): Promise<{ instance: object; module: object }>;
}
const WasmJs = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface EmscriptenConfig {
  locateFile(path: string, prefix: string): string;
  mainScriptUrlOrBlob: string;
  instantiateWasm(
    imports: { env: Record<string, unknown> } & Record<string, unknown>,
    receiveInstance: (instance: object, module: object) => void,
  ): object;
  onAbort(what: unknown): void;
  print(text: string): void;
  printErr(text: string): void;
  PThread?: PThreadLike;
}

type ThreadedFactory = (config: EmscriptenConfig) => Promise<EmscriptenModuleLike>;

interface WasmPackage {
  BackendWasm: new (module: unknown) => TF.KernelBackend & { wasm: EmscriptenModuleLike };
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

function wasmPackage(): WasmPackage {
  return require(WASM_PKG) as WasmPackage;
}

function wasmOutDir(): string {
  return join(dirname(require.resolve(`${WASM_PKG}/package.json`)), "wasm-out");
}

/** Marks the backend factory installed here (setupWasm may run more than once). */
const THREADED = Symbol.for("gradswarm.wasm.threaded-factory");

let requestedThreads: number | null = null;
let installedThreads: number | null = null;
let lastFailure: string | null = null;

/**
 * The thread count the wasm backend will start with: the one set by setWasmThreads, else
 * the number of logical CPUs Node sees (os.cpus().length); at most MAX_WASM_THREADS.
 */
export function wantedWasmThreads(): number {
  const n = requestedThreads ?? cpus().length;
  return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(n)));
}

/**
 * Sets how many threads the wasm backend uses (1 = the stock single-threaded module).
 * XNNPACK builds its thread pool once, when the backend starts, so this must be called
 * before the wasm backend is first initialised; later, asking for a different count
 * throws (the count in use is `activeWasmThreads()`).
 */
export function setWasmThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setWasmThreads: a thread count is a positive integer, got ${n}`);
  if (n > MAX_WASM_THREADS) throw new RangeError(`setWasmThreads: at most ${MAX_WASM_THREADS} threads (Emscripten's pre-started worker pool), got ${n}`);
  if (installedThreads !== null && installedThreads !== n) {
    throw new Error(`setWasmThreads(${n}): the wasm backend already runs with ${installedThreads} thread(s); XNNPACK's thread pool is fixed when the backend starts`);
  }
  requestedThreads = n;
}

/** Threads of the running wasm backend, or null before it started. */
export function activeWasmThreads(): number | null {
  return installedThreads;
}

/** Why the threaded module was not used the last time it was tried, if it failed. */
export function threadsFailure(): string | null {
  return lastFailure;
}

/** Whether this Node can run the threaded module at all. */
export function threadsSupported(): boolean {
  try {
    // Shared memory between worker_threads, and the wasm threads proposal (atomics).
    new WasmJs.Memory({ initial: 1, maximum: 1, shared: true });
    return typeof SharedArrayBuffer === "function" && typeof Atomics === "object";
  } catch {
    return false;
  }
}

/**
 * Writes Emscripten's pthread worker script to a file Node can start a worker from
 * (content-addressed under the OS temp dir, written atomically, reused if present).
 */
function workerScriptFile(dir: string): string {
  const { wasmWorkerContents } = require(join(dir, "tfjs-backend-wasm-threaded-simd.worker.js")) as { wasmWorkerContents: string };
  if (typeof wasmWorkerContents !== "string" || !wasmWorkerContents.includes("importScripts")) {
    throw new Error("wasm-out/tfjs-backend-wasm-threaded-simd.worker.js does not hold the pthread worker script");
  }
  // The script is minified onto one line; its "\n" escapes became real newlines in the
  // template literal it is shipped in. tfjs does the same replacement for its Blob.
  const text = wasmWorkerContents.replace(/\n/g, "\\n");
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const file = join(tmpdir(), `gradswarm-tfjs-wasm-pthread-${hash}.cjs`);
  if (!existsSync(file) || readFileSync(file, "utf8") !== text) {
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return file;
}

/**
 * Emscripten's Node glue (in the stock module too) adds process listeners for
 * uncaughtException and unhandledRejection that only rethrow; since its source is one
 * minified line, Node then prints the whole file with any crash, and test runners see a
 * rethrow instead of the error. Node does the same without them. Call before the module
 * starts; the function returned removes whatever listeners were added since.
 */
export function processListenerGuard(): () => void {
  const before = { uncaughtException: process.listeners("uncaughtException"), unhandledRejection: process.listeners("unhandledRejection") };
  return () => {
    for (const l of process.listeners("uncaughtException")) if (!before.uncaughtException.includes(l)) process.removeListener("uncaughtException", l);
    for (const l of process.listeners("unhandledRejection")) if (!before.unhandledRejection.includes(l)) process.removeListener("unhandledRejection", l);
  };
}

/** Starts the threaded+SIMD Emscripten module with `threads` threads' worth of cores. */
async function startThreadedModule(threads: number): Promise<EmscriptenModuleLike> {
  const dir = wasmOutDir();
  const mainScript = join(dir, "tfjs-backend-wasm-threaded-simd.js");
  const binary = readFileSync(join(dir, "tfjs-backend-wasm-threaded-simd.wasm"));
  const workerFile = workerScriptFile(dir);
  const factory = require(mainScript) as ThreadedFactory;
  if (typeof factory !== "function") throw new Error(`${mainScript} does not export the Emscripten module factory`);

  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const errors: string[] = [];
  const config: EmscriptenConfig = {
    locateFile: (path) => (path.endsWith(".worker.js") ? workerFile : join(dir, path)),
    mainScriptUrlOrBlob: mainScript,
    instantiateWasm: (imports, receiveInstance) => {
      if (typeof imports.env.emscripten_num_logical_cores !== "function") {
        fail(new Error("the threaded wasm module no longer imports emscripten_num_logical_cores; cannot lift its thread cap"));
        return {};
      }
      // backend.cc caps threads at logical_cores / 2, read once when the module starts.
      imports.env.emscripten_num_logical_cores = () => 2 * threads;
      WasmJs.instantiate(binary, imports).then(
        ({ instance, module }) => receiveInstance(instance, module),
        (err: unknown) => fail(new Error(`instantiating the threaded wasm binary failed: ${String(err)}`)),
      );
      return {};
    },
    onAbort: (what) => fail(new Error(`the threaded wasm module aborted: ${String(what)}${errors.length ? ` (${errors.join("; ")})` : ""}`)),
    print: () => {},
    printErr: (text) => {
      errors.push(text);
    },
  };
  // The workers are unref'd while they load, so this timer is also what keeps a process
  // with nothing else pending alive until the module is up.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the threaded wasm module did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  });
  const removeAdded = processListenerGuard();
  try {
    const started = factory(config);
    removeAdded(); // they are added synchronously, when the factory runs
    return await Promise.race([started, failed, timeout]);
  } catch (err) {
    try {
      config.PThread?.terminateAllThreads();
    } catch {
      // nothing more to clean
    }
    throw err;
  } finally {
    removeAdded();
    clearTimeout(timer);
  }
}

/** The same bridge tfjs-backend-wasm's init() puts on the module. */
function addTfjsBridge(module: EmscriptenModuleLike): void {
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
}

/**
 * Makes the "wasm" backend start multi-threaded (`wantedWasmThreads()` threads, read when
 * it is first initialised). With 1 thread wanted, or if the threaded module cannot start,
 * the stock single-threaded factory is used instead (`threadsFailure()` says why it
 * failed). Returns false (and changes nothing) when threads or SIMD are unavailable here
 * or the backend already runs.
 */
export function installThreadedWasm(tf: typeof TF, simd: boolean): boolean {
  if (!simd || !threadsSupported()) return false;
  if (installedThreads !== null) return false;
  // Already initialised (by an earlier tf.setBackend("wasm")): its thread pool is fixed.
  if ((tf.engine() as unknown as { registry: Record<string, unknown> }).registry["wasm"]) return false;
  const stock = tf.findBackendFactory("wasm");
  if (!stock) throw new Error("the wasm backend is not registered (import @tensorflow/tfjs-backend-wasm first)");
  if ((stock as { [THREADED]?: boolean })[THREADED]) return true; // installed before, not started yet
  const pkg = wasmPackage();
  const factory = async (): Promise<TF.KernelBackend> => {
    const threads = wantedWasmThreads(); // read when the backend starts, after setWasmThreads
    if (threads >= 2) {
      let module: EmscriptenModuleLike | undefined;
      try {
        module = await startThreadedModule(threads);
        addTfjsBridge(module);
        pkg.setThreadsCount(threads);
        const backend = new pkg.BackendWasm(module); // creates XNNPACK's thread pool
        const pthread = module.PThread;
        if (pthread) {
          for (const w of pthread.runningWorkers) w.unref();
          for (const w of pthread.unusedWorkers.splice(0)) void w.terminate();
        }
        installedThreads = pkg.getThreadsCount();
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
        lastFailure = null;
        return backend;
      } catch (err) {
        lastFailure = err instanceof Error ? err.message : String(err);
        try {
          module?.PThread?.terminateAllThreads();
        } catch {
          // nothing more to clean
        }
      }
    }
    const backend = await stock();
    installedThreads = 1;
    return backend;
  };
  Object.defineProperty(factory, THREADED, { value: true });
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", factory, WASM_PRIORITY);
  return true;
}

/** Threads of the running wasm backend as tfjs reports them (1 for the stock module). */
export function readWasmThreads(): number {
  try {
    const n = wasmPackage().getThreadsCount();
    if (installedThreads === null) installedThreads = n;
    return n;
  } catch {
    return installedThreads ?? 1;
  }
}
