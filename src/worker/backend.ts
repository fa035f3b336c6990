// Picks the TensorFlow.js backend a worker computes with. The order (docs/design.md §1):
// libtensorflow with CUDA, WebGPU on a hardware adapter, libtensorflow on the CPU, wasm,
// pure-JS cpu. Only registration differs between them; the gradient code is the same.

import type * as TF from "@tensorflow/tfjs";

export const BACKEND_CHOICES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The TensorFlow.js backend name: "tensorflow", "webgpu", "wasm" or "cpu". */
  backend: string;
  /** What it runs on, in words: "NVIDIA H200 (vulkan)", "CPU (wasm, SIMD)". */
  device: string;
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

type Attempt = { backend: string; device: string } | { skipped: string };

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
  return { backend: "tensorflow", device: pkg.endsWith("gpu") ? "CUDA GPU (libtensorflow)" : "CPU (libtensorflow)" };
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

export const WEBGPU_CONV_GRAD_ENV = "GRADSWARM_WEBGPU_CONV_GRAD";

/**
 * How the webgpu worker computes conv gradients: "stock" (tfjs-backend-webgpu's backprop
 * kernels, the default) or "forward" (the forward-conv construction of wasm/conv-grad.ts,
 * the lever for GPUs in docs/design.md "Measured facts"; bench/worker.ts measures both on a hardware adapter).
 */
function webgpuConvGradients(): "stock" | "forward" {
  const v = process.env[WEBGPU_CONV_GRAD_ENV];
  if (v === undefined || v === "" || v === "stock") return "stock";
  if (v === "forward") return "forward";
  throw new BackendError(`${WEBGPU_CONV_GRAD_ENV} must be "stock" or "forward", not ${JSON.stringify(v)}`);
}

async function tryWebgpu(tf: typeof TF, allowSoftware: boolean): Promise<Attempt> {
  const convGrad = webgpuConvGradients(); // a bad value stops the worker before anything starts
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
    // It needs EGL_PLATFORM=surfaceless in the C environment (set by the caller's main thread).
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
    // tf.addN over more inputs than a shader may bind returns zeros silently: chunk it.
    const { installWebgpuAddN } = await import("./webgpu/add-n.js");
    installWebgpuAddN(tf);
  } catch (err) {
    return { skipped: `webgpu: ${firstLine(err)}` };
  }
  if (convGrad === "forward") {
    const { installConvGradients } = await import("./wasm/conv-grad.js");
    installConvGradients(tf, { backend: "webgpu" });
  }
  return { backend: "webgpu", device: `${name}${software ? " (software)" : ""}${convGrad === "forward" ? ", conv gradients from forward convs" : ""}` };
}

async function tryWasm(tf: typeof TF): Promise<Attempt> {
  try {
    // XNNPACK matmuls for transposed operands, conv gradients, threads in Node: see src/worker/wasm/.
    const { setupWasm } = await import("./wasm/index.js");
    const { threads, simd } = await setupWasm(tf);
    return { backend: "wasm", device: `CPU (wasm${simd ? ", SIMD" : ""}, ${threads} thread${threads === 1 ? "" : "s"})` };
  } catch (err) {
    return { skipped: `wasm: ${firstLine(err)}` };
  }
}

async function tryCpu(tf: typeof TF): Promise<Attempt> {
  return (await tf.setBackend("cpu")) ? { backend: "cpu", device: "CPU (pure JS)" } : { skipped: "cpu: did not initialise" };
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0]!;
}

/**
 * Sets the tfjs backend. "auto" walks the order above and takes the first that
 * works; a named backend that cannot be loaded is an error, never a silent fallback.
 */
export async function selectBackend(tf: typeof TF, choice: BackendChoice): Promise<BackendInfo> {
  const tfGpu = () => tryTensorflow(tf, "@tensorflow/tfjs-node-gpu");
  const tfCpu = () => tryTensorflow(tf, "@tensorflow/tfjs-node");
  const orders: Record<BackendChoice, (() => Promise<Attempt>)[]> = {
    auto: [tfGpu, () => tryWebgpu(tf, false), tfCpu, () => tryWasm(tf), () => tryCpu(tf)],
    tensorflow: [tfGpu, tfCpu],
    // Named explicitly, a software adapter is accepted: that is how tests run WebGPU here.
    webgpu: [() => tryWebgpu(tf, true)],
    wasm: [() => tryWasm(tf)],
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
