// tfjs-backend-webgpu's AddN binds every input as a storage buffer of one shader. Past the
// device's per-stage limit (8 by default, 16 at most on Dawn: docs/design.md "Measured facts") the pipeline fails
// validation and the kernel returns zeros, with a console message and no exception. This
// replaces the kernel with one that sums at most (limit − 1) inputs per shader, then sums
// the partial sums the same way, so any number of tensors adds up right.

import type * as TF from "@tensorflow/tfjs";

type Info = TF.TensorInfo;
type RawKernel = (args: { inputs: Info[]; backend: unknown; attrs?: TF.NamedAttrMap }) => Info;

interface WebgpuBackendLike {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: object, force?: boolean): boolean;
}

const MARK = Symbol.for("gradswarm.webgpu.addN");

/** Inputs one AddN shader may take: one storage buffer goes to the output. */
export function addNInputsPerShader(backend: WebgpuBackendLike): number {
  return Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
}

function chunked(original: RawKernel): RawKernel {
  const kernel: RawKernel = ({ inputs, backend, attrs }) => {
    const max = addNInputsPerShader(backend as WebgpuBackendLike);
    if (inputs.length <= max) return original({ inputs, backend, attrs });
    const partial: Info[] = [];
    for (let i = 0; i < inputs.length; i += max) {
      const part = inputs.slice(i, i + max);
      // A lone last input needs no shader; it is summed in the next round as it is.
      partial.push(part.length === 1 ? part[0]! : original({ inputs: part, backend, attrs }));
    }
    const out = kernel({ inputs: partial, backend, attrs });
    for (const p of partial) if (!inputs.includes(p)) (backend as WebgpuBackendLike).disposeData(p.dataId);
    return out;
  };
  Object.defineProperty(kernel, MARK, { value: true });
  return kernel;
}

/** Installs the chunked AddN on the registered webgpu backend; idempotent. */
export function installWebgpuAddN(tf: typeof TF): void {
  const config = tf.getKernel("AddN", "webgpu");
  if (!config) throw new Error("the webgpu backend has no AddN kernel to replace");
  if ((config.kernelFunc as { [MARK]?: boolean })[MARK]) return;
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({ ...config, kernelFunc: chunked(config.kernelFunc as unknown as RawKernel) as unknown as TF.KernelFunc });
}
