// Per-parameter statistics of the gradient vectors: GSNR, gradient diversity and a check of
// the minibatch-vs-per-example variance relation. These need the vectors, not only ‖g1‖,
// ‖g2‖, g1·g2, and are accumulated in O(P) memory as the chunks arrive.
//
// Derivation. sampling.ts derives, for the whole vector, unbiased per-pair samples
//   G_i = c_i + w (y_i − c_i) of ‖ḡ‖²,   T_i = k (y_i − c_i) of tr Σ,
// with y_i = (‖g1‖² + ‖g2‖²)/2, c_i = g1·g2 and (w, k) from linearForms. That derivation
// uses only E g_b = ḡ, Cov g_b = Σ/B · (N − B)/(N − 1) and Cov(g_b1, g_b2) = 0 (independent)
// or −Σ/(N − 1) (disjoint), and every one of those holds coordinate by coordinate with
// ḡ_j and σ_j² = Σ_jj = (1/N) Σ_i (g_ij − ḡ_j)². So for parameter j, with
// y_ij = (g1_j² + g2_j²)/2 and c_ij = g1_j g2_j,
//   G_ij = c_ij + w (y_ij − c_ij)  is unbiased for ḡ_j²,   T_ij = k (y_ij − c_ij)  for σ_j²,
// and Σ_j G_ij = G_i, Σ_j T_ij = T_i exactly, since Σ_j y_ij = y_i and Σ_j c_ij = c_i.
// Both forms are linear in (y, c), so their means over n pairs need only the sums
//   Y_j = Σ_i y_ij,  C_j = Σ_i c_ij:   G_j = (C_j + w (Y_j − C_j))/n,   T_j = k (Y_j − C_j)/n.
// The third sum, S1_j = Σ_i (g1_ij + g2_ij), gives the plug-in mean gradient S1_j/(2n) and,
// with Y_j, the spread of the 2n minibatch gradients.
//
// GSNR (Liu et al. 2020): r_j = ḡ_j² / σ_j², per-example variance in the denominator (the
// minibatch variance would make it depend on B). We report G_j / T_j where T_j > 0. G_j is
// an unbiased estimate and goes negative when |ḡ_j| is within noise of 0; it is kept, not
// clipped, because clipping at 0 would bias gsnr_mean upward over exactly the parameters
// whose signal is weakest. The median is the robust summary.
//
// Gradient diversity (Yin et al. 2018): Δ(S) = Σ_{v∈S} ‖v‖² / ‖Σ_{v∈S} v‖².
//   Over the N per-example gradients: Σ_i ‖g_i‖² = N (‖ḡ‖² + tr Σ) and ‖Σ_i g_i‖² = N² ‖ḡ‖²,
//   so Δ = (‖ḡ‖² + tr Σ) / (N ‖ḡ‖²) = (Σ_j G_j + Σ_j T_j) / (N Σ_j G_j)  = (1 + B_simple)/N.
//   Over the 2n sampled minibatch gradients: Σ_k ‖g_k‖² = 2 Σ_j Y_j and Σ_k g_k = S1, so
//   Δ_mb = 2 Σ_j Y_j / ‖S1‖². This describes the sample: for large n it tends to
//   E‖g_b‖² / (2n ‖ḡ‖²), shrinking like 1/n, so compare it only at equal pair counts.
//
// Variance check. By (1) of sampling.ts per coordinate, Var g_bj = σ_j² (N − B)/(B(N − 1)),
// which predicts the spread of the minibatch gradients from T_j. The plug-in variance of
// the 2n minibatch values of coordinate j (1/(2n) normalization) is
//   s_j² = Y_j/n − (S1_j/(2n))²,
// and variance_ratio_check = Σ_j s_j² / (Σ_j T_j (N − B)/(B(N − 1))). T_j comes from the
// differences within pairs, s_j² from the spread across pairs, so a sampler that does not
// draw what Sampling says, or workers that return something other than minibatch means,
// show up as a ratio away from 1.
//   Under full enumeration of the admissible ordered pairs, every minibatch occurs equally
//   often as g1 and as g2, for both pairings, so the 2n values are the minibatch
//   population itself and the plug-in variance is exactly Var g_b: the ratio is exactly 1
//   for independent and for disjoint pairing alike.
//   Under random pairs, write V = Σ_j Var g_bj and K = Σ_j Cov(g_b1j, g_b2j) (0 independent,
//   −tr Σ/(N − 1) disjoint). The mean of the 2n values has variance (V + K)/(2n), so
//   E Σ_j s_j² = V − (V + K)/(2n), and the ratio of expectations is 1 − 1/(2n) (independent)
//   or 1 − (N − 2B)/(2n (N − B)) (disjoint): ≈ 1 at the pair counts of a real run.
//
// Numerics: products of float32 values are exact in float64, so Y_j − C_j and
// Y_j/n − mean² lose only what float64 summation loses, which is far below the float32
// precision the gradients arrive in.

