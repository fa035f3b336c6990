import { describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../../src/data/synthetic.js";
import { landscapeCsv, planGrid, pointOnGrid, randomDirection } from "../../src/measures/landscape.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { evaluate64, type Mlp64 } from "../../src/model/reference64.js";
import { rescaleTwin } from "../../src/model/rescale.js";
import { weightViews, type Snapshot } from "../../src/model/snapshot.js";
import { Rng } from "../../src/util/rng.js";

const SIZES = [784, 64, 32, 10];

function snapshot(seed = 3): Snapshot {
  const s = mlpSnapshot({ layers: SIZES, activation: "relu", seed, init: "glorot_uniform" });
  const rng = new Rng(seed, 77);
  for (const [i, v] of weightViews(s).entries()) {
    if (s.weights[i]!.name.endsWith("/bias")) for (let k = 0; k < v.length; k++) v[k] = 0.1 * rng.nextNormal();
  }
  return s;
}

/** θ (a flat vector laid out like `s`) as a float64 relu MLP with linear logits. */
function toMlp64(s: Snapshot, data: Float32Array = s.data): Mlp64 {
  const layers: Mlp64["layers"] = [];
  let offset = 0;
  for (let i = 0; i < s.weights.length; i += 2) {
    const [inputs, units] = s.weights[i]!.shape as [number, number];
    const kernel = Float64Array.from(data.subarray(offset, offset + inputs * units));
    offset += inputs * units;
    const bias = Float64Array.from(data.subarray(offset, offset + units));
    offset += units;
    layers.push({ name: `dense_${i / 2 + 1}`, kernel, bias, inputs, units, activation: i + 2 < s.weights.length ? "relu" : "linear" });
  }
  return { layers };
}

/** Per weight: its view in `v` (a vector laid out like s). */
function views(s: Snapshot, v: Float32Array): Map<string, { view: Float32Array; shape: number[] }> {
  const out = new Map<string, { view: Float32Array; shape: number[] }>();
  let offset = 0;
  for (const w of s.weights) {
    const n = w.shape.reduce((a, d) => a * d, 1);
    out.set(w.name, { view: v.subarray(offset, offset + n), shape: w.shape });
    offset += n;
  }
  return out;
}

function columnNorms(v: Float32Array, shape: number[]): Float64Array {
  const out = shape[shape.length - 1]!;
  const sq = new Float64Array(out);
  for (let k = 0; k < v.length; k++) sq[k % out]! += v[k]! * v[k]!;
  return sq.map(Math.sqrt);
}

function kernelNorm(s: Snapshot, v: Float32Array): number {
  let sq = 0;
  for (const [name, { view }] of views(s, v)) if (name.endsWith("/kernel")) for (const x of view) sq += x * x;
  return Math.sqrt(sq);
}

describe("randomDirection", () => {
  const s = snapshot();

  it("is determined by (seed, stream)", () => {
    for (const norm of ["filter", "none"] as const) {
      const a = randomDirection(s, 42, 1, norm);
      expect(randomDirection(s, 42, 1, norm)).toEqual(a);
      expect(randomDirection(s, 42, 2, norm)).not.toEqual(a);
      expect(randomDirection(s, 43, 1, norm)).not.toEqual(a);
      expect(a.length).toBe(s.data.length);
    }
  });

  it("filter: every column has θ's column norm, biases are zero", () => {
    const d = randomDirection(s, 7, 0, "filter");
    const dv = views(s, d);
    for (const [name, { view, shape }] of views(s, s.data)) {
      const mine = dv.get(name)!.view;
      if (name.endsWith("/bias")) {
        expect(mine.every((x) => x === 0)).toBe(true);
        continue;
      }
      const want = columnNorms(view, shape);
      const got = columnNorms(mine, shape);
      expect(got.length).toBe(shape[1]);
      for (let j = 0; j < want.length; j++) expect(Math.abs(got[j]! - want[j]!) / want[j]!).toBeLessThan(1e-6);
    }
  });

  it("none: ‖d‖ = ‖θ‖ over the kernels, biases are zero, columns not normalized", () => {
    const d = randomDirection(s, 7, 0, "none");
    expect(Math.abs(kernelNorm(s, d) - kernelNorm(s, s.data)) / kernelNorm(s, s.data)).toBeLessThan(1e-6);
    for (const [name, { view }] of views(s, d)) if (name.endsWith("/bias")) expect(view.every((x) => x === 0)).toBe(true);
    // The same Gaussian draws, only scaled differently: d_none ∝ d before normalization.
    const f = randomDirection(s, 7, 0, "filter");
    const theta = views(s, s.data).get("dense_2/kernel")!;
    const fn = columnNorms(views(s, f).get("dense_2/kernel")!.view, theta.shape);
    const nn = columnNorms(views(s, d).get("dense_2/kernel")!.view, theta.shape);
    const ratios = Array.from(fn, (x, j) => x / nn[j]!);
    expect(Math.max(...ratios) / Math.min(...ratios)).toBeGreaterThan(1.01);
  });

  it("handles conv kernels [kh, kw, in, out] per output channel, and 1-D weights as zeros", () => {
    const weights = [
      { name: "conv/kernel", shape: [3, 3, 2, 4] },
      { name: "conv/bias", shape: [4] },
      { name: "bn/gamma", shape: [4] },
    ];
    const data = new Float32Array(3 * 3 * 2 * 4 + 8);
    const rng = new Rng(1, 1);
    for (let k = 0; k < data.length; k++) data[k] = rng.nextNormal() * (1 + (k % 4)); // channels with different scales
    for (let k = 3; k < 72; k += 4) data[k] = 0; // channel 3 of θ is all zeros
    const conv: Snapshot = { modelTopology: {}, weights, data };
    const d = randomDirection(conv, 5, 0, "filter");
    const want = columnNorms(data.subarray(0, 72), [3, 3, 2, 4]);
    const got = columnNorms(d.subarray(0, 72), [3, 3, 2, 4]);
    for (let j = 0; j < 3; j++) expect(Math.abs(got[j]! - want[j]!) / want[j]!).toBeLessThan(1e-6);
    expect(want[3]).toBe(0);
    expect(got[3]).toBe(0);
    expect(d.subarray(72).every((x) => x === 0)).toBe(true);
  });

  it("refuses a snapshot whose data does not match its shapes", () => {
    expect(() => randomDirection({ ...s, data: s.data.subarray(1) }, 1, 0, "filter")).toThrow(/snapshot's data/);
  });
});

describe("filter normalization and Dinh et al.'s rescaling", () => {
  const s = snapshot();
  const data = makeSyntheticDataset({ n: 16, features: 784, classes: 10, seed: 8 });
  const indices = Array.from({ length: 16 }, (_, i) => i);
  const loss = (snap: Snapshot, v: Float32Array) => evaluate64(toMlp64(snap, v), data.x, data.y, indices, 784).loss;
  const T = [-1, -0.5, -0.2, 0.3, 0.75, 1];

  for (const [layer, alpha] of [
    [0, 10],
    [1, 0.1],
    [0, 0.5],
  ] as const) {
    it(`layer ${layer}, α = ${alpha}: the twin's direction is θ's, column by column, scaled like the layer; the slices agree`, () => {
      const twin = rescaleTwin(s, layer, alpha);
      const d = randomDirection(s, 21, 3, "filter");
      const dt = randomDirection(twin, 21, 3, "filter");
      const dv = views(s, d);
      const tv = views(s, dt);
      const here = `dense_${layer + 1}/kernel`;
      const next = `dense_${layer + 2}/kernel`;
      for (const [name, { view, shape }] of dv) {
        const factor = name === here ? alpha : name === next ? 1 / alpha : 1;
        const other = tv.get(name)!.view;
        const out = shape[shape.length - 1]!;
        // Column by column: d_twin[:, j] = factor · d[:, j].
        for (let j = 0; j < (shape.length >= 2 ? out : 0); j++) {
          let err = 0;
          let norm = 0;
          for (let k = j; k < view.length; k += out) {
            err += (other[k]! - factor * view[k]!) ** 2;
            norm += (factor * view[k]!) ** 2;
          }
          expect(Math.sqrt(err / norm)).toBeLessThan(1e-6);
        }
        if (shape.length === 1) expect(other.every((x) => x === 0)).toBe(true);
      }
      for (const t of T) {
        const a = loss(s, pointOnGrid(s.data, d, null, t, 0));
        const b = loss(twin, pointOnGrid(twin.data, dt, null, t, 0));
        expect(Math.abs(a - b)).toBeLessThan(1e-5 * Math.max(1, Math.abs(a)));
      }
    });
  }

  it("without filter normalization the twin's slice is a different curve", () => {
    const alpha = 10;
    const twin = rescaleTwin(s, 0, alpha);
    const d = randomDirection(s, 21, 3, "none");
    const dt = randomDirection(twin, 21, 3, "none");
    // At t = 0 both are θ's function…
    expect(Math.abs(loss(s, pointOnGrid(s.data, d, null, 0, 0)) - loss(twin, pointOnGrid(twin.data, dt, null, 0, 0)))).toBeLessThan(1e-5);
    // …but along the direction the curves part: the picture of flatness depends on α.
    let worst = 0;
    for (const t of T) {
      const a = loss(s, pointOnGrid(s.data, d, null, t, 0));
      const b = loss(twin, pointOnGrid(twin.data, dt, null, t, 0));
      worst = Math.max(worst, Math.abs(a - b) / Math.max(1, Math.abs(a)));
    }
    expect(worst).toBeGreaterThan(1e-2);
  });
});

describe("planGrid", () => {
  it("1-D: points over [from, to], beta 0, ids in order", () => {
    const g = planGrid(1, -1, 1, 21);
    expect(g).toHaveLength(21);
    expect(g.map((p) => p.id)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(g[0]!.alpha).toBe(-1);
    expect(g[20]!.alpha).toBe(1);
    expect(g[10]!.alpha).toBe(0);
    expect(g.every((p) => p.beta === 0)).toBe(true);
    for (let i = 1; i < g.length; i++) expect(g[i]!.alpha - g[i - 1]!.alpha).toBeCloseTo(0.1, 12);
  });

  it("2-D: points² ids in row-major order, alpha along a row, beta down the rows", () => {
    const p = 5;
    const g = planGrid(2, -0.5, 1.5, p);
    expect(g).toHaveLength(p * p);
    const axis = [-0.5, 0, 0.5, 1, 1.5];
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < p; c++) {
        const q = g[r * p + c]!;
        expect(q.id).toBe(r * p + c);
        expect(q.alpha).toBeCloseTo(axis[c]!, 12);
        expect(q.beta).toBeCloseTo(axis[r]!, 12);
      }
    }
    expect(planGrid(2, -1, 1, 3).find((q) => q.alpha === 0 && q.beta === 0)?.id).toBe(4);
  });

  it("refuses bad ranges and counts", () => {
    expect(() => planGrid(1, 1, -1, 5)).toThrow(/from/);
    expect(() => planGrid(1, 0, Infinity, 5)).toThrow(/finite/);
    expect(() => planGrid(1, -1, 1, 1)).toThrow(/points/);
    expect(() => planGrid(2, -1, 1, 2.5)).toThrow(/points/);
    expect(() => planGrid(3 as 2, -1, 1, 5)).toThrow(/dims/);
    expect(planGrid(1, 0, 0, 1)).toEqual([{ id: 0, alpha: 0, beta: 0 }]);
  });
});

describe("pointOnGrid", () => {
  it("is θ + αd1 + βd2 in float32", () => {
    const theta = Float32Array.of(1, 2, 3);
    const d1 = Float32Array.of(1, 0, -1);
    const d2 = Float32Array.of(0, 0.5, 0.25);
    expect(pointOnGrid(theta, d1, d2, 2, -4)).toEqual(Float32Array.of(3, 0, 0));
    expect(pointOnGrid(theta, d1, null, 0.5, 0)).toEqual(Float32Array.of(1.5, 2, 2.5));
    const p = pointOnGrid(theta, d1, null, 0.1, 0);
    expect(p[0]).toBe(Math.fround(1 + 0.1 * 1));
  });

  it("refuses mismatched lengths, a beta without d2, non-finite steps", () => {
    const t = new Float32Array(3);
    expect(() => pointOnGrid(t, new Float32Array(2), null, 1, 0)).toThrow(/d1/);
    expect(() => pointOnGrid(t, t, new Float32Array(4), 1, 1)).toThrow(/d2/);
    expect(() => pointOnGrid(t, t, null, 1, 1)).toThrow(/second direction/);
    expect(() => pointOnGrid(t, t, null, Number.NaN, 0)).toThrow(/finite/);
  });
});

describe("landscapeCsv", () => {
  it("writes the header and one row per point", () => {
    const g = planGrid(1, -1, 1, 3);
    const csv = landscapeCsv(g, [
      { loss: 2.5, accuracy: 0.25 },
      { loss: 0.125, accuracy: 1 },
      { loss: Infinity, accuracy: 0 },
    ]);
    expect(csv).toBe("id,alpha,beta,loss,accuracy\n0,-1,0,2.5,0.25\n1,0,0,0.125,1\n2,1,0,inf,0\n");
    expect(() => landscapeCsv(g, [])).toThrow(/3 points but 0 values/);
  });
});
