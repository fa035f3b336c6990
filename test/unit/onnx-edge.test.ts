// The importer's edge cases through the worker's GradientEngine (cpu and wasm backends), against PyTorch float64
// (test/fixtures/onnx-edge, scripts/make-onnx-edge-fixtures.py): a Permute where PyTorch's
// C·H·W order is needed by a non-Dense consumer (BatchNorm1d after flatten + ReLU),
// ReLU6 as Relu → Clip, Concat, Sigmoid, average pooling counting its padding, a
// depthwise conv with channel multiplier 2 and stride 2; asymmetric conv padding, max
// pooling after a ReLU with zero padding and on any values with 'same', counted-padding average pooling (Pad), the
// x.view(x.size(0), -1) shape subgraph, a final LogSoftmax; GELU's erf form; dilated
// convolutions (rewritten as one Conv2D over the dilation phases stacked).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { logitsTopology } from "../../src/model/logits-topology.js";
import { readOnnxModel } from "../../src/model/onnx/convert.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "onnx-edge");
const TOLERANCE = 1e-4;

interface EdgeReference {
  x: number[];
  shape: number[];
  y: number[];
  classes: number;
  output: number[][];
  log_softmax_output: boolean;
  loss: number;
  sq_norm: Record<string, number>;
}


/** The reference's examples as a dataset, NCHW → NHWC. */
function datasetOf(ref: EdgeReference): Dataset {
  const [n, ...rest] = ref.shape as [number, ...number[]];
  let x = Float32Array.from(ref.x);
  let featureShape = rest;
  if (rest.length === 3) {
    const [c, h, w] = rest as [number, number, number];
    const out = new Float32Array(x.length);
    for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) out[((i * h + y) * w + xx) * c + ch] = x[((i * c + ch) * h + y) * w + xx]!;
    x = out;
    featureShape = [h, w, c];
  }
  return { name: "edge", n, featureShape, numClasses: ref.classes, x, y: Int32Array.from(ref.y) };
}

const CASES: [string, string[]][] = [
  ["misc", ["Permute", "Concatenate", "DepthwiseConv2D", "ZeroPadding2D", "AveragePooling2D"]],
  ["pools", ["ZeroPadding2D", "MaxPooling2D", "AveragePooling2D", "LeakyReLU"]],
  ["gelu", ["Dense", "Activation"]],
  ["dilated", ["Conv2D", "Permute", "Reshape", "Cropping2D", "ZeroPadding2D"]],
];

// The wasm backend too: its max-pooling gradient where 'same' pads (values of any sign,
// "pools") is our kernel (src/worker/wasm/), not tfjs-backend-wasm's.
describe.each(["cpu", "wasm"] as const)("on %s", (backend) => {
beforeAll(async () => {
  await selectBackend(tf, backend);
  expect(tf.getBackend()).toBe(backend);
});

describe.each(CASES)("%s", (name, classes) => {
  it("computes PyTorch's logits, loss and per-parameter gradient norms (float64) to 1e-4", async () => {
    const ref = JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8")) as EdgeReference;
    const conv = await readOnnxModel(join(DIR, `${name}.onnx`));
    const layers = (conv.snapshot.modelTopology.config as { layers: { class_name: string; config: { activation?: string } }[] }).layers;
    expect(layers.map((l) => l.class_name)).toEqual(expect.arrayContaining(classes));
    if (name === "gelu") expect(layers.some((l) => l.config.activation === "gelu")).toBe(true);
    if (name === "pools") {
      expect(conv.droppedOutput).toBe("LogSoftmax");
      expect(layers.filter((l) => l.class_name === "MaxPooling2D").map((l) => (l.config as { padding?: string }).padding)).toEqual(["valid", "same"]);
    }
    const ds = datasetOf(ref);
    const s = conv.snapshot;
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: logitsTopology(s.modelTopology) as never, weightSpecs: s.weights.map((w) => ({ ...w, dtype: "float32" as const })), weightData: s.data.slice().buffer }));
    const xb = tf.tensor(ds.x, [ds.n, ...ds.featureShape]);
    const z = model.apply(xb, { training: false }) as tf.Tensor;
    const out = (await (ref.log_softmax_output ? tf.logSoftmax(z) : z).array()) as number[][];
    const scale = Math.max(...ref.output.flat().map(Math.abs));
    ref.output.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(out[i]![j]! - v) / scale, `${name} output [${i}, ${j}]`).toBeLessThan(TOLERANCE)));
    tf.dispose([xb, z]);
    model.dispose();
    const engine = await GradientEngine.create(tf, s, ds);
    const g = await engine.minibatchGradient(Array.from({ length: ds.n }, (_, i) => i));
    expect(Math.abs(g.loss - ref.loss) / ref.loss).toBeLessThan(TOLERANCE);
    const torchName = new Map(conv.parameters.map((p) => [p.tfjs, p.name]));
    expect(engine.weightNames.map((w) => torchName.get(w)).sort()).toEqual(Object.keys(ref.sq_norm).sort());
    engine.weightNames.forEach((w, t) => {
      const sq = g.grads[t]!.reduce((a, v) => a + v * v, 0);
      const want = ref.sq_norm[torchName.get(w)!]!;
      expect(Math.abs(sq - want) / want, `${name} ${torchName.get(w)} ‖g‖²`).toBeLessThan(TOLERANCE);
    });
    engine.dispose();
  });
});
});