import { validateSampling, type Sampling } from "./estimators/index.js";
import { linearForms, type LinearForms } from "./estimators/sampling.js";

/** Vectors are laid out weight tensor after weight tensor, in this order. */
export interface VectorLayout {
  tensors: string[];
  tensorSizes: number[];
}

/** Every number is finite or null, so the JSON never carries NaN or Infinity. */
export interface VectorSummary {
  parameters: number;
  pairs: number;
  /** ‖S1/(2n)‖, the norm of the plug-in mean gradient (biased upward by noise). */
  mean_gradient_norm: number | null;
  /** Σ_j G_j, unbiased for ‖ḡ‖². */
  mean_grad_sq_norm: number | null;
  /** Σ_j T_j, unbiased for tr Σ (per-example covariance, 1/N normalization). */
  trace_sigma: number | null;
  /** Over the parameters with T_j > 0; G_j < 0 is kept (see the header). */
  gsnr_mean: number | null;
  gsnr_median: number | null;
  gsnr_defined: number;
  gradient_diversity_minibatch: number | null;
  gradient_diversity_per_example: number | null;
  variance_ratio_check: number | null;
}

export interface VectorStatsResult {
  overall: VectorSummary;
  /** Per weight tensor. Written as results.json's vector_stats, whose key has been "layers" since its first version. */
  layers: Record<string, VectorSummary>;
}

/** Per-parameter estimates; NaN where undefined (no pairs, or tr Σ not identifiable). */
export interface PerParameter {
  /** Unbiased for ḡ_j². */
  G: Float64Array;
  /** Unbiased for σ_j². */
  T: Float64Array;
  /** Plug-in variance s_j² of the 2n minibatch values of coordinate j. */
  minibatchVariance: Float64Array;
}

interface Sums {
  /** Σ (g1_j + g2_j) */
  s1: Float64Array;
  /** Σ (g1_j² + g2_j²)/2 */
  y: Float64Array;
  /** Σ g1_j g2_j */
  c: Float64Array;
}

interface Staged extends Sums {
  /** pair → gradient values received, to refuse a commit of incomplete vectors. */
  received: Map<number, number>;
}

