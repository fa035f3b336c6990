// DepthwiseConv2dNativeBackpropInput and ...BackpropFilter, which tfjs-backend-wasm 4.22
// does not register (so any depthwise layer's gradient throws there), from our
// Conv2DBackpropInput and Conv2DBackpropFilter (conv2d-backprop-*.ts). A depthwise
// convolution with filter W [KH, KW, C, M] is the full convolution with the
// block-diagonal filter F[i,j,c′,c·M+m] = W[i,j,c,m]·[c′ = c], that is W seen as
// [KH, KW, 1, C·M] times the one-hot E[c′, c·M+m] = [c′ = c]. So dx is the full
// convolution's input gradient with F, and dW the full filter gradient G masked by E and
// summed over c′. C times the arithmetic of a dedicated kernel: correct first.

import type * as TF from "@tensorflow/tfjs";
import { conv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { conv2DBackpropInput } from "./conv2d-backprop-input.js";
import { ConvGradientError, type ConvAttrs } from "./conv-by-forward.js";
import type { KernelOfOurs } from "./register.js";
import { backendKernel, single, Temps, view, type BackendLike, type Info, type KernelArgs, type RawKernelFunc } from "./raw-kernel.js";

/** KernelBackend.write, which every tfjs backend has: a new tensor's data from values. */
interface TensorMaker extends BackendLike {
  write(values: Float32Array, shape: number[], dtype: "float32"): object;
}

/** E [1, 1, C, C·M]: 1 where output channel o belongs to input channel c (o = c·M + m). */
function oneHot(backend: TensorMaker, c: number, m: number): Info {
  const values = new Float32Array(c * c * m);
  for (let ch = 0; ch < c; ch++) for (let k = 0; k < m; k++) values[ch * c * m + ch * m + k] = 1;
  const shape = [1, 1, c, c * m];
  return { dataId: backend.write(values, shape, "float32"), shape, dtype: "float32" };
}

function checkAttrs(kernel: string, on: string, attrs: ConvAttrs): void {
  const d = attrs.dilations ?? 1;
  if ((typeof d === "number" ? d : Math.max(...d)) !== 1) throw new ConvGradientError(`${kernel} on ${on} supports only dilation 1`);
}

function makeInput(tf: typeof TF, on: string): RawKernelFunc {
  const full = conv2DBackpropInput.make(tf, on, null);
  return (args: KernelArgs): Info => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    checkAttrs("DepthwiseConv2dNativeBackpropInput", on, attrs);
    const [kh, kw, c, m] = filter.shape as [number, number, number, number];
    const backend = args.backend as TensorMaker;
    const temps = new Temps(backend);
    try {
      const e = temps.keep(oneHot(backend, c, m));
      const f = temps.keep(single(backendKernel(tf, on, "Multiply")({ inputs: { a: view(filter, [kh, kw, 1, c * m]), b: e }, backend }))); // [KH, KW, C, C·M]
      return single(full({ inputs: { dy, filter: f }, backend, attrs: { ...attrs, dilations: [1, 1], dataFormat: "NHWC" } as unknown as TF.NamedAttrMap }));
    } finally {
      temps.dispose();
    }
  };
}

function makeFilter(tf: typeof TF, on: string): RawKernelFunc {
  const full = conv2DBackpropFilter.make(tf, on, null);
  return (args: KernelArgs): Info => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    checkAttrs("DepthwiseConv2dNativeBackpropFilter", on, attrs);
    const [kh, kw, c, m] = attrs.filterShape as [number, number, number, number];
    const backend = args.backend as TensorMaker;
    const temps = new Temps(backend);
    try {
      const g = temps.keep(single(full({ inputs: { x, dy }, backend, attrs: { ...attrs, filterShape: [kh, kw, c, c * m], dilations: [1, 1], dataFormat: "NHWC" } as unknown as TF.NamedAttrMap })));
      const e = temps.keep(oneHot(backend, c, m));
      const masked = temps.keep(single(backendKernel(tf, on, "Multiply")({ inputs: { a: g, b: e }, backend })));
      const summed = single(backendKernel(tf, on, "Sum")({ inputs: { x: masked }, backend, attrs: { axis: [2], keepDims: false } as unknown as TF.NamedAttrMap })); // [KH, KW, C·M]
      return { dataId: summed.dataId, shape: [kh, kw, c, m], dtype: summed.dtype };
    } finally {
      temps.dispose();
    }
  };
}

export const depthwiseBackpropInput: KernelOfOurs = {
  kernelName: "DepthwiseConv2dNativeBackpropInput",
  purpose: "from Conv2DBackpropInput with a block-diagonal filter",
  wrapsOriginal: false,
  make: (tf, on) => makeInput(tf, on),
};

export const depthwiseBackpropFilter: KernelOfOurs = {
  kernelName: "DepthwiseConv2dNativeBackpropFilter",
  purpose: "from Conv2DBackpropFilter, masked to the depthwise blocks",
  wrapsOriginal: false,
  make: (tf, on) => makeFilter(tf, on),
};
