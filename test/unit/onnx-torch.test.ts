// The ONNX import checked against PyTorch in float64: for every fixture model of
// test/fixtures/torch (scripts/make-torch-fixtures.py), the worker's GradientEngine on the
// converted model, on the fixture's data, gives the logits, losses, per-parameter squared
// gradient norms and dot products that PyTorch computed in float64, to 1e-4 relative —
// with the weights in the ONNX file (= weights.safetensors) and with ckpt.safetensors
// loaded by name through model.weights' loader.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/dataset.js";
import { loadNpyDataset } from "../../src/data/npy-dataset.js";
import { logitsTopology } from "../../src/model/logits-topology.js";
import { readOnnxModel, type OnnxConversion } from "../../src/model/onnx/convert.js";
import { loadCheckpoint } from "../../src/model/onnx/weights.js";
import { readSafetensorsFile } from "../../src/model/safetensors.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import { selectBackend } from "../../src/worker/backend.js";
import { GradientEngine } from "../../src/worker/gradients.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "torch");
const MODELS = ["mlp", "cnn-bn", "resnet-small", "depthwise"];
const TOLERANCE = 1e-4;

interface Reference {
  layout: "nchw" | "flat";
  classes: number;
  parameters: { name: string; shape: number[] }[];
  logits: number[][];
  pairs: {
    b1: number[];
    b2: number[];
    loss1: number;
    loss2: number;
    sq_norm1: Record<string, number>;
    sq_norm2: Record<string, number>;
    dot: Record<string, number>;
    total: { sq_norm1: number; sq_norm2: number; dot: number };
  }[];
}

const worst = new Map<string, number>();
function rel(got: number, want: number, key: string): number {
  const e = Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
  worst.set(key, Math.max(worst.get(key) ?? 0, e));
  return e;
}

beforeAll(async () => {
  await selectBackend(tf, "cpu");
});
afterAll(() => {
  console.log(`onnx-torch.test.ts, largest relative errors vs PyTorch float64:\n${[...worst].map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join("\n")}`);
});

async function logitsOf(snapshot: Snapshot, ds: Dataset, n: number): Promise<number[][]> {
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: logitsTopology(snapshot.modelTopology) as never, weightSpecs: snapshot.weights.map((w) => ({ ...w, dtype: "float32" as const })), weightData: snapshot.data.slice().buffer }),
  );
  const size = ds.x.length / ds.n;
  const x = tf.tensor(ds.x.subarray(0, n * size), [n, ...ds.featureShape]);
  const y = model.apply(x, { training: false }) as tf.Tensor;
  const out = (await y.array()) as number[][];
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

