// Seeded teacher–student data for controlled experiments: x ~ N(0, I_d), the label is the
// argmax of a random one-hidden-layer tanh teacher (whose output bias is fitted so that
// the classes come out about equally often), and a chosen fraction of labels is then
// replaced by uniformly random classes. Everything depends on the seed alone, and
// the teacher, the features and the noise draw from separate Rng streams, so that the
// teacher does not change with n.

import { Rng } from "../util/rng.js";
import { DataError, validateDataset, type Dataset } from "./dataset.js";

export const DEFAULT_TEACHER_HIDDEN = 32;
const MAX_VALUES = 2 ** 30;
const CALIBRATION_SAMPLES = 2048;
const BALANCING_ROUNDS = 30;
const BALANCING_STEP = 0.2;

const TEACHER_STREAM = 1;
const FEATURE_STREAM = 2;
const NOISE_STREAM = 3;

export interface SyntheticParams {
  n: number;
  features: number;
  classes: number;
  seed: number;
  /** Hidden units of the teacher MLP (default 32). */
  teacherHidden?: number;
  /**
   * Fraction of examples (rounded to a whole count, chosen without replacement) whose
   * label is replaced by a uniformly random class. The new class equals the old one
   * with probability 1/classes, so about labelNoise·(1 − 1/classes) of labels change.
   */
  labelNoise?: number;
}

function checkInt(field: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new DataError(`synthetic.${field}: must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function teacherLogits(
  x: Float32Array | Float64Array,
  row: number,
  d: number,
  h: number,
  c: number,
  w1: Float64Array,
  b1: Float64Array,
  w2: Float64Array,
  b2: Float64Array,
  out: Float64Array,
): void {
  const hidden = Float64Array.from(b1);
  for (let i = 0; i < d; i++) {
    const xi = x[row + i]!;
    const w = i * h;
    for (let j = 0; j < h; j++) hidden[j]! += xi * w1[w + j]!;
  }
  out.set(b2);
  for (let j = 0; j < h; j++) {
    const a = Math.tanh(hidden[j]!);
    for (let k = 0; k < c; k++) out[k]! += a * w2[j * c + k]!;
  }
}

function argmax(v: Float64Array): number {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k]! > v[best]!) best = k;
  return best;
}

/**
 * An output bias that balances the teacher's classes: a random teacher otherwise favours
 * some classes heavily (one class in 30 of the examples is common). Fitted on a fixed
 * sample drawn from the teacher's stream, so it depends on the seed and sizes but not on
 * n: centre the logits, then nudge each class's bias by the log of how far its share of
 * the argmax is from 1/classes.
 */
function balancingBias(rng: Rng, d: number, h: number, c: number, w1: Float64Array, b1: Float64Array, w2: Float64Array): Float64Array {
  const zero = new Float64Array(c);
  const b2 = new Float64Array(c);
  const all = new Float64Array(CALIBRATION_SAMPLES * c);
  const sample = new Float64Array(d);
  const logits = new Float64Array(c);
  for (let s = 0; s < CALIBRATION_SAMPLES; s++) {
    for (let i = 0; i < d; i++) sample[i] = rng.nextNormal();
    teacherLogits(sample, 0, d, h, c, w1, b1, w2, zero, logits);
    all.set(logits, s * c);
    for (let k = 0; k < c; k++) b2[k]! -= logits[k]! / CALIBRATION_SAMPLES;
  }
  const counts = new Float64Array(c);
  for (let round = 0; round < BALANCING_ROUNDS; round++) {
    counts.fill(0);
    for (let s = 0; s < CALIBRATION_SAMPLES; s++) {
      for (let k = 0; k < c; k++) logits[k] = all[s * c + k]! + b2[k]!;
      counts[argmax(logits)]!++;
    }
    const even = CALIBRATION_SAMPLES / c;
    for (let k = 0; k < c; k++) b2[k]! -= BALANCING_STEP * Math.log((counts[k]! + 1) / (even + 1));
  }
  return b2;
}

export function makeSyntheticDataset(params: SyntheticParams): Dataset {
  const n = checkInt("n", params.n, 1);
  const d = checkInt("features", params.features, 1);
  const c = checkInt("classes", params.classes, 2);
  const seed = checkInt("seed", params.seed, Number.MIN_SAFE_INTEGER);
  const h = checkInt("teacherHidden", params.teacherHidden ?? DEFAULT_TEACHER_HIDDEN, 1);
  const noise = params.labelNoise ?? 0;
  if (typeof noise !== "number" || !(noise >= 0 && noise <= 1)) {
    throw new DataError(`synthetic.labelNoise: must be a number in [0, 1], got ${JSON.stringify(noise)}`);
  }
  if (n * d > MAX_VALUES) throw new DataError(`synthetic: n × features = ${n * d} values exceeds the limit of ${MAX_VALUES}`);

  // Teacher: scaled so that hidden pre-activations and logits are O(1) whatever d and h.
  const teacherRng = new Rng(seed, TEACHER_STREAM);
  const w1 = new Float64Array(d * h);
  const b1 = new Float64Array(h);
  const w2 = new Float64Array(h * c);
  for (let i = 0; i < w1.length; i++) w1[i] = teacherRng.nextNormal() / Math.sqrt(d);
  for (let j = 0; j < h; j++) b1[j] = 0.5 * teacherRng.nextNormal();
  for (let i = 0; i < w2.length; i++) w2[i] = teacherRng.nextNormal() / Math.sqrt(h);
  const b2 = balancingBias(teacherRng, d, h, c, w1, b1, w2);

  const featureRng = new Rng(seed, FEATURE_STREAM);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = featureRng.nextNormal();

  // Labels from the stored (float32) features, so that they agree with the data exactly.
  const y = new Int32Array(n);
  const logits = new Float64Array(c);
  for (let e = 0; e < n; e++) {
    teacherLogits(x, e * d, d, h, c, w1, b1, w2, b2, logits);
    y[e] = argmax(logits);
  }

  if (noise > 0) {
    const noiseRng = new Rng(seed, NOISE_STREAM);
    const noisy = noiseRng.sampleWithoutReplacement(n, Math.round(noise * n));
    for (const e of noisy) y[e] = noiseRng.nextInt(c);
  }

  const ds: Dataset = { name: "synthetic", n, featureShape: [d], numClasses: c, x, y };
  validateDataset(ds, "synthetic");
  return ds;
}
