// Loss-landscape slices after Li et al. (2018), "Visualizing the loss landscape of neural
// nets": the loss at θ + αd1 + βd2 for random directions d1, d2 over a grid of (α, β).
//
// A plain Gaussian direction makes the picture depend on the scale of each layer's
// weights, which Dinh et al. (2017) showed can be changed at will without changing the
// function (rescale.ts). Filter normalization rescales each filter of the direction to
// the norm of θ's same filter, so that a layer scaled by α gets a direction scaled by α
// and the slice through θ's rescaled twin is the same curve as the slice through θ. That
// makes the plots invariant to this one kind of reparametrization — not to others, which
// is why these plots are a picture and not a generalization measure.

import { Rng } from "../util/rng.js";
import type { Snapshot } from "../model/snapshot.js";

export type Normalization = "filter" | "none";

export interface GridPoint {
  id: number;
  alpha: number;
  beta: number;
}

function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A random direction over θ's weights: Gaussian, then per filter (each output unit of a
 * Dense kernel: a column [:, j]; each output channel of a conv kernel) rescaled to the
 * norm of θ's same filter ("filter"), or the whole direction rescaled to ‖θ‖ over the
 * kernels ("none"). Biases and other 1-D weights (normalization parameters) are 0, as in
 * the paper. Seeded: same (seed, stream) → same direction.
 *
 * Every weight of two or more dimensions is a kernel whose last axis is the output
 * unit/channel (Dense [in, out], Conv2D [kh, kw, in, out], Conv1D [k, in, out]), so a
 * filter is the elements sharing the last index. Gaussian draws are made for every
 * kernel element in weight order and none for 1-D weights, so the direction depends on
 * the seed, the stream and the weights' shapes only. A filter of θ that is all zeros
 * gets a zero direction.
 */
export function randomDirection(s: Snapshot, seed: number, stream: number, normalization: Normalization): Float32Array {
  if (normalization !== "filter" && normalization !== "none") {
    throw new Error(`randomDirection: normalization must be "filter" or "none", got ${JSON.stringify(normalization)}`);
  }
  const total = s.weights.reduce((a, w) => a + shapeSize(w.shape), 0);
  if (total !== s.data.length) {
    throw new Error(`randomDirection: the weights' shapes hold ${total} values but the snapshot's data has ${s.data.length}`);
  }
  const rng = new Rng(seed, stream);
  const d = new Float32Array(total);
  let thetaSq = 0; // ‖θ‖² over the kernels, for "none"
  let dirSq = 0;
  let offset = 0;
  for (const w of s.weights) {
    const n = shapeSize(w.shape);
    if (w.shape.length >= 2 && n > 0) {
      const out = w.shape[w.shape.length - 1]!;
      for (let k = offset; k < offset + n; k++) d[k] = rng.nextNormal();
      if (normalization === "filter") {
        const tNorm = new Float64Array(out);
        const dNorm = new Float64Array(out);
        for (let k = 0; k < n; k++) {
          const j = k % out;
          const t = s.data[offset + k]!;
          const g = d[offset + k]!;
          tNorm[j]! += t * t;
          dNorm[j]! += g * g;
        }
        const factor = new Float64Array(out);
        for (let j = 0; j < out; j++) factor[j] = dNorm[j]! > 0 ? Math.sqrt(tNorm[j]!) / Math.sqrt(dNorm[j]!) : 0;
        for (let k = 0; k < n; k++) d[offset + k] = d[offset + k]! * factor[k % out]!;
      } else {
        for (let k = offset; k < offset + n; k++) {
          const t = s.data[k]!;
          const g = d[k]!;
          thetaSq += t * t;
          dirSq += g * g;
        }
      }
    }
    offset += n;
  }
  if (normalization === "none") {
    const factor = dirSq > 0 ? Math.sqrt(thetaSq) / Math.sqrt(dirSq) : 0;
    for (let k = 0; k < d.length; k++) d[k] = d[k]! * factor;
  }
  return d;
}

