// The ONNX converter without TensorFlow.js: what each fixture becomes (layer classes,
// names, layouts), the Identity aliases torch writes for deduplicated initializers, the
// layouts against index formulas, and every refusal on hand-built graphs (naming the node,
// its operator and what to do).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { convertOnnx, readOnnxModel } from "../../src/model/onnx/convert.js";
import { decodeOnnx } from "../../src/model/onnx/decode.js";
import { toTfjsLayout, toTorchLayout, type Layout } from "../../src/model/onnx/layout.js";
import { weightViews } from "../../src/model/snapshot.js";
import { onnxBytes, ramp, type ModelSpec } from "../helpers/onnx-build.js";

const TORCH = join(import.meta.dirname, "..", "fixtures", "torch");

type Json = Record<string, unknown>;
function layersOf(topology: Json): { class_name: string; name: string; config: Json }[] {
  return (topology.config as { layers: { class_name: string; name: string; config: Json }[] }).layers;
}

function convert(spec: ModelSpec) {
  return convertOnnx(decodeOnnx(onnxBytes(spec), "hand.onnx"), "hand.onnx");
}

/** x [N, 4] → Gemm(w [3, 4], b) → logits. */
function gemmSpec(extra: Partial<ModelSpec> = {}): ModelSpec {
  return {
    inputs: [{ name: "x", shape: ["N", 4] }],
    outputs: [{ name: "y", shape: ["N", 3] }],
    nodes: [{ op: "Gemm", inputs: ["x", "fc.weight", "fc.bias"], outputs: ["y"], name: "/fc/Gemm", attrs: { transB: { i: 1 } } }],
    initializers: [
      { name: "fc.weight", dims: [3, 4], values: ramp(12) },
      { name: "fc.bias", dims: [3], values: ramp(3, 5) },
    ],
    ...extra,
  };
}

describe("the fixtures' conversions", () => {
  it("cnn-bn: module-path layer names, PyTorch names, HWIO kernels and a row-permuted Dense after the C·H·W flatten", async () => {
    const c = await readOnnxModel(join(TORCH, "cnn-bn", "model.onnx"));
    const ref = JSON.parse(readFileSync(join(TORCH, "cnn-bn", "reference.json"), "utf8")) as { parameters: { name: string; shape: number[] }[] };
    expect(c.parameters.filter((p) => p.trainable).map((p) => p.name)).toEqual(ref.parameters.map((p) => p.name));
    expect(c.parameters.filter((p) => p.trainable).map((p) => p.shape)).toEqual(ref.parameters.map((p) => p.shape));
    const byName = new Map(c.parameters.map((p) => [p.name, p]));
    expect(byName.get("conv1.weight")).toMatchObject({ tfjs: "conv1/kernel", shape: [8, 3, 3, 3], tfjsShape: [3, 3, 3, 8], layout: { kind: "conv" } });
    expect(byName.get("bn1.weight")).toMatchObject({ tfjs: "bn1/gamma", trainable: true });
    expect(byName.get("bn1.running_var")).toMatchObject({ tfjs: "bn1/moving_variance", trainable: false });
    const fc = byName.get(ref.parameters.at(-2)!.name)!;
    expect(fc.layout).toEqual({ kind: "dense", transpose: true, rows: [8, 3, 3] });
    expect(c.inputShape).toEqual([3, 12, 12]);
    expect(c.tfjsInputShape).toEqual([12, 12, 3]);
    expect(c.classes).toBe(10);
    const classes = layersOf(c.snapshot.modelTopology).map((l) => l.class_name);
    expect(classes).toEqual(expect.arrayContaining(["InputLayer", "Conv2D", "BatchNormalization", "MaxPooling2D", "LeakyReLU", "Flatten", "Dense"]));
    expect(classes).not.toContain("Permute"); // the Dense takes the H·W·C order with permuted rows
  });

  it("cnn-bn: the Identity alias bn2.running_var is a weight of its own, with its initializer's values", async () => {
    const c = await readOnnxModel(join(TORCH, "cnn-bn", "model.onnx"));
    const views = weightViews(c.snapshot);
    const at = (tfjs: string) => views[c.snapshot.weights.findIndex((w) => w.name === tfjs)]!;
    expect(c.parameters.find((p) => p.name === "bn2.running_var")?.tfjs).toBe("bn2/moving_variance");
    expect(Array.from(at("bn2/moving_variance"))).toEqual(Array.from(at("bn1/moving_variance")));
    expect(at("bn2/moving_variance")).not.toBe(at("bn1/moving_variance"));
  });

  it("resnet-small: residual Adds in a functional model, GlobalAveragePooling2D, a Dense without permutation", async () => {
    const c = await readOnnxModel(join(TORCH, "resnet-small", "model.onnx"));
    expect(c.snapshot.modelTopology.class_name).toBe("Model");
    const classes = layersOf(c.snapshot.modelTopology).map((l) => l.class_name);
    expect(classes.filter((k) => k === "Add")).toHaveLength(2);
    expect(classes).toContain("GlobalAveragePooling2D");
    const dense = c.parameters.find((p) => p.layout.kind === "dense")!;
    expect(dense.layout).toEqual({ kind: "dense", transpose: true, rows: null });
    expect(new Set(layersOf(c.snapshot.modelTopology).map((l) => l.name)).size).toBe(layersOf(c.snapshot.modelTopology).length);
  });

  it("unsupported: Resize is refused, naming the node, the operator and what to do", async () => {
    await expect(readOnnxModel(join(TORCH, "unsupported", "model.onnx"))).rejects.toThrow(/node '\/up\/Resize' \(Resize\) is not supported: gradswarm imports Gemm, .*; export the model without it .* or open an issue/);
  });
});

