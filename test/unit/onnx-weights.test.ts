// Checkpoints (PyTorch state_dicts as safetensors) into an imported ONNX architecture and
// back out, the refusals of a checkpoint that does not fit, and the config's model.weights.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/coordinator/config/load.js";
import { loadOnnxModel } from "../../src/coordinator/onnx-model.js";
import { readOnnxModel } from "../../src/model/onnx/convert.js";
import { encodeStateDict, loadCheckpoint, stateDict } from "../../src/model/onnx/weights.js";
import { decodeSafetensors, encodeSafetensors, readSafetensorsFile, tensorAsFloat32 } from "../../src/model/safetensors.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "torch", "resnet-small");
const tmp = mkdtempSync(join(tmpdir(), "gradswarm-onnx-weights-"));

describe("checkpoints", () => {
  it("writes θ back as the state_dict it was loaded from, bit for bit, in PyTorch's layouts", async () => {
    const conv = await readOnnxModel(join(DIR, "model.onnx"));
    const ckpt = await readSafetensorsFile(join(DIR, "ckpt.safetensors"));
    const loaded = loadCheckpoint(conv.snapshot, conv.parameters, ckpt, "ckpt.safetensors");
    expect(loaded.skipped.length).toBeGreaterThan(0);
    expect(loaded.skipped.every((n) => n.endsWith(".num_batches_tracked"))).toBe(true);
    const back = decodeSafetensors(encodeStateDict(loaded.snapshot, conv.parameters), "written");
    expect(back.metadata).toEqual({ format: "pt" });
    for (const [name, t] of ckpt.tensors) {
      if (t.dtype !== "F32") continue;
      const w = back.tensors.get(name)!;
      expect(w.shape, name).toEqual(t.shape);
      expect(Buffer.from(tensorAsFloat32(w, name).buffer).equals(Buffer.from(tensorAsFloat32(t, name).buffer)), name).toBe(true);
    }
    expect(stateDict(loaded.snapshot, conv.parameters).map((t) => t.name).sort()).toEqual([...back.tensors.keys()].sort());
  });

  it("refuses a missing parameter, a wrong shape and a name the architecture lacks, all at once", async () => {
    const conv = await readOnnxModel(join(DIR, "model.onnx"));
    const good = stateDict(conv.snapshot, conv.parameters);
    const bad = good
      .filter((t) => t.name !== "bn1.running_mean")
      .map((t) => (t.name === "fc.bias" ? { ...t, shape: [t.data.length, 1] } : t))
      .concat([{ name: "head.weight", shape: [2], data: new Float32Array(2) }]);
    const file = decodeSafetensors(encodeSafetensors(bad), "bad.safetensors");
    expect(() => loadCheckpoint(conv.snapshot, conv.parameters, file, "bad.safetensors")).toThrow(
      /bad\.safetensors: the checkpoint does not fit the ONNX model: .*bn1\.running_mean \[8\] is missing.*fc\.bias has shape \[10,1\], the ONNX model's is \[10\].*head\.weight is not a parameter of the ONNX model/,
    );
  });
});

describe("model: {kind: onnx, weights}", () => {
  function config(weights: string): string {
    const file = join(tmp, `c-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      `model:\n  kind: onnx\n  path: ${join(DIR, "model.onnx")}\n  weights: ${weights}\ndata:\n  kind: npy\n  inputs: ${join(DIR, "x.npy")}\n  labels: ${join(DIR, "y.npy")}\n  classes: 10\npairs:\n  count: 4\n  batch_size: 8\n`,
    );
    return file;
  }

  it("names model.weights when its file is missing", () => {
    expect(() => loadConfig(config(join(tmp, "nope.safetensors")))).toThrow(/model\.weights.*file not found/);
  });

  it("refuses data whose examples do not have the ONNX input's shape, naming both", async () => {
    const cfg = loadConfig(config(join(DIR, "ckpt.safetensors")));
    const data = { name: "flat", n: 2, featureShape: [768], numClasses: 10, x: new Float32Array(1536), y: new Int32Array(2) };
    if (cfg.model.kind !== "onnx") throw new Error("an onnx model was configured");
    await expect(loadOnnxModel(cfg.model, cfg.file, data)).rejects.toThrow(/takes inputs \[N, 3, 16, 16\] \(as \[16, 16, 3\] per example after NCHW → NHWC\) but the examples of flat have shape \[768\]/);
  });
});