/** `points` values from `from` to `to`, both included; symmetric ranges hit 0 exactly. */
function linspace(from: number, to: number, points: number): number[] {
  if (points === 1) return [from];
  const m = points - 1;
  return Array.from({ length: points }, (_, i) => (i === 0 ? from : i === m ? to : (from * (m - i) + to * i) / m));
}

/**
 * 1-D (beta = 0) or 2-D grid of `points` per axis over [from, to] (inclusive), ids in
 * row-major order: for 2-D, id = row·points + col with alpha varying along a row (col)
 * and beta down the rows, so values[id] reshape to [beta][alpha] as the 2-D landscape
 * figure (coordinator/report/figures/landscape-2d.ts) takes them.
 * points = 1 is allowed only when from = to.
 */
export function planGrid(dims: 1 | 2, from: number, to: number, points: number): GridPoint[] {
  if (dims !== 1 && dims !== 2) throw new Error(`planGrid: dims must be 1 or 2, got ${dims}`);
  if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) {
    throw new Error(`planGrid: [from, to] must be finite with from ≤ to, got [${from}, ${to}]`);
  }
  if (!Number.isSafeInteger(points) || points < 1 || (points === 1 && from !== to) || (points > 1 && from === to)) {
    throw new Error(`planGrid: points must be an integer ≥ 2 over a non-empty range (1 when from = to), got ${points} over [${from}, ${to}]`);
  }
  const axis = linspace(from, to, points);
  if (dims === 1) return axis.map((alpha, id) => ({ id, alpha, beta: 0 }));
  const out: GridPoint[] = [];
  for (let r = 0; r < points; r++) for (let c = 0; c < points; c++) out.push({ id: r * points + c, alpha: axis[c]!, beta: axis[r]! });
  return out;
}

/** θ + αd1 + βd2 (d2 may be null for 1-D), in float32 (summed in float64, rounded once). */
export function pointOnGrid(theta: Float32Array, d1: Float32Array, d2: Float32Array | null, alpha: number, beta: number): Float32Array {
  if (d1.length !== theta.length) throw new Error(`pointOnGrid: d1 has ${d1.length} values, θ has ${theta.length}`);
  if (d2 && d2.length !== theta.length) throw new Error(`pointOnGrid: d2 has ${d2.length} values, θ has ${theta.length}`);
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new Error(`pointOnGrid: alpha and beta must be finite, got ${alpha} and ${beta}`);
  if (!d2 && beta !== 0) throw new Error(`pointOnGrid: beta is ${beta} but there is no second direction`);
  const out = new Float32Array(theta.length);
  if (d2) for (let k = 0; k < out.length; k++) out[k] = theta[k]! + alpha * d1[k]! + beta * d2[k]!;
  else for (let k = 0; k < out.length; k++) out[k] = theta[k]! + alpha * d1[k]!;
  return out;
}

/**
 * One line per grid point, header "id,alpha,beta,loss,accuracy". Numbers are written in
 * JavaScript's shortest round-trip form; a non-finite loss (a diverged point) is written
 * as "nan", "inf" or "-inf", which pandas and numpy read as floats.
 */
export function landscapeCsv(points: GridPoint[], values: { loss: number; accuracy: number }[]): string {
  if (points.length !== values.length) throw new Error(`landscapeCsv: ${points.length} points but ${values.length} values`);
  const num = (x: number) => (Number.isNaN(x) ? "nan" : x === Infinity ? "inf" : x === -Infinity ? "-inf" : String(x));
  const lines = ["id,alpha,beta,loss,accuracy"];
  for (const [i, p] of points.entries()) {
    const v = values[i]!;
    lines.push(`${p.id},${num(p.alpha)},${num(p.beta)},${num(v.loss)},${num(v.accuracy)}`);
  }
  return lines.join("\n") + "\n";
}
