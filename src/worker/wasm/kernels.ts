// Small helpers for kernels that run other wasm kernels directly (as tfjs-backend-wasm's
// own kernels do): TensorInfos in, TensorInfos out, nothing tracked by the engine, so
// every intermediate must be released with backend.disposeData.

import type * as TF from "@tensorflow/tfjs";

export type Info = TF.TensorInfo;

/** The part of tfjs's BackendWasm these kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

export type KernelArgs = { inputs: TF.NamedTensorInfoMap | Info[]; backend: unknown; attrs?: TF.NamedAttrMap };
export type RawKernelFunc = (args: KernelArgs) => Info | Info[];

/** Marks kernel functions registered by gradswarm, so that setup is idempotent. */
export const GRADSWARM_KERNEL = Symbol.for("gradswarm.wasm.kernel");

export function isOurs(config: TF.KernelConfig | undefined): boolean {
  return !!config && (config.kernelFunc as { [GRADSWARM_KERNEL]?: boolean })[GRADSWARM_KERNEL] === true;
}

export function markOurs<F extends object>(f: F): F {
  Object.defineProperty(f, GRADSWARM_KERNEL, { value: true });
  return f;
}

/** A registered kernel's function on a backend, to be called with TensorInfos. */
export function backendKernel(tf: typeof TF, backendName: string, name: string): RawKernelFunc {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`the ${backendName} backend has no ${name} kernel`);
  return config.kernelFunc as unknown as RawKernelFunc;
}

/** A registered wasm kernel's function, to be called with TensorInfos. */
export function wasmKernel(tf: typeof TF, name: string): RawKernelFunc {
  return backendKernel(tf, "wasm", name);
}

export function single(out: Info | Info[]): Info {
  if (Array.isArray(out)) {
    if (out.length !== 1) throw new Error(`expected one output, got ${out.length}`);
    return out[0]!;
  }
  return out;
}

/** The same data seen with another shape (no copy, no reference taken: never dispose it). */
export function view(t: Info, shape: number[]): Info {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Collects intermediates and releases them all at the end. */
export class Temps {
  private readonly list: Info[] = [];
  constructor(private readonly backend: WasmBackendLike) {}
  keep<T extends Info>(t: T): T {
    this.list.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.list.splice(0)) this.backend.disposeData(t.dataId);
  }
}
