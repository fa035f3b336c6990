// `coordinator run` on the embedded default with an ONNX model (test/fixtures/torch/cnn-bn,
// exported by PyTorch): results.json names tensors and layers as PyTorch does and lists the
// measured parameters; model.safetensors holds θ under PyTorch's names and layouts,
// bit for bit the checkpoint it was given.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, tensorAsFloat32 } from "../../src/model/safetensors.js";
import { distFile } from "../../src/util/package-root.js";

const CLI = distFile("coordinator/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "gradswarm-onnx-"));
const FIXTURE = resolve("test/fixtures/torch/cnn-bn");

function run(name: string, weights: string | null, model = join(FIXTURE, "model.onnx")) {
  const cfg = join(tmp, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      "model:",
      "  kind: onnx",
      `  path: ${model}`,
      ...(weights ? [`  weights: ${join(FIXTURE, weights)}`] : []),
      "data:",
      "  kind: npy",
      `  inputs: ${join(FIXTURE, "x.npy")}`,
      `  labels: ${join(FIXTURE, "y.npy")}`,
      "  layout: nchw",
      "  classes: 10",
      "pairs:",
      "  count: 8",
      "  batch_size: 8",
      "  per_task: 4",
      "workers:",
      "  local: 1",
      "  backend: cpu",
      "",
    ].join("\n"),
  );
  const out = join(tmp, name);
  const r = spawnSync(process.execPath, [CLI, "run", cfg, "--out", out], { encoding: "utf8", timeout: 120_000 });
  return { r, out };
}

function checkpoint(path: string): Map<string, Float32Array> {
  const file = decodeSafetensors(readFileSync(path), path);
  return new Map([...file.tensors].filter(([, t]) => t.dtype === "F32").map(([n, t]) => [n, tensorAsFloat32(t, n)]));
}

describe("coordinator run with model: {kind: onnx}", () => {
  const reference = JSON.parse(readFileSync(join(FIXTURE, "reference.json"), "utf8")) as { parameters: { name: string; shape: number[] }[] };
  const trainable = reference.parameters.map((p) => p.name);

  it("reports per tensor and per layer under PyTorch's names, and which parameters were measured", () => {
    const { r, out } = run("onnx", null);
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    expect(Object.keys(results.tensors).sort()).toEqual([...trainable].sort());
    const modules = [...new Set(trainable.map((n) => n.slice(0, n.lastIndexOf("."))))];
    expect(Object.keys(results.layers).sort()).toEqual(modules.sort());
    expect(results.run.snapshot.gradient_tensors).toEqual(Object.keys(results.tensors));
    expect(results.model.format).toBe("onnx");
    expect(results.model.parameters.map((p: { name: string }) => p.name).sort()).toEqual([...trainable].sort());
    for (const p of results.model.parameters) {
      expect(p.shape).toEqual(reference.parameters.find((q) => q.name === p.name)!.shape);
      expect(p.count).toBe(p.shape.reduce((a: number, b: number) => a * b, 1));
    }
    expect(results.model.buffers.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["bn1.running_mean", "bn2.running_var"]));
    const pairs = readFileSync(join(out, "pairs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(Object.keys(pairs[0].layers).sort()).toEqual(modules.sort());
    // θ written back for PyTorch: the ONNX file's weights, which weights.safetensors holds.
    const written = checkpoint(join(out, "model.safetensors"));
    const given = checkpoint(join(FIXTURE, "weights.safetensors"));
    expect([...written.keys()].sort()).toEqual([...given.keys()].sort());
    for (const [n, v] of given) expect(Buffer.from(written.get(n)!.buffer).equals(Buffer.from(v.buffer)), n).toBe(true);
  });

  it("measures a checkpoint given as model.weights and writes it back unchanged", () => {
    const { r, out } = run("ckpt", "ckpt.safetensors");
    expect(r.status, r.stderr).toBe(0);
    const written = checkpoint(join(out, "model.safetensors"));
    const given = checkpoint(join(FIXTURE, "ckpt.safetensors"));
    expect([...written.keys()].sort()).toEqual([...given.keys()].sort());
    for (const [n, v] of given) expect(Buffer.from(written.get(n)!.buffer).equals(Buffer.from(v.buffer)), n).toBe(true);
    const a = JSON.parse(readFileSync(join(tmp, "onnx", "results.json"), "utf8"));
    const b = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    expect(b.run.snapshot.hash).not.toBe(a.run.snapshot.hash);
  });

  it("refuses an unsupported operator before anything starts, naming the node", () => {
    const { r } = run("unsupported", null, resolve("test/fixtures/torch/unsupported/model.onnx"));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/node '[^']*Resize[^']*' \(Resize\) is not supported/);
    expect(r.stderr).not.toContain("embedded nats-server");
  });
});