/** Compares the engine's numbers on θ = snapshot with a reference file. */
async function compare(name: string, conv: OnnxConversion, snapshot: Snapshot, ds: Dataset, ref: Reference, tag: string): Promise<void> {
  const logits = await logitsOf(snapshot, ds, ref.logits.length);
  const scale = Math.max(...ref.logits.flat().map(Math.abs));
  ref.logits.forEach((row, i) => row.forEach((v, j) => {
    const e = Math.abs(logits[i]![j]! - v) / scale;
    worst.set(`${tag} logits`, Math.max(worst.get(`${tag} logits`) ?? 0, e));
    expect(e, `${name} logit [${i}, ${j}]`).toBeLessThan(TOLERANCE);
  }));
  const engine = await GradientEngine.create(tf, snapshot, ds);
  try {
    // The engine's trainable tensors are the reference's parameters, by PyTorch name.
    const torchName = new Map(conv.parameters.map((p) => [p.tfjs, p.name]));
    const names = engine.weightNames.map((w) => torchName.get(w)!);
    expect([...names].sort()).toEqual(ref.parameters.map((p) => p.name).sort());
    for (const [k, pair] of ref.pairs.entries()) {
      const g1 = await engine.minibatchGradient(pair.b1);
      const g2 = await engine.minibatchGradient(pair.b2);
      expect(rel(g1.loss, pair.loss1, `${tag} loss`), `${name} pair ${k} loss1`).toBeLessThan(TOLERANCE);
      expect(rel(g2.loss, pair.loss2, `${tag} loss`), `${name} pair ${k} loss2`).toBeLessThan(TOLERANCE);
      const totals = { sq_norm1: 0, sq_norm2: 0, dot: 0 };
      names.forEach((p, t) => {
        let s1 = 0;
        let s2 = 0;
        let d = 0;
        const a = g1.grads[t]!;
        const b = g2.grads[t]!;
        for (let i = 0; i < a.length; i++) {
          s1 += a[i]! * a[i]!;
          s2 += b[i]! * b[i]!;
          d += a[i]! * b[i]!;
        }
        totals.sq_norm1 += s1;
        totals.sq_norm2 += s2;
        totals.dot += d;
        expect(rel(s1, pair.sq_norm1[p]!, `${tag} per-parameter ‖g‖²`), `${name} pair ${k} ${p} sq_norm1`).toBeLessThan(TOLERANCE);
        expect(rel(s2, pair.sq_norm2[p]!, `${tag} per-parameter ‖g‖²`), `${name} pair ${k} ${p} sq_norm2`).toBeLessThan(TOLERANCE);
        // A dot product can be near 0 by cancellation: relative to ‖g₁‖‖g₂‖ then.
        const dotScale = Math.max(Math.abs(pair.dot[p]!), Math.sqrt(pair.sq_norm1[p]! * pair.sq_norm2[p]!) * 1e-2);
        const e = Math.abs(d - pair.dot[p]!) / dotScale;
        worst.set(`${tag} per-parameter g₁·g₂`, Math.max(worst.get(`${tag} per-parameter g₁·g₂`) ?? 0, e));
        expect(e, `${name} pair ${k} ${p} dot`).toBeLessThan(TOLERANCE);
      });
      expect(rel(totals.sq_norm1, pair.total.sq_norm1, `${tag} total`)).toBeLessThan(TOLERANCE);
      expect(rel(totals.sq_norm2, pair.total.sq_norm2, `${tag} total`)).toBeLessThan(TOLERANCE);
      expect(rel(totals.dot, pair.total.dot, `${tag} total`)).toBeLessThan(TOLERANCE);
    }
  } finally {
    engine.dispose();
  }
}

describe.each(MODELS)("%s", (name) => {
  const dir = join(FIXTURES, name);
  let conv: OnnxConversion;
  let ds: Dataset;
  beforeAll(async () => {
    conv = await readOnnxModel(join(dir, "model.onnx"));
    const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Reference;
    ds = await loadNpyDataset(join(dir, "x.npy"), join(dir, "y.npy"), { layout: ref.layout, classes: ref.classes });
  });

  it("matches PyTorch float64 with the ONNX file's weights", async () => {
    const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Reference;
    await compare(name, conv, conv.snapshot, ds, ref, "onnx weights");
  });

  it("holds exactly weights.safetensors (loaded by name) as its weights", async () => {
    const loaded = loadCheckpoint(conv.snapshot, conv.parameters, await readSafetensorsFile(join(dir, "weights.safetensors")), "weights.safetensors");
    expect(Buffer.from(loaded.snapshot.data.buffer).equals(Buffer.from(conv.snapshot.data.buffer))).toBe(true);
    expect(loaded.skipped.every((s) => s.endsWith("num_batches_tracked"))).toBe(true);
  });

  it("matches PyTorch float64 with ckpt.safetensors loaded by name", async () => {
    const ref = JSON.parse(readFileSync(join(dir, "reference-ckpt.json"), "utf8")) as Reference;
    const loaded = loadCheckpoint(conv.snapshot, conv.parameters, await readSafetensorsFile(join(dir, "ckpt.safetensors")), "ckpt.safetensors");
    await compare(name, conv, loaded.snapshot, ds, ref, "ckpt");
  });
});

