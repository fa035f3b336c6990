// Minibatch gradients of the mean softmax cross-entropy at one θ, and the per-pair
// statistics a task returns. The gradients come from TensorFlow.js on whatever backend
// was selected; the reductions (‖g‖², g₁·g₂) are done here in float64 on the downloaded
// gradients, so they are as exact as the float32 gradients allow and do not depend on
// how a backend orders its float32 sums.

import type * as TF from "@tensorflow/tfjs";
import { featureSize, type Dataset } from "../data/dataset.js";
import { weightViews, type Snapshot } from "../model/snapshot.js";
import { logitsTopology } from "../model/logits-topology.js";
import type { LabelMode, PairStats } from "../protocol/index.js";
import { Rng } from "../util/rng.js";
import { denseLayers, groupedGradients, groupSize, whyNotGrouped, type DenseSpec } from "./grouped.js";
import { pairStatistics } from "./pair-stats.js";

/** The Dense stack of a model for grouping, or why there is none. */
function denseOrWhy(topology: Record<string, unknown>, variables: TF.Variable[]): DenseSpec[] | string {
  const why = whyNotGrouped(topology);
  return why ?? denseLayers(topology, variables);
}

const PIECEWISE_LINEAR = /"(relu|relu6|ReLU|LeakyReLU|PReLU|ThresholdedReLU|MaxPooling[123]D|GlobalMaxPooling[123]D)"/;

/** Examples per forward/backward pass when a loss covers many (a full-data pass). */
export const EXAMPLES_PER_PASS = 1024;

/** How a pair's gradients are taken. */
export interface PairOptions {
  labels: LabelMode;
  labelSeed: number;
  /** Diagonal metrics over the trainable parameters (gradient order). */
  metrics: readonly Float32Array[];
}

export const OBSERVED: PairOptions = { labels: "observed", labelSeed: 0, metrics: [] };

export interface PairInput {
  id: number;
  batches: [readonly number[], readonly number[]];
}

export type { PairStats } from "../protocol/index.js";

export interface MinibatchGradient {
  loss: number;
  /** One array per trainable weight, in model order. */
  grads: Float32Array[];
}

export class GradientError extends Error {
  override name = "GradientError";
}

export class GradientEngine {
  private constructor(
    private readonly tf: typeof TF,
    private readonly model: TF.LayersModel,
    private readonly variables: TF.Variable[],
    /** For each trainable weight, the index of its tensor in `tensors`. */
    readonly weightTensor: number[],
    readonly tensors: string[],
    readonly weightNames: string[],
    private readonly dataset: Dataset,
    /** Every weight of the model (trainable or not), in θ's order, and θ itself. */
    private readonly allVariables: TF.LayerVariable[],
    private readonly thetaViews: Float32Array[],
    /** The Dense stack for grouped gradients, or why the model has none. */
    private readonly dense: DenseSpec[] | string,
  ) {
    this.exampleSize = featureSize(dataset);
    this.tensorSizes = tensors.map(() => 0);
    variables.forEach((v, w) => (this.tensorSizes[weightTensor[w]!] = this.tensorSizes[weightTensor[w]!]! + v.size));
  }

  /** Trainable parameters per weight tensor, in the order of `tensors`. */
  readonly tensorSizes: number[];

  private readonly exampleSize: number;

  /**
   * The minibatch's inputs and one-hot labels, gathered here and uploaded: the dataset
   * never has to fit on the device, and tf.gather/tf.oneHot on Dawn's GL backend hung or
   * crashed on a dataset-sized tensor.
   */
  private batchTensors(indices: readonly number[], labels?: Int32Array): { xb: TF.Tensor; yb: TF.Tensor2D } {
    const d = this.dataset;
    const size = this.exampleSize;
    const x = new Float32Array(indices.length * size);
    const y = new Float32Array(indices.length * d.numClasses);
    indices.forEach((i, row) => {
      x.set(d.x.subarray(i * size, (i + 1) * size), row * size);
      y[row * d.numClasses + (labels ? labels[row]! : d.y[i]!)] = 1;
    });
    return {
      xb: this.tf.tensor(x, [indices.length, ...d.featureShape], "float32"),
      yb: this.tf.tensor2d(y, [indices.length, d.numClasses], "float32"),
    };
  }