function sums(p: number): Sums {
  return { s1: new Float64Array(p), y: new Float64Array(p), c: new Float64Array(p) };
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export class VectorStats {
  readonly layout: VectorLayout;
  readonly sampling: Sampling;
  /** Total number of parameters P. */
  readonly size: number;
  private readonly forms: LinearForms;
  /** Start of each tensor in the flat vector, plus P at the end. */
  private readonly starts: number[];
  private readonly totals: Sums;
  private n = 0;
  private readonly staged = new Map<string, Staged>();

  constructor(layout: VectorLayout, sampling: Sampling) {
    validateSampling(sampling);
    const { tensors, tensorSizes } = layout;
    if (!Array.isArray(tensors) || !Array.isArray(tensorSizes) || tensors.length !== tensorSizes.length) {
      throw new RangeError("VectorLayout: tensors and tensorSizes must be arrays of the same length");
    }
    if (new Set(tensors).size !== tensors.length) throw new RangeError("VectorLayout.tensors: tensor names must be distinct");
    this.starts = [0];
    for (const [t, size] of tensorSizes.entries()) {
      if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`VectorLayout.tensorSizes[${t}] must be an integer ≥ 0, got ${size}`);
      this.starts.push(this.starts[t]! + size);
    }
    this.layout = { tensors: [...tensors], tensorSizes: [...tensorSizes] };
    this.sampling = { datasetSize: sampling.datasetSize, batchSize: sampling.batchSize, pairing: sampling.pairing };
    this.size = this.starts[tensors.length]!;
    this.forms = linearForms(this.sampling);
    this.totals = sums(this.size);
  }

  /**
   * Stages one chunk: values [offset, offset + g1.length) of `tensor` for pair `pair` of the
   * lease. Throws RangeError, staging nothing, on a chunk outside the layout or a
   * non-finite value (one NaN would poison the totals for the rest of the run).
   */
  add(leaseId: string, pair: number, tensor: number, offset: number, g1: Float32Array, g2: Float32Array): void {
    if (!Number.isInteger(tensor) || tensor < 0 || tensor >= this.layout.tensors.length) {
      throw new RangeError(`VectorStats.add: tensor ${tensor} is not one of the ${this.layout.tensors.length} tensors`);
    }
    const size = this.layout.tensorSizes[tensor]!;
    if (g1.length !== g2.length) throw new RangeError(`VectorStats.add: g1 has ${g1.length} values and g2 ${g2.length}`);
    if (!Number.isInteger(offset) || offset < 0 || offset + g1.length > size) {
      throw new RangeError(`VectorStats.add: values [${offset}, ${offset + g1.length}) do not fit tensor ${tensor} of ${size}`);
    }
    if (!Number.isSafeInteger(pair)) throw new RangeError(`VectorStats.add: pair must be an integer, got ${pair}`);
    for (let i = 0; i < g1.length; i++) {
      if (!Number.isFinite(g1[i]!) || !Number.isFinite(g2[i]!)) {
        throw new RangeError(`VectorStats.add: pair ${pair} tensor ${tensor}: non-finite gradient value at offset ${offset + i}`);
      }
    }
    let st = this.staged.get(leaseId);
    if (!st) this.staged.set(leaseId, (st = { ...sums(this.size), received: new Map() }));
    st.received.set(pair, (st.received.get(pair) ?? 0) + g1.length);
    const base = this.starts[tensor]! + offset;
    const { s1, y, c } = st;
    for (let i = 0; i < g1.length; i++) {
      const a = g1[i]!;
      const b = g2[i]!;
      const j = base + i;
      s1[j] = s1[j]! + (a + b);
      y[j] = y[j]! + (a * a + b * b) / 2;
      c[j] = c[j]! + a * b;
    }
  }

  /**
   * Moves the lease's staged sums into the totals and frees them. A lease with nothing
   * staged commits nothing. Throws RangeError, keeping the staging for drop(), when a pair
   * did not receive exactly P values: an incomplete vector would bias every estimate.
   */
  commit(leaseId: string): void {
    const st = this.staged.get(leaseId);
    if (!st) return;
    for (const [pair, count] of st.received) {
      if (count !== this.size) {
        throw new RangeError(`VectorStats.commit: lease ${leaseId} pair ${pair}: ${count} of ${this.size} gradient values arrived`);
      }
    }
    const t = this.totals;
    for (let j = 0; j < this.size; j++) {
      t.s1[j] = t.s1[j]! + st.s1[j]!;
      t.y[j] = t.y[j]! + st.y[j]!;
      t.c[j] = t.c[j]! + st.c[j]!;
    }
    this.n += st.received.size;
    this.staged.delete(leaseId);
  }

  /** Forgets a refused or expired lease's contributions. */
  drop(leaseId: string): void {
    this.staged.delete(leaseId);
  }

  get pairs(): number {
    return this.n;
  }

  /** Leases with staging buffers held (24·P bytes each), for tests: it must fall back to 0. */
  get stagedLeases(): number {
    return this.staged.size;
  }

  perParameter(): PerParameter {
    const p = this.size;
    const out: PerParameter = { G: new Float64Array(p), T: new Float64Array(p), minibatchVariance: new Float64Array(p) };
    const n = this.n;
    const { w, k } = this.forms;
    const { s1, y, c } = this.totals;
    for (let j = 0; j < p; j++) {
      if (n === 0) {
        out.G[j] = out.T[j] = out.minibatchVariance[j] = NaN;
        continue;
      }
      const yj = y[j]! / n;
      const cj = c[j]! / n;
      const m = s1[j]! / (2 * n);
      out.G[j] = cj + w * (yj - cj);
      out.T[j] = k === null ? NaN : k * (yj - cj);
      // A variance cannot be negative; below 0 is rounding in the subtraction.
      out.minibatchVariance[j] = Math.max(0, yj - m * m);
    }
    return out;
  }

  /** S1/(2n), the plug-in estimate of ḡ; NaN before any pair. */
  meanGradient(): Float32Array {
    const out = new Float32Array(this.size);
    for (let j = 0; j < this.size; j++) out[j] = this.totals.s1[j]! / (2 * this.n);
    return out;
  }

  /** G_j / T_j per parameter; NaN where T_j ≤ 0 or undefined. */
  gsnr(): Float32Array {
    const { G, T } = this.perParameter();
    const out = new Float32Array(this.size);
    for (let j = 0; j < this.size; j++) out[j] = T[j]! > 0 ? G[j]! / T[j]! : NaN;
    return out;
  }

  result(): VectorStatsResult {
    const per = this.perParameter();
    const overall = this.summary(per, 0, this.size);
    const tensors = Object.fromEntries(this.layout.tensors.map((name, t) => [name, this.summary(per, this.starts[t]!, this.starts[t + 1]!)]));
    return { overall, layers: tensors };
  }

  private summary(per: PerParameter, from: number, to: number): VectorSummary {
    const n = this.n;
    const { datasetSize: N, batchSize: B } = this.sampling;
    const { G, T, minibatchVariance } = per;
    const { s1, y } = this.totals;
    let sumG = 0;
    let sumT = 0;
    let sumS2 = 0;
    let sumY = 0;
    let s1sq = 0;
    let defined = 0;
    let gsnrSum = 0;
    for (let j = from; j < to; j++) {
      sumG += G[j]!;
      sumT += T[j]!;
      sumS2 += minibatchVariance[j]!;
      sumY += y[j]!;
      s1sq += s1[j]! * s1[j]!;
      if (T[j]! > 0) {
        defined++;
        gsnrSum += G[j]! / T[j]!;
      }
    }
    // Sorting float32 halves the memory of an exact median over millions of parameters.
    const values = new Float32Array(defined);
    for (let j = from, i = 0; j < to; j++) if (T[j]! > 0) values[i++] = G[j]! / T[j]!;
    values.sort();
    const mid = defined >> 1;
    const median = defined === 0 ? NaN : defined % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
    const traceKnown = n > 0 && this.forms.k !== null;
    const predicted = (sumT * (N - B)) / (B * (N - 1));
    return {
      parameters: to - from,
      pairs: n,
      mean_gradient_norm: n > 0 ? finiteOrNull(Math.sqrt(s1sq) / (2 * n)) : null,
      mean_grad_sq_norm: n > 0 ? finiteOrNull(sumG) : null,
      trace_sigma: traceKnown ? finiteOrNull(sumT) : null,
      gsnr_mean: defined > 0 ? finiteOrNull(gsnrSum / defined) : null,
      gsnr_median: finiteOrNull(median),
      gsnr_defined: defined,
      gradient_diversity_minibatch: n > 0 && s1sq > 0 ? finiteOrNull((2 * sumY) / s1sq) : null,
      gradient_diversity_per_example: traceKnown && sumG > 0 ? finiteOrNull((sumG + sumT) / (N * sumG)) : null,
      variance_ratio_check: traceKnown && predicted > 0 ? finiteOrNull(sumS2 / predicted) : null,
    };
  }
}
