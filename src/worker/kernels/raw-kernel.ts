// Small helpers for kernels that run other kernels of their backend directly (as
// tfjs-backend-wasm's own kernels do): TensorInfos in, TensorInfos out, nothing tracked by
// the engine, so every intermediate must be released with backend.disposeData.

import type * as TF from "@tensorflow/tfjs";

export type Info = TF.TensorInfo;

/** The part of a tfjs KernelBackend (BackendWasm, WebGPUBackend) these kernels use. */
export interface BackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

export type KernelArgs = { inputs: TF.NamedTensorInfoMap | Info[]; backend: unknown; attrs?: TF.NamedAttrMap };
export type RawKernelFunc = (args: KernelArgs) => Info | Info[];

/** A registered kernel's function on a backend, to be called with TensorInfos. */
export function backendKernel(tf: typeof TF, backendName: string, name: string): RawKernelFunc {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`the ${backendName} backend has no ${name} kernel`);
  return config.kernelFunc as unknown as RawKernelFunc;
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
  constructor(private readonly backend: BackendLike) {}
  keep<T extends Info>(t: T): T {
    this.list.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.list.splice(0)) this.backend.disposeData(t.dataId);
  }
}
