// Picks the TensorFlow.js backend a worker computes with. The order (docs/design.md §1;
// README.md, "Workers on other machines"): libtensorflow with CUDA, WebGPU on a hardware adapter, libtensorflow on
// the CPU, wasm, pure-JS cpu. Only registration differs between them; the gradient code is
// the same.

import { existsSync, readdirSync } from "node:fs";
import type * as TF from "@tensorflow/tfjs";

export const BACKEND_CHOICES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** How a webgpu worker computes conv gradients (the worker's --conv-grad). */
export const CONV_GRAD_CHOICES = ["stock", "forward"] as const;
export type ConvGradChoice = (typeof CONV_GRAD_CHOICES)[number];

/** How the chosen backend is set up; the worker's command line sets these. */
export interface BackendOptions {
  /** XNNPACK threads of the wasm backend (default: one per logical CPU, at most 8). */
  wasmThreads?: number;
  /**
   * Conv gradients on webgpu: "stock" (tfjs-backend-webgpu's backprop kernels, the
   * default) or "forward" (from forward convs, src/worker/kernels/register-webgpu.ts).
   */
  convGrad?: ConvGradChoice;
}

export interface BackendInfo {
  /** The TensorFlow.js backend name: "tensorflow", "webgpu", "wasm" or "cpu". */
  backend: string;
  /** What it runs on, in words: "NVIDIA H200 (vulkan)", "CPU (wasm, SIMD)". */
  device: string;
  /** Whether it computes on a GPU (CUDA, or WebGPU on a hardware adapter; not a software one). */
  gpu: boolean;
  /** Why each better backend was passed over, for the worker's log. */
  skipped: string[];
}

export class BackendError extends Error {
  override name = "BackendError";
}

/** Software rasterizers Dawn can run on; they compute correctly but are no GPU. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

// Optional packages, imported through variables so that tsc does not require them.
const WEBGPU_PKG: string = "webgpu";
const TFJS_WEBGPU_PKG: string = "@tensorflow/tfjs-backend-webgpu";

type Attempt = { backend: string; device: string; gpu: boolean } | { skipped: string };

/**
 * tfjs-node-gpu and tfjs-node are optional installs that need libtensorflow; importing one
 * registers the "tensorflow" backend in the same tfjs engine.
 */
async function tryTensorflow(tf: typeof TF, pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): Promise<Attempt> {
  try {
    await import(/* a variable, so that tsc does not need the optional package */ pkg as string);
  } catch (err) {
    return { skipped: `${pkg}: not usable (${firstLine(err)})` };
  }
  if (!(await tf.setBackend("tensorflow"))) return { skipped: `${pkg}: loaded, but its backend did not initialise` };
  const gpu = pkg.endsWith("gpu");
  return { backend: "tensorflow", device: gpu ? "CUDA GPU (libtensorflow)" : "CPU (libtensorflow)", gpu };
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
}

/**
 * The Dawn instances whose adapters are in use. The navigator object handed to tfjs copies
 * none of the instance's (prototype) methods, so nothing else holds it: once collected,
 * Dawn tears the instance down under the live device, and the process dies some gradients
 * later (SIGSEGV or a failed mutex assertion, seen on the OpenGL ES path). Held for good.
 */
const heldGpuInstances: unknown[] = [];

/**
 * Whether a GPU Dawn could use may be here. On Linux one shows itself as a device node:
 * /dev/dri/renderD* (Mesa: AMD, Intel…), /dev/nvidia0… (NVIDIA), /dev/dxg (WSL). Elsewhere
 * (macOS Metal, Windows D3D12) there is no such test, and Dawn is asked.
 */
function gpuMayBePresent(): boolean {
  if (process.platform !== "linux") return true;
  const has = (dir: string, name: RegExp) => {
    try {
      return readdirSync(dir).some((n) => name.test(n));
    } catch {
      return false;
    }
  };
  return has("/dev/dri", /^renderD\d+$/) || has("/dev", /^nvidia\d+$/) || existsSync("/dev/dxg");
}

/**
 * WebGPU through Dawn, which prints its own warnings to stderr from native code (e.g.
 * "Couldn't load Vulkan" where no Vulkan loader is installed). Under `auto` it is asked
 * only where a GPU may be present, so that workers on machines without one say nothing of
 * Vulkan; asked for by name (`allowSoftware`), it is always tried, a software adapter too.
 */
async function tryWebgpu(tf: typeof TF, allowSoftware: boolean, convGrad: ConvGradChoice): Promise<Attempt> {
  if (!allowSoftware && !gpuMayBePresent()) return { skipped: "webgpu: no GPU device (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg)" };
  let webgpu: { create: (flags: string[]) => { requestAdapter: (o?: object) => Promise<GpuAdapterLike | null> }; globals: object };
  try {
    webgpu = (await import(WEBGPU_PKG)) as typeof webgpu;
  } catch (err) {
    return { skipped: `webgpu: the npm package webgpu is not installed (${firstLine(err)})` };
  }
  let gpu = webgpu.create([]);
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  let adapterOptions: object = { powerPreference: "high-performance" };
  if (!adapter && allowSoftware) {
    // Dawn's OpenGL ES path on Mesa's llvmpipe: slow, but lets tests run WebGPU on a CPU box.
    // It needs EGL_PLATFORM=surfaceless in the process's C environment, which only the
    // main thread can set (src/worker/cli.ts does, for --backend webgpu).
    gpu = webgpu.create(["backend=opengles"]);
    adapterOptions = { featureLevel: "compatibility" };
    adapter = await gpu.requestAdapter(adapterOptions).catch(() => null);
  }
  if (!adapter) return { skipped: "webgpu: no WebGPU adapter (no Vulkan driver found)" };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.device, info.description].filter((s) => s).join(" ") || "unknown adapter";
  const software = info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(name);
  if (software && !allowSoftware) return { skipped: `webgpu: only a software adapter (${name})` };
  // tfjs-backend-webgpu registers itself on import only if navigator.gpu exists, and asks
  // for its own adapter: hand it the one chosen here.
  const chosen = adapter;
  heldGpuInstances.push(gpu);
  Object.assign(globalThis, webgpu.globals);
  const navigatorGpu = { ...gpu, requestAdapter: async () => chosen, getPreferredCanvasFormat: () => "rgba8unorm" };
  Object.defineProperty(globalThis, "navigator", { value: { gpu: navigatorGpu }, configurable: true, writable: true });
  try {
    await import(TFJS_WEBGPU_PKG);
    if (!(await tf.setBackend("webgpu"))) return { skipped: `webgpu: the backend did not initialise on ${name}` };
    const { registerWebgpuKernels } = await import("./kernels/register-webgpu.js");
    registerWebgpuKernels(tf, convGrad);
  } catch (err) {
    return { skipped: `webgpu: ${firstLine(err)}` };
  }
  return { backend: "webgpu", device: `${name}${software ? " (software)" : ""}${convGrad === "forward" ? ", conv gradients from forward convs" : ""}`, gpu: !software };
}