  static async create(tf: typeof TF, snapshot: Snapshot, dataset: Dataset): Promise<GradientEngine> {
    const artifacts: TF.io.ModelArtifacts = {
      modelTopology: logitsTopology(snapshot.modelTopology) as TF.io.ModelArtifacts["modelTopology"],
      weightSpecs: snapshot.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: "float32" as const })),
      weightData: snapshot.data.slice().buffer,
    };
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const inputShape = model.inputs[0]!.shape.slice(1);
    if (inputShape.length !== dataset.featureShape.length || inputShape.some((d, i) => d !== null && d !== dataset.featureShape[i])) {
      model.dispose();
      throw new GradientError(`the model takes inputs of shape [${inputShape}] but dataset ${dataset.name} has examples of shape [${dataset.featureShape}]`);
    }
    const outputUnits = model.outputs[0]!.shape.at(-1);
    if (outputUnits !== dataset.numClasses) {
      model.dispose();
      throw new GradientError(`the model has ${String(outputUnits)} outputs but dataset ${dataset.name} has ${dataset.numClasses} classes`);
    }
    const trainable = model.trainableWeights;
    const weightNames = trainable.map((w) => w.originalName);
    // Statistics are reported per trainable weight tensor ("dense_1/kernel"): the finest
    // groups a rescaling acts on uniformly; the coordinator sums them into layers.
    const tensors = [...weightNames];
    const weightTensor = weightNames.map((_, w) => w);
    const variables = trainable.map((w) => w.read() as TF.Variable);
    const byName = new Map(model.weights.map((w) => [w.originalName, w]));
    const all = snapshot.weights.map((w) => {
      const v = byName.get(w.name);
      if (!v) throw new GradientError(`weight ${w.name} of θ is not in the model`);
      return v;
    });
    return new GradientEngine(tf, model, variables, weightTensor, tensors, weightNames, dataset, all, weightViews(snapshot), denseOrWhy(logitsTopology(snapshot.modelTopology), variables));
  }

  /**
   * Whether the model has piecewise-linear activations (ReLU, its variants, max pooling),
   * whose kinks spoil finite differences of the gradient that straddle them.
   */
  get piecewiseLinear(): boolean {
    return PIECEWISE_LINEAR.test(JSON.stringify(this.model.toJSON(null, false)));
  }

  /** Why this model's gradients cannot be grouped, or null when they can. */
  get whyNotGrouped(): string | null {
    return typeof this.dense === "string" ? this.dense : null;
  }

  /**
   * The pairs' gradients in groups of up to `k` minibatches per pass (replicated weights,
   * batched matmul: src/worker/grouped.ts), equal to the one-by-one gradients up to float32
   * rounding. For GPU backends, where one pass of many small matmuls is launch-bound.
   */
  async pairGradientsGrouped(pairs: readonly PairInput[], options: PairOptions, k: number): Promise<{ stats: PairStats; g1: Float32Array[]; g2: Float32Array[] }[]> {
    if (typeof this.dense === "string") throw new GradientError(`grouped gradients: ${this.dense}`);
    const batches: (readonly number[])[] = [];
    const labels: (Int32Array | undefined)[] = [];
    for (const p of pairs) {
      for (const kIdx of [0, 1] as const) {
        this.checkIndices(p.batches[kIdx]);
        batches.push(p.batches[kIdx]);
        labels.push(options.labels === "sampled" ? await this.sampleLabels(p.batches[kIdx], options.labelSeed, 2 * p.id + kIdx) : undefined);
      }
    }
    const grads: MinibatchGradient[] = [];
    for (let start = 0; start < batches.length; start += k) {
      grads.push(...(await groupedGradients(this.tf, this.dense, this.dataset, batches.slice(start, start + k), labels.slice(start, start + k))));
    }
    return pairs.map((p, i) => {
      const g1 = grads[2 * i]!;
      const g2 = grads[2 * i + 1]!;
      const stats = pairStatistics(p.id, [g1.loss, g2.loss], g1.grads, g2.grads, this.weightTensor, this.tensors.length, options.metrics);
      if (![...stats.loss, ...stats.norm, stats.dot].every(Number.isFinite)) {
        throw new GradientError(`pair ${p.id}: the loss or gradient is not finite (loss ${stats.loss}, ‖g‖ ${stats.norm})`);
      }
      // Grouped gradients are views into one buffer per weight shared by the group: give
      // each pair its own copies, so that handing one pair's vectors over (a transfer)
      // cannot detach another's.
      return { stats, g1: g1.grads.map((a) => a.slice()), g2: g2.grads.map((a) => a.slice()) };
    });
  }

  /** A group size for this model from a memory budget (bytes). */
  groupSize(batch: number, budgetBytes: number, maxK: number): number {
    if (typeof this.dense === "string") return 1;
    const widths = [this.exampleSize, ...this.dense.map((d) => d.kernel.shape[1]!)];
    return groupSize({ parameters: this.parameterCount, batch, widths, budgetBytes, maxK });
  }

  /** Trainable parameters in all. */
  get parameterCount(): number {
    return this.tensorSizes.reduce((a, b) => a + b, 0);
  }

  private checkIndices(indices: readonly number[]): void {
    if (indices.length === 0) throw new GradientError("a minibatch needs at least one example index");
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.dataset.n) {
        throw new GradientError(`example index ${i} is outside the dataset (size ${this.dataset.n})`);
      }
    }
  }

  /**
   * Sets every weight from a vector in θ's layout (a landscape point), or back to θ
   * itself with null. Gradients and losses are then taken there.
   */
  setWeights(values: Float32Array | null): void {
    let offset = 0;
    this.allVariables.forEach((v, w) => {
      const n = this.thetaViews[w]!.length;
      const slice = values === null ? this.thetaViews[w]! : values.subarray(offset, offset + n);
      const t = this.tf.tensor(slice, v.shape as number[], "float32");
      v.write(t);
      t.dispose(); // the variable took a reference to its data
      offset += n;
    });
    if (values !== null && offset !== values.length) throw new GradientError(`a weight vector of ${values.length} values for θ of ${offset}`);
  }

  /** θ as the snapshot gave it, all weights, as a fresh vector (to move along directions). */
  async weightVector(): Promise<Float32Array> {
    const out = new Float32Array(this.thetaViews.reduce((n, v) => n + v.length, 0));
    let offset = 0;
    for (const v of this.thetaViews) {
      out.set(v, offset);
      offset += v.length;
    }
    return out;
  }

  /** Sets the trainable weights from a flat vector in gradient order (curvature probes). */
  setTrainable(values: Float32Array): void {
    if (values.length !== this.parameterCount) throw new GradientError(`a parameter vector of ${values.length} values for ${this.parameterCount} trainable parameters`);
    let offset = 0;
    for (const v of this.variables) {
      const t = this.tf.tensor(values.subarray(offset, offset + v.size), v.shape, "float32");
      v.assign(t);
      t.dispose(); // the variable took a reference to its data
      offset += v.size;
    }
  }

  /** The trainable parameters as one vector in gradient order (θ restricted to them). */
  async trainableVector(): Promise<Float32Array> {
    const out = new Float32Array(this.parameterCount);
    let offset = 0;
    for (const v of this.variables) {
      out.set((await v.data()) as Float32Array, offset);
      offset += v.size;
    }
    return out;
  }

  /** Logits of the examples, in float64 row-major [indices.length, classes]. */
  private async logits(indices: readonly number[]): Promise<Float64Array> {
    const classes = this.dataset.numClasses;
    const out = new Float64Array(indices.length * classes);
    for (let start = 0; start < indices.length; start += EXAMPLES_PER_PASS) {
      const part = indices.slice(start, start + EXAMPLES_PER_PASS);
      const { xb, yb } = this.batchTensors(part);
      const logits = this.tf.tidy(() => this.model.apply(xb, { training: false }) as TF.Tensor);
      try {
        out.set(await logits.data(), start * classes);
      } finally {
        xb.dispose();
        yb.dispose();
        logits.dispose();
      }
    }
    return out;
  }

  /**
   * Labels drawn from the model's predictive distribution p(y | x) (softmax of the
   * logits, in float64), one seeded stream per minibatch: the true Fisher's labels.
   */
  async sampleLabels(indices: readonly number[], seed: number, stream: number): Promise<Int32Array> {
    this.checkIndices(indices);
    const classes = this.dataset.numClasses;
    const z = await this.logits(indices);
    const rng = new Rng(seed, stream);
    const labels = new Int32Array(indices.length);
    for (let r = 0; r < indices.length; r++) {
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, z[r * classes + c]!);
      let total = 0;
      for (let c = 0; c < classes; c++) total += Math.exp(z[r * classes + c]! - max);
      let u = rng.nextFloat() * total;
      let pick = classes - 1;
      for (let c = 0; c < classes; c++) {
        u -= Math.exp(z[r * classes + c]! - max);
        if (u < 0) {
          pick = c;
          break;
        }
      }
      labels[r] = pick;
    }
    return labels;
  }

  /** Mean loss and accuracy over the examples at the current weights, in float64. */
  async lossAt(indices: readonly number[]): Promise<{ loss: number; accuracy: number }> {
    this.checkIndices(indices);
    const classes = this.dataset.numClasses;
    const z = await this.logits(indices);
    let loss = 0;
    let correct = 0;
    indices.forEach((i, r) => {
      let max = -Infinity;
      let arg = 0;
      for (let c = 0; c < classes; c++) {
        const v = z[r * classes + c]!;
        if (v > max) {
          max = v;
          arg = c;
        }
      }
      let total = 0;
      for (let c = 0; c < classes; c++) total += Math.exp(z[r * classes + c]! - max);
      const label = this.dataset.y[i]!;
      loss += max + Math.log(total) - z[r * classes + label]!;
      if (arg === label) correct++;
    });
    return { loss: loss / indices.length, accuracy: correct / indices.length };
  }

  /**
   * The gradient of the mean loss over many examples, in passes of EXAMPLES_PER_PASS,
   * as one float64 vector in gradient order (a curvature oracle's gradient).
   */
  async gradientOver(indices: readonly number[]): Promise<Float64Array> {
    const out = new Float64Array(this.parameterCount);
    for (let start = 0; start < indices.length; start += EXAMPLES_PER_PASS) {
      const part = indices.slice(start, start + EXAMPLES_PER_PASS);
      const g = await this.minibatchGradient(part);
      const weight = part.length / indices.length;
      let offset = 0;
      for (const a of g.grads) {
        for (let k = 0; k < a.length; k++) out[offset + k] = out[offset + k]! + weight * a[k]!;
        offset += a.length;
      }
    }
    return out;
  }

  /** The minibatch's gradient, with the dataset's labels or the given ones. */
  async minibatchGradient(indices: readonly number[], labels?: Int32Array): Promise<MinibatchGradient> {
    const tf = this.tf;
    this.checkIndices(indices);
    const { xb, yb } = this.batchTensors(indices, labels);
    let value: TF.Scalar | undefined;
    let grads: TF.NamedTensorMap | undefined;
    try {
      ({ value, grads } = tf.variableGrads(() => {
        const logits = this.model.apply(xb, { training: false }) as TF.Tensor;
        return tf.neg(tf.mean(tf.sum(tf.mul(yb, tf.logSoftmax(logits)), -1))) as TF.Scalar;
      }, this.variables));
      // One read at a time: a GPU serves them in order anyway, and concurrent reads were
      // seen to hang Dawn's OpenGL ES path.
      const arrays: Float32Array[] = [];
      for (const v of this.variables) arrays.push((await grads[v.name]!.data()) as Float32Array);
      const loss = (await value.data())[0]!;
      return { loss, grads: arrays };
    } finally {
      xb.dispose();
      yb.dispose();
      value?.dispose();
      if (grads) tf.dispose(Object.values(grads));
    }
  }

  async pairStats(pair: PairInput, options: PairOptions = OBSERVED): Promise<PairStats> {
    return (await this.pairGradients(pair, options)).stats;
  }

  /** The pair's statistics and both gradients (one array per trainable weight). */
  async pairGradients(pair: PairInput, options: PairOptions = OBSERVED): Promise<{ stats: PairStats; g1: Float32Array[]; g2: Float32Array[] }> {
    const labelsOf = async (k: 0 | 1) =>
      options.labels === "sampled" ? this.sampleLabels(pair.batches[k], options.labelSeed, 2 * pair.id + k) : undefined;
    const g1 = await this.minibatchGradient(pair.batches[0], await labelsOf(0));
    const g2 = await this.minibatchGradient(pair.batches[1], await labelsOf(1));
    for (const m of options.metrics) {
      if (m.length !== this.parameterCount) throw new GradientError(`a metric of ${m.length} values for ${this.parameterCount} trainable parameters`);
    }
    const stats = pairStatistics(pair.id, [g1.loss, g2.loss], g1.grads, g2.grads, this.weightTensor, this.tensors.length, options.metrics);
    if (![...stats.loss, ...stats.norm, stats.dot].every(Number.isFinite)) {
      throw new GradientError(`pair ${pair.id}: the loss or gradient is not finite (loss ${stats.loss}, ‖g‖ ${stats.norm})`);
    }
    return { stats, g1: g1.grads, g2: g2.grads };
  }

  dispose(): void {
    this.model.dispose();
  }
}
