import { describe, expect, it } from "vitest";
import {
  ACTIVATIONS,
  evaluate64,
  flattenGradient,
  logits64,
  lossAndGradient,
  parameterCount,
  perExampleGradients,
  type Activation,
  type Mlp64,
} from "../../src/model/reference64.js";
import { Rng } from "../../src/util/rng.js";

const FEATURES = 5;

function randomMlp(sizes: number[], hidden: Activation, seed: number, opts: { output?: Activation; noBias?: number[] } = {}): Mlp64 {
  const rng = new Rng(seed);
  return {
    layers: sizes.slice(1).map((units, l) => {
      const inputs = sizes[l]!;
      const isLast = l === sizes.length - 2;
      const hasBias = !(opts.noBias ?? []).includes(l);
      return {
        name: `dense_${l + 1}`,
        kernel: Float64Array.from({ length: inputs * units }, () => rng.nextNormal() / Math.sqrt(inputs)),
        bias: Float64Array.from({ length: hasBias ? units : 0 }, () => 0.3 * rng.nextNormal()),
        inputs,
        units,
        activation: isLast ? (opts.output ?? "linear") : hidden,
      };
    }),
  };
}

function randomData(n: number, classes: number, seed: number): { x: Float64Array; y: Int32Array } {
  const rng = new Rng(seed, 9);
  return {
    x: Float64Array.from({ length: n * FEATURES }, () => rng.nextNormal()),
    y: Int32Array.from({ length: n }, () => rng.nextInt(classes)),
  };
}

/** All parameters as views, in flattenGradient order. */
function parameters(model: Mlp64): Float64Array[] {
  return model.layers.flatMap((l) => [l.kernel, l.bias]);
}

function finiteDifferences(model: Mlp64, x: Float64Array, y: Int32Array, indices: number[], h = 1e-6): Float64Array {
  const out: number[] = [];
  for (const p of parameters(model)) {
    for (let i = 0; i < p.length; i++) {
      const keep = p[i]!;
      p[i] = keep + h;
      const up = lossAndGradient(model, x, y, indices, FEATURES).loss;
      p[i] = keep - h;
      const down = lossAndGradient(model, x, y, indices, FEATURES).loss;
      p[i] = keep;
      out.push((up - down) / (2 * h));
    }
  }
  return Float64Array.from(out);
}

function relativeError(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe("reference64 float64 MLP", () => {
  const { x, y } = randomData(12, 3, 1);
  const batch = [0, 3, 4, 7, 11];

  for (const activation of ACTIVATIONS) {
    it(`matches central finite differences (5-4-3-3, ${activation})`, () => {
      const model = randomMlp([5, 4, 3, 3], activation, 42);
      const { loss, grads } = lossAndGradient(model, x, y, batch, FEATURES);
      expect(Number.isFinite(loss)).toBe(true);
      const g = flattenGradient(grads);
      expect(g.length).toBe(parameterCount(model));
      expect(g.length).toBe(5 * 4 + 4 + 4 * 3 + 3 + 3 * 3 + 3);
      const fd = finiteDifferences(model, x, y, batch);
      expect(relativeError(fd, g)).toBeLessThan(1e-6);
    });
  }

  it("matches finite differences with a bias-free layer and a non-linear output", () => {
    const model = randomMlp([5, 4, 3, 3], "elu", 5, { output: "sigmoid", noBias: [1] });
    const g = flattenGradient(lossAndGradient(model, x, y, batch, FEATURES).grads);
    expect(g.length).toBe(5 * 4 + 4 + 4 * 3 + 3 * 3 + 3);
    expect(relativeError(finiteDifferences(model, x, y, batch), g)).toBeLessThan(1e-6);
  });

  it("gives a minibatch gradient equal to the mean of per-example gradients", () => {
    for (const activation of ACTIVATIONS) {
      const model = randomMlp([5, 6, 4, 3], activation, 3);
      const indices = [1, 2, 2, 5, 8, 9, 10];
      const { loss, grads } = lossAndGradient(model, x, y, indices, FEATURES);
      const per = perExampleGradients(model, x, y, indices, FEATURES);
      expect(per.length).toBe(indices.length);
      const mean = new Float64Array(parameterCount(model));
      let meanLoss = 0;
      for (const p of per) {
        const f = flattenGradient(p.grads);
        for (let i = 0; i < f.length; i++) mean[i]! += f[i]! / indices.length;
        meanLoss += p.loss / indices.length;
      }
      const g = flattenGradient(grads);
      for (let i = 0; i < g.length; i++) expect(Math.abs(g[i]! - mean[i]!)).toBeLessThan(1e-12);
      expect(Math.abs(loss - meanLoss)).toBeLessThan(1e-12);
    }
  });

  it("computes the loss stably for large logits", () => {
    const model: Mlp64 = {
      layers: [{ name: "out", kernel: new Float64Array(FEATURES * 3), bias: Float64Array.from([1000, 0, -1000]), inputs: FEATURES, units: 3, activation: "linear" }],
    };
    const xs = new Float64Array(2 * FEATURES);
    const ys = Int32Array.from([0, 1]);
    const { loss, grads } = lossAndGradient(model, xs, ys, [0, 1], FEATURES);
    // example 0: lse − 1000 ≈ 0; example 1: lse − 0 ≈ 1000.
    expect(loss).toBeCloseTo(500, 10);
    // (softmax − one-hot) / 2 per example: ex. 0 ≈ (0, 0, 0), ex. 1 ≈ (1, −1, 0) / 2.
    const gb = Array.from(grads[0]!.bias);
    [0.5, -0.5, 0].forEach((v, k) => expect(gb[k]).toBeCloseTo(v, 12));
    expect(evaluate64(model, xs, ys, [0, 1], FEATURES)).toEqual({ loss, accuracy: 0.5 });
  });

  it("accepts float32 features and computes logits", () => {
    const model = randomMlp([5, 4, 3], "relu", 8);
    const x32 = Float32Array.from(x);
    const a = logits64(model, x32, [2, 3], FEATURES);
    const b = logits64(model, Float64Array.from(x32), [2, 3], FEATURES);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.length).toBe(6);
  });

  it("rejects bad inputs", () => {
    const model = randomMlp([5, 4, 3], "relu", 8);
    expect(() => lossAndGradient(model, x, y, [12], FEATURES)).toThrow(/index 12/);
    expect(() => lossAndGradient(model, x, y, [], FEATURES)).toThrow(/empty/);
    expect(() => lossAndGradient(model, x, Int32Array.from(y, () => 3), [0], FEATURES)).toThrow(/label 3/);
    expect(() => lossAndGradient(model, x, y, [0], 4)).toThrow(/featureSize/);
    const broken: Mlp64 = { layers: [model.layers[0]!, { ...model.layers[1]!, inputs: 5, kernel: new Float64Array(15) }] };
    expect(() => lossAndGradient(broken, x, y, [0], FEATURES)).toThrow(/layer before has 4 units/);
  });
});