async function tryWasm(tf: typeof TF, threads: number | undefined): Promise<Attempt> {
  try {
    // Threads in Node: src/worker/wasm/; XNNPACK matmuls, conv gradients: src/worker/kernels/.
    const { setupWasm } = await import("./wasm/index.js");
    const setup = await setupWasm(tf, { threads });
    return { backend: "wasm", device: `CPU (wasm${setup.simd ? ", SIMD" : ""}, ${setup.threads} thread${setup.threads === 1 ? "" : "s"})`, gpu: false };
  } catch (err) {
    return { skipped: `wasm: ${firstLine(err)}` };
  }
}

async function tryCpu(tf: typeof TF): Promise<Attempt> {
  return (await tf.setBackend("cpu")) ? { backend: "cpu", device: "CPU (pure JS)", gpu: false } : { skipped: "cpu: did not initialise" };
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0]!;
}

/**
 * Sets the tfjs backend. "auto" walks the order above and takes the first that works; a
 * named backend that cannot be loaded is an error, never a silent fallback.
 */
export async function selectBackend(tf: typeof TF, choice: BackendChoice, options: BackendOptions = {}): Promise<BackendInfo> {
  const convGrad = options.convGrad ?? "stock";
  const tfGpu = () => tryTensorflow(tf, "@tensorflow/tfjs-node-gpu");
  const tfCpu = () => tryTensorflow(tf, "@tensorflow/tfjs-node");
  const orders: Record<BackendChoice, (() => Promise<Attempt>)[]> = {
    auto: [tfGpu, () => tryWebgpu(tf, false, convGrad), tfCpu, () => tryWasm(tf, options.wasmThreads), () => tryCpu(tf)],
    tensorflow: [tfGpu, tfCpu],
    // Named explicitly, a software adapter is accepted: that is how tests run WebGPU here.
    webgpu: [() => tryWebgpu(tf, true, convGrad)],
    wasm: [() => tryWasm(tf, options.wasmThreads)],
    cpu: [() => tryCpu(tf)],
  };
  const skipped: string[] = [];
  for (const attempt of orders[choice]) {
    const result = await attempt();
    if ("backend" in result) {
      await tf.ready();
      return { ...result, skipped };
    }
    skipped.push(result.skipped);
  }
  throw new BackendError(`backend "${choice}" is not available: ${skipped.join("; ")}`);
}