describe("layouts", () => {
  it("conv OIHW → HWIO, depthwise [C·M,1,kH,kW] → [kH,kW,C,M], Dense rows C·H·W → H·W·C, and back", () => {
    // conv: tfjs[h][w][i][o] = torch[o][i][h][w]
    const [O, I, H, W] = [3, 2, 4, 5];
    const torch = Float32Array.from(ramp(O * I * H * W));
    const tf = toTfjsLayout({ shape: [O, I, H, W], layout: { kind: "conv" } }, torch);
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      expect(tf[((h * W + w) * I + i) * O + o]).toBe(torch[((o * I + i) * H + h) * W + w]);
    }
    expect(toTorchLayout({ shape: [O, I, H, W], layout: { kind: "conv" } }, tf)).toEqual(torch);
    // depthwise: tfjs[h][w][c][m] = torch[c·M + m][0][h][w]
    const [C, M] = [3, 2];
    const dw = Float32Array.from(ramp(C * M * H * W, 3));
    const dwTf = toTfjsLayout({ shape: [C * M, 1, H, W], layout: { kind: "depthwise", multiplier: M } }, dw);
    for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      expect(dwTf[((h * W + w) * C + c) * M + m]).toBe(dw[((c * M + m) * H + h) * W + w]);
    }
    expect(toTorchLayout({ shape: [C * M, 1, H, W], layout: { kind: "depthwise", multiplier: M } }, dwTf)).toEqual(dw);
    // Dense after a flatten of C×H×W: kernel[(h·W + w)·C + c][u] = weight[u][c·H·W + h·W + w]
    const U = 4;
    const n = C * H * W;
    const fc = Float32Array.from(ramp(U * n, 7));
    const layout: Layout = { kind: "dense", transpose: true, rows: [C, H, W] };
    const k = toTfjsLayout({ shape: [U, n], layout }, fc);
    for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let u = 0; u < U; u++) {
      expect(k[((h * W + w) * C + c) * U + u]).toBe(fc[u * n + (c * H + h) * W + w]);
    }
    expect(toTorchLayout({ shape: [U, n], layout }, k)).toEqual(fc);
  });
});

