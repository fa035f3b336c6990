import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { loadMlp64FromLayersModel } from "../../src/model/reference64-load.js";
import { logits64, type Mlp64 } from "../../src/model/reference64.js";
import { rescaleTwin } from "../../src/model/rescale.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";

const SIZES = [784, 64, 32, 10];
const EXAMPLES = [0, 1, 2, 3, 4, 5, 6, 7];

/** An MLP snapshot with non-zero biases, so that rescaling the bias matters. */
function snapshot(activation: "relu" | "tanh" | "linear" = "relu", seed = 11): Snapshot {
  const s = mlpSnapshot({ layers: SIZES, activation, seed, init: "glorot_uniform" });
  const rng = new Rng(seed, 99);
  for (const [i, v] of weightViews(s).entries()) {
    if (s.weights[i]!.name.endsWith("/bias")) for (let k = 0; k < v.length; k++) v[k] = 0.2 * rng.nextNormal();
  }
  return s;
}

let dir: string;
let count = 0;
async function toMlp64(s: Snapshot): Promise<Mlp64> {
  const at = join(dir, `m${count++}`);
  await writeLayersModel(at, s);
  return loadMlp64FromLayersModel(at);
}

function softmaxRows(logits: Float64Array, classes: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[r * classes + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[r * classes + k]! - max);
    for (let k = 0; k < classes; k++) out[r * classes + k] = Math.exp(logits[r * classes + k]! - max) / sum;
  }
  return out;
}

/** Largest difference relative to the largest magnitude of each row. */
function maxRelativeDiff(a: Float64Array, b: Float64Array, width: number): number {
  let worst = 0;
  for (let r = 0; r < a.length / width; r++) {
    let scale = 0;
    for (let k = 0; k < width; k++) scale = Math.max(scale, Math.abs(a[r * width + k]!));
    for (let k = 0; k < width; k++) worst = Math.max(worst, Math.abs(a[r * width + k]! - b[r * width + k]!) / scale);
  }
  return worst;
}

function view(s: Snapshot, name: string): Float32Array {
  const i = s.weights.findIndex((w) => w.name === name);
  return weightViews(s)[i]!;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gradswarm-rescale-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("rescaleTwin", () => {
  const data = makeSyntheticDataset({ n: EXAMPLES.length, features: 784, classes: 10, seed: 5 });

  for (const layer of [0, 1]) {
    for (const alpha of [0.1, 0.5, 2, 10]) {
      it(`layer ${layer}, α = ${alpha}: same logits and probabilities, different weights`, async () => {
        const s = snapshot();
        const twin = rescaleTwin(s, layer, alpha);
        const m = await toMlp64(s);
        const t = await toMlp64(twin);
        const a = logits64(m, data.x, EXAMPLES, 784);
        const b = logits64(t, data.x, EXAMPLES, 784);
        expect(maxRelativeDiff(a, b, 10)).toBeLessThan(1e-6);
        expect(maxRelativeDiff(softmaxRows(a, 10), softmaxRows(b, 10), 10)).toBeLessThan(1e-6);

        // The weights did change, exactly where they should.
        const here = `dense_${layer + 1}`;
        const next = `dense_${layer + 2}`;
        const k0 = view(s, `${here}/kernel`);
        const k1 = view(twin, `${here}/kernel`);
        const b0 = view(s, `${here}/bias`);
        const b1 = view(twin, `${here}/bias`);
        const n0 = view(s, `${next}/kernel`);
        const n1 = view(twin, `${next}/kernel`);
        for (let i = 0; i < k0.length; i += 97) expect(k1[i]).toBe(Math.fround(k0[i]! * alpha));
        for (let i = 0; i < b0.length; i++) expect(b1[i]).toBe(Math.fround(b0[i]! * alpha));
        for (let i = 0; i < n0.length; i += 13) expect(n1[i]).toBe(Math.fround(n0[i]! * (1 / alpha)));
        expect(view(twin, `${next}/bias`)).toEqual(view(s, `${next}/bias`));
        let changed = 0;
        for (let i = 0; i < s.data.length; i++) if (s.data[i] !== twin.data[i]) changed++;
        expect(changed).toBeGreaterThan(k0.length / 2);
        // θ itself is untouched.
        expect(s.data).toEqual(snapshot().data);
      });
    }
  }

  it("keeps the topology and weight specs", () => {
    const s = snapshot();
    const twin = rescaleTwin(s, 1, 3);
    expect(twin.modelTopology).toEqual(s.modelTopology);
    expect(twin.weights).toEqual(s.weights);
    expect(twin.data.length).toBe(s.data.length);
    expect(twin.data).not.toBe(s.data);
  });

  it("works on a linear hidden layer", async () => {
    const s = snapshot("linear");
    const m = await toMlp64(s);
    const t = await toMlp64(rescaleTwin(s, 0, 7));
    expect(maxRelativeDiff(logits64(m, data.x, EXAMPLES, 784), logits64(t, data.x, EXAMPLES, 784), 10)).toBeLessThan(1e-6);
  });

  it("refuses a tanh layer, naming the layer and the activation", () => {
    expect(() => rescaleTwin(snapshot("tanh"), 0, 2)).toThrow(/layer 0 \(dense_1\).*"tanh"/);
  });

  it("refuses alpha ≤ 0 or not finite", () => {
    const s = snapshot();
    for (const alpha of [0, -1, Number.NaN, Infinity]) expect(() => rescaleTwin(s, 0, alpha)).toThrow(/alpha/);
  });

  it("refuses the last Dense layer and indices out of range", () => {
    const s = snapshot();
    expect(() => rescaleTwin(s, 2, 2)).toThrow(/layer 2 \(dense_3.*last Dense layer/);
    expect(() => rescaleTwin(s, 3, 2)).toThrow(/not a Dense layer index/);
    expect(() => rescaleTwin(s, -1, 2)).toThrow(/not a Dense layer index/);
  });

  it("refuses a rescaling that overflows float32", () => {
    const s = snapshot();
    expect(() => rescaleTwin(s, 0, 1e39)).toThrow(/not a finite float32/);
  });

  it("refuses a non-homogeneous layer between the two Dense layers", () => {
    const s = snapshot();
    const topology = structuredClone(s.modelTopology) as { config: { layers: unknown[] } };
    topology.config.layers.splice(1, 0, { class_name: "Activation", config: { name: "act", activation: "tanh" } });
    expect(() => rescaleTwin({ ...s, modelTopology: topology }, 0, 2)).toThrow(/act \(Activation, activation "tanh"\)/);
    const ok = structuredClone(s.modelTopology) as { config: { layers: unknown[] } };
    ok.config.layers.splice(1, 0, { class_name: "Dropout", config: { name: "drop", rate: 0.5 } });
    expect(() => rescaleTwin({ ...s, modelTopology: ok }, 0, 2)).not.toThrow();
  });
});
