// Minibatch gradients of the mean softmax cross-entropy at one θ, and the per-pair
// statistics a task returns. The gradients come from TensorFlow.js on whatever backend
// was selected; the reductions (‖g‖², g₁·g₂) are done here in float64 on the downloaded
// gradients, so they are as exact as the float32 gradients allow and do not depend on
// how a backend orders its float32 sums.

import type * as TF from "@tensorflow/tfjs";
import { featureSize, type Dataset } from "../data/dataset.js";
import { layerNames, layerOfWeight, type Snapshot } from "../model/snapshot.js";
import { logitsTopology } from "../model/logits-topology.js";
import type { PairStats } from "../protocol/index.js";

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
    /** For each trainable weight, the index of its layer in `layers`. */
    readonly weightLayer: number[],
    readonly layers: string[],
    readonly weightNames: string[],
    private readonly dataset: Dataset,
  ) {
    this.exampleSize = featureSize(dataset);
    this.layerSizes = layers.map(() => 0);
    variables.forEach((v, w) => (this.layerSizes[weightLayer[w]!] = this.layerSizes[weightLayer[w]!]! + v.size));
  }

  /** Trainable parameters per layer, in the order of `layers`. */
  readonly layerSizes: number[];

  private readonly exampleSize: number;

  /**
   * The minibatch's inputs and one-hot labels, gathered here and uploaded: the dataset
   * never has to fit on the device, and tf.gather/tf.oneHot on Dawn's GL backend hung or
   * crashed on a dataset-sized tensor.
   */
  private batchTensors(indices: readonly number[]): { xb: TF.Tensor; yb: TF.Tensor2D } {
    const d = this.dataset;
    const size = this.exampleSize;
    const x = new Float32Array(indices.length * size);
    const y = new Float32Array(indices.length * d.numClasses);
    indices.forEach((i, row) => {
      x.set(d.x.subarray(i * size, (i + 1) * size), row * size);
      y[row * d.numClasses + d.y[i]!] = 1;
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
    const layers = layerNames(weightNames.map((name) => ({ name, shape: [] })));
    const weightLayer = weightNames.map((n) => layers.indexOf(layerOfWeight(n)));
    const variables = trainable.map((w) => w.read() as TF.Variable);
    return new GradientEngine(tf, model, variables, weightLayer, layers, weightNames, dataset);
  }

  async minibatchGradient(indices: readonly number[]): Promise<MinibatchGradient> {
    const tf = this.tf;
    if (indices.length === 0) throw new GradientError("a minibatch needs at least one example index");
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.dataset.n) {
        throw new GradientError(`example index ${i} is outside the dataset (size ${this.dataset.n})`);
      }
    }
    const { xb, yb } = this.batchTensors(indices);
    let value: TF.Scalar | undefined;
    let grads: TF.NamedTensorMap | undefined;
    try {
      ({ value, grads } = tf.variableGrads(() => {
        const logits = this.model.apply(xb, { training: false }) as TF.Tensor;
        return tf.neg(tf.mean(tf.sum(tf.mul(yb, tf.logSoftmax(logits)), -1))) as TF.Scalar;
      }, this.variables));
      const ordered = this.variables.map((v) => grads![v.name]!);
      const arrays = await Promise.all(ordered.map((g) => g.data() as Promise<Float32Array>));
      const loss = (await value.data())[0]!;
      return { loss, grads: arrays };
    } finally {
      xb.dispose();
      yb.dispose();
      value?.dispose();
      if (grads) tf.dispose(Object.values(grads));
    }
  }

  async pairStats(pair: PairInput): Promise<PairStats> {
    return (await this.pairGradients(pair)).stats;
  }

  /** The pair's statistics and both gradients (one array per trainable weight). */
  async pairGradients(pair: PairInput): Promise<{ stats: PairStats; g1: Float32Array[]; g2: Float32Array[] }> {
    const g1 = await this.minibatchGradient(pair.batches[0]);
    const g2 = await this.minibatchGradient(pair.batches[1]);
    const L = this.layers.length;
    const sq1 = new Float64Array(L);
    const sq2 = new Float64Array(L);
    const dot = new Float64Array(L);
    for (let w = 0; w < g1.grads.length; w++) {
      const a = g1.grads[w]!;
      const b = g2.grads[w]!;
      let s1 = 0;
      let s2 = 0;
      let d = 0;
      for (let k = 0; k < a.length; k++) {
        const ak = a[k]!;
        const bk = b[k]!;
        s1 += ak * ak;
        s2 += bk * bk;
        d += ak * bk;
      }
      const l = this.weightLayer[w]!;
      sq1[l] = sq1[l]! + s1;
      sq2[l] = sq2[l]! + s2;
      dot[l] = dot[l]! + d;
    }
    let t1 = 0;
    let t2 = 0;
    let td = 0;
    for (let l = 0; l < L; l++) {
      t1 += sq1[l]!;
      t2 += sq2[l]!;
      td += dot[l]!;
    }
    const stats: PairStats = {
      id: pair.id,
      loss: [g1.loss, g2.loss],
      norm: [Math.sqrt(t1), Math.sqrt(t2)],
      dot: td,
      layerNorm: [Array.from(sq1, Math.sqrt), Array.from(sq2, Math.sqrt)],
      layerDot: Array.from(dot),
    };
    if (![...stats.loss, ...stats.norm, stats.dot].every(Number.isFinite)) {
      throw new GradientError(`pair ${pair.id}: the loss or gradient is not finite (loss ${stats.loss}, ‖g‖ ${stats.norm})`);
    }
    return { stats, g1: g1.grads, g2: g2.grads };
  }

  dispose(): void {
    this.model.dispose();
  }
}