describe("hand-built graphs", () => {
  it("converts a Gemm (transB=1) and names its layer from the parameter", () => {
    const c = convert(gemmSpec());
    expect(c.parameters.map((p) => [p.name, p.tfjs, p.tfjsShape])).toEqual([
      ["fc.weight", "fc/kernel", [4, 3]],
      ["fc.bias", "fc/bias", [3]],
    ]);
    expect(c.droppedOutput).toBeNull();
  });

  it("absorbs the bias Add after a MatMul into the Dense", () => {
    const c = convert({
      inputs: [{ name: "x", shape: ["N", 4] }],
      outputs: [{ name: "y", shape: ["N", 3] }],
      nodes: [
        { op: "MatMul", inputs: ["x", "w"], outputs: ["h"] },
        { op: "Add", inputs: ["h", "fc.bias"], outputs: ["y"] },
      ],
      initializers: [
        { name: "w", dims: [4, 3], values: ramp(12) },
        { name: "fc.bias", dims: [3], values: ramp(3) },
      ],
    });
    expect(c.parameters.map((p) => p.name)).toEqual(["w", "fc.bias"]);
    expect(c.parameters[0]!.layout).toEqual({ kind: "dense", transpose: false, rows: null });
    expect(layersOf(c.snapshot.modelTopology).map((l) => l.class_name)).toEqual(["InputLayer", "Dense"]);
  });

  it("gives each Identity alias of an initializer its own weight", () => {
    const c = convert({
      inputs: [{ name: "x", shape: ["N", 3] }],
      outputs: [{ name: "y", shape: ["N", 3] }],
      nodes: [
        { op: "Identity", inputs: ["a.weight"], outputs: ["b.weight"] },
        { op: "Gemm", inputs: ["x", "a.weight"], outputs: ["h"], attrs: { transB: { i: 1 } } },
        { op: "Gemm", inputs: ["h", "b.weight"], outputs: ["y"], attrs: { transB: { i: 1 } } },
      ],
      initializers: [{ name: "a.weight", dims: [3, 3], values: ramp(9) }],
    });
    expect(c.parameters.map((p) => p.tfjs)).toEqual(["a/kernel", "b/kernel"]);
    const [a, b] = weightViews(c.snapshot);
    expect(Array.from(b!)).toEqual(Array.from(a!));
  });

  it("drops a final Softmax (the loss takes logits) but refuses one inside the network", () => {
    const final = gemmSpec();
    final.nodes[0]!.outputs = ["z"];
    final.nodes.push({ op: "Softmax", inputs: ["z"], outputs: ["y"], name: "/Softmax", attrs: { axis: { i: 1 } } });
    expect(convert(final).droppedOutput).toBe("Softmax");
    const inner = gemmSpec({ outputs: [{ name: "y", shape: ["N", 3] }] });
    inner.nodes[0]!.outputs = ["z"];
    inner.nodes.push({ op: "Softmax", inputs: ["z"], outputs: ["s"], name: "/Softmax" }, { op: "Relu", inputs: ["s"], outputs: ["y"] });
    expect(() => convert(inner)).toThrow(/node '\/Softmax' \(Softmax\): a Softmax inside the network is not supported/);
  });

  const refusals: [string, ModelSpec, RegExp][] = [
    ["an unknown operator", { ...gemmSpec(), nodes: [{ op: "Gemm", inputs: ["x", "fc.weight", "fc.bias"], outputs: ["h"], attrs: { transB: { i: 1 } } }, { op: "Selu", inputs: ["h"], outputs: ["y"], name: "/act/Selu" }] }, /hand\.onnx: node '\/act\/Selu' \(Selu\) is not supported: gradswarm imports .*open an issue/],
    ["two inputs", { ...gemmSpec(), inputs: [{ name: "x", shape: ["N", 4] }, { name: "x2", shape: ["N", 4] }] }, /the model has 2 inputs \(x, x2\)/],
    ["a dynamic dimension beyond the batch", { ...gemmSpec(), inputs: [{ name: "x", shape: ["N", "F"] }] }, /dynamic shapes other than the batch dimension are not supported/],
    ["a non-float32 weight", { ...gemmSpec(), initializers: [{ name: "fc.weight", dims: [3, 4], values: Array(12).fill(1), ints: true }, { name: "fc.bias", dims: [3], values: ramp(3) }] }, /node '\/fc\/Gemm' \(Gemm\): its weight 'fc.weight' is INT64; only float32 weights/],
    ["a scaled Gemm", { ...gemmSpec(), nodes: [{ op: "Gemm", inputs: ["x", "fc.weight", "fc.bias"], outputs: ["y"], name: "/fc/Gemm", attrs: { transB: { i: 1 }, alpha: { f: 2 } } }] }, /alpha=2, beta=1: gradswarm converts Gemm with alpha = beta = 1/],
    ["an opset below 13", { ...gemmSpec(), opset: 11 }, /opset 11; gradswarm reads opset 13 and later/],
    [
      "a shared weight",
      {
        inputs: [{ name: "x", shape: ["N", 3] }],
        outputs: [{ name: "y", shape: ["N", 3] }],
        nodes: [
          { op: "Gemm", inputs: ["x", "w"], outputs: ["h"], name: "/a", attrs: { transB: { i: 1 } } },
          { op: "Gemm", inputs: ["h", "w"], outputs: ["y"], name: "/b", attrs: { transB: { i: 1 } } },
        ],
        initializers: [{ name: "w", dims: [3, 3], values: ramp(9) }],
      },
      /node '\/b' \(Gemm\): its weight 'w' is also used by node '\/a' \(Gemm\): shared weights are not supported/,
    ],
  ];
  it.each(refusals)("refuses %s", (_, spec, message) => {
    expect(() => convert(spec)).toThrow(message);
  });

  /** x [N, 4, 6, 6] → one node → GlobalAveragePool → Flatten → Gemm. */
  function mapSpec(node: ModelSpec["nodes"][number], initializers: ModelSpec["initializers"], channels = 4): ModelSpec {
    return {
      inputs: [{ name: "x", shape: ["N", 4, 6, 6] }],
      outputs: [{ name: "y", shape: ["N", 2] }],
      nodes: [node, { op: "GlobalAveragePool", inputs: ["h"], outputs: ["p"] }, { op: "Flatten", inputs: ["p"], outputs: ["f"] }, { op: "Gemm", inputs: ["f", "fc.weight"], outputs: ["y"], attrs: { transB: { i: 1 } } }],
      initializers: [...initializers, { name: "fc.weight", dims: [2, channels], values: ramp(2 * channels) }],
    };
  }
  const bn = (mode: number): ModelSpec =>
    mapSpec({ op: "BatchNormalization", inputs: ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], outputs: ["h"], name: "/bn/BatchNormalization", attrs: { training_mode: { i: mode } } }, ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"].map((name) => ({ name, dims: [4], values: [1, 1, 1, 1] })));

  it("converts BatchNormalization in inference form and refuses training_mode=1", () => {
    const c = convert(bn(0));
    expect(c.parameters.map((p) => [p.tfjs, p.trainable])).toEqual([
      ["bn/gamma", true],
      ["bn/beta", true],
      ["bn/moving_mean", false],
      ["bn/moving_variance", false],
      ["fc/kernel", true],
    ]);
    expect(() => convert(bn(1))).toThrow(/node '\/bn\/BatchNormalization' \(BatchNormalization\): training_mode=1 \(batch statistics\) is not supported/);
  });

  it("converts a depthwise Conv with channel multiplier 2 and refuses other groups as not yet supported", () => {
    const dw = mapSpec({ op: "Conv", inputs: ["x", "dw.weight"], outputs: ["h"], name: "/dw/Conv", attrs: { group: { i: 4 }, kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } } }, [{ name: "dw.weight", dims: [8, 1, 3, 3], values: ramp(72) }], 8);
    const c = convert(dw);
    expect(c.parameters[0]).toMatchObject({ tfjs: "dw/depthwise_kernel", tfjsShape: [3, 3, 4, 2], layout: { kind: "depthwise", multiplier: 2 } });
    expect(layersOf(c.snapshot.modelTopology).find((l) => l.class_name === "DepthwiseConv2D")?.config).toMatchObject({ depth_multiplier: 2, padding: "same" });
    const grouped = mapSpec({ op: "Conv", inputs: ["x", "g.weight"], outputs: ["h"], name: "/g/Conv", attrs: { group: { i: 2 }, kernel_shape: { ints: [1, 1] } } }, [{ name: "g.weight", dims: [4, 2, 1, 1], values: ramp(8) }]);
    expect(() => convert(grouped)).toThrow(/node '\/g\/Conv' \(Conv\): group=2 on 4 channels is not yet supported/);
  });

  it("rewrites a stride-1 dilated Conv without TF.js's dilation and refuses a strided one", () => {
    const dil = (strides: number[]) =>
      mapSpec({ op: "Conv", inputs: ["x", "d.weight"], outputs: ["h"], name: "/d/Conv", attrs: { kernel_shape: { ints: [3, 3] }, dilations: { ints: [2, 2] }, pads: { ints: [2, 2, 2, 2] }, strides: { ints: strides } } }, [{ name: "d.weight", dims: [4, 4, 3, 3], values: ramp(144) }]);
    const convs = layersOf(convert(dil([1, 1])).snapshot.modelTopology).filter((l) => l.class_name === "Conv2D");
    expect(convs.map((l) => [l.name, l.config.dilation_rate, l.config.padding])).toEqual([["d", [1, 1], "valid"]]);
    expect(() => convert(dil([2, 2]))).toThrow(/node '\/d\/Conv' \(Conv\): dilation \[2,2\] with strides \[2,2\] is not yet supported/);
  });

  it("pads asymmetrically with ZeroPadding2D where 'same' would place the windows elsewhere", () => {
    const c = convert(mapSpec({ op: "Conv", inputs: ["x", "c.weight"], outputs: ["h"], attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 0, 1, 0] }, strides: { ints: [2, 2] } } }, [{ name: "c.weight", dims: [4, 4, 3, 3], values: ramp(144) }]));
    const layers = layersOf(c.snapshot.modelTopology);
    expect(layers.find((l) => l.class_name === "ZeroPadding2D")?.config.padding).toEqual([[1, 1], [0, 0]]);
    expect(layers.find((l) => l.class_name === "Conv2D")?.config.padding).toBe("valid");
  });

  it("refuses a max pooling whose pads TF.js cannot reproduce on values that may be negative", () => {
    const spec = mapSpec({ op: "MaxPool", inputs: ["x"], outputs: ["h"], name: "/pool/MaxPool", attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } } }, []);
    expect(() => convert(spec)).toThrow(/node '\/pool\/MaxPool' \(MaxPool\): pads \[1,1,1,1\] on a 6×6 map: TF.js pads max pooling only as 'same'/);
  });

  it("refuses an average pooling that leaves its padding out of the count (TF.js's gradient counts it)", () => {
    const spec = mapSpec({ op: "AveragePool", inputs: ["x"], outputs: ["h"], name: "/pool/AveragePool", attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } } }, []);
    expect(() => convert(spec)).toThrow(/node '\/pool\/AveragePool' \(AveragePool\): pads \[1,1,1,1\] with count_include_pad=0 are not yet supported/);
    spec.nodes[0]!.attrs!.count_include_pad = { i: 1 };
    expect(layersOf(convert(spec).snapshot.modelTopology).map((l) => l.class_name)).toEqual(expect.arrayContaining(["ZeroPadding2D", "AveragePooling2D"]));
  });

  it("refuses a Reshape that is not to [N, features], pointing to torch.flatten", () => {
    const spec: ModelSpec = {
      inputs: [{ name: "x", shape: ["N", 4, 2, 2] }],
      outputs: [{ name: "y", shape: ["N", 2] }],
      nodes: [
        { op: "Reshape", inputs: ["x", "shape"], outputs: ["r"], name: "/Reshape" },
        { op: "Flatten", inputs: ["r"], outputs: ["f"] },
        { op: "Gemm", inputs: ["f", "fc.weight"], outputs: ["y"], attrs: { transB: { i: 1 } } },
      ],
      initializers: [
        { name: "shape", dims: [3], values: [-1, 4, 4], ints: true },
        { name: "fc.weight", dims: [2, 16], values: ramp(32) },
      ],
    };
    expect(() => convert(spec)).toThrow(/node '\/Reshape' \(Reshape\): its target shape \[-1,4,4\] on \[N, 4,2,2\] is not \[N, 16\]: .*use torch.flatten\(x, 1\)/);
  });
});
