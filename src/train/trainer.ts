// One training run on one worker: a model snapshot (src/model/snapshot.ts) trained on a
// dataset (src/data/) with TensorFlow.js on whatever backend is selected, minibatch by
// minibatch in the order of src/train/data-order.ts, with the optimizers of
// src/train/optimizers.ts under the schedules of src/train/schedules.ts. Its state
// (src/train/state.ts) taken at any step and loaded into a fresh trainer continues the
// run with the same bits as if it had never stopped, on the same backend: the next step
// depends on nothing but the weights, the optimizer's slots, the step count and the data
// position, all of which the state holds exactly (docs/design.md, "Training").
//
// The loss is the mean softmax cross-entropy on the logits, as the gradients the swarm
// measures (src/worker/gradients.ts). Layers that draw random numbers in training
// (dropout, noise) are refused: tf.random is not seedable per step, so no resume could
// repeat them.

import type * as TF from "@tensorflow/tfjs";
import { featureSize, type Dataset } from "../data/dataset.js";
import { logitsTopology } from "../model/logits-topology.js";
import type { Snapshot } from "../model/snapshot.js";
import { DataOrder, type DataPosition } from "./data-order.js";
import { describeEvalSet, evalIndices, type EvalSetConfig } from "./eval-set.js";
import { checkOptimizer, Optimizer, type OptimizerConfig } from "./optimizers.js";
import { checkSchedule, learningRate, type ScheduleConfig } from "./schedules.js";
import type { NamedArray, TrainSettings, TrainState } from "./state.js";
import { denseLayers, GroupingError, whyNotGrouped, type DenseSpec } from "../worker/grouped.js";
import { denseForward } from "./dense-forward.js";

export interface TrainConfig {
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  data: { seed: number; shuffle: boolean; dropLast: boolean };
  /** Where the run ends: after this many optimizer steps in all, or this many epochs. */
  stop: { steps: number } | { epochs: number };
  /** A checkpoint every this many steps (and one at the end). */
  checkpointEvery: number;
  /** End the run at the first checkpoint whose train loss is at or below `loss`. */
  stopAtTrainLoss?: { loss: number };
  /** The examples the checkpoints' train loss is measured on. */
  evalSet: EvalSetConfig;
  /** A held-out set: each checkpoint also reports loss and accuracy on all of it. */
  testSet?: Dataset;
}

export interface TrainLoss {
  loss: number;
  accuracy: number;
  /** Which examples, in words (eval-set.ts). */
  on: string;
}

export interface Checkpoint {
  state: TrainState;
  train: TrainLoss;
  /** On config.testSet, when there is one. */
  test?: TrainLoss;
}

export type StopReason = "steps" | "epochs" | "train_loss";

export class TrainError extends Error {
  override name = "TrainError";
}

/** Layers that draw random numbers when training (tf.random, not seedable per step). */
const RANDOM_LAYERS = /^(Dropout|SpatialDropout[123]D|GaussianNoise|GaussianDropout|AlphaDropout)$/;

function randomLayers(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => randomLayers(n, out));
  else if (typeof node === "object" && node !== null) {
    const o = node as Record<string, unknown>;
    if (typeof o.class_name === "string" && RANDOM_LAYERS.test(o.class_name)) out.push(o.class_name);
    Object.values(o).forEach((v) => randomLayers(v, out));
  }
  return out;
}

/** Examples per pass when measuring the train loss. */
const EVAL_PASS = 1024;

export class Trainer {
  private constructor(
    private readonly tf: typeof TF,
    private readonly model: TF.LayersModel,
    private readonly snapshot: Snapshot,
    private readonly dataset: Dataset,
    readonly config: TrainConfig,
    readonly order: DataOrder,
    /** Every weight of the model in the snapshot's order. */
    private readonly weights: TF.LayerVariable[],
    private readonly params: TF.Variable[],
    private readonly paramNames: string[],
    private readonly optimizer: Optimizer,
    /** The model as a Dense stack, for dense-forward.ts on the wasm backend; null when it is none. */
    private readonly dense: DenseSpec[] | null,
  ) {
    this.exampleSize = featureSize(dataset);
    this.evalSet = evalIndices(config.evalSet, dataset.n);
  }

  private readonly exampleSize: number;
  private readonly evalSet: number[];
  /** Optimizer steps taken. */
  step = 0;
  /** The next minibatch. */
  position: DataPosition = { epoch: 0, batch: 0 };

  static async create(tf: typeof TF, snapshot: Snapshot, dataset: Dataset, config: TrainConfig): Promise<Trainer> {
    checkOptimizer(config.optimizer, "optimizer");
    checkSchedule(config.schedule, "schedule");
    const stop = config.stop as { steps?: number; epochs?: number };
    const limit = stop.steps ?? stop.epochs;
    if ((stop.steps === undefined) === (stop.epochs === undefined) || !Number.isSafeInteger(limit) || limit! < 1) {
      throw new TrainError(`stop must be {steps: N} or {epochs: N} with N a positive integer, got ${JSON.stringify(config.stop)}`);
    }
    if (!Number.isSafeInteger(config.checkpointEvery) || config.checkpointEvery < 1) throw new TrainError(`checkpointEvery must be a positive integer, got ${config.checkpointEvery}`);
    if (config.stopAtTrainLoss && !Number.isFinite(config.stopAtTrainLoss.loss)) throw new TrainError(`stopAtTrainLoss.loss must be a finite number, got ${config.stopAtTrainLoss.loss}`);
    const random = randomLayers(snapshot.modelTopology);
    if (random.length > 0) throw new TrainError(`the model has layers that draw random numbers in training (${[...new Set(random)].join(", ")}): a resumed run could not repeat them`);
    const test = config.testSet;
    if (test && (JSON.stringify(test.featureShape) !== JSON.stringify(dataset.featureShape) || test.numClasses !== dataset.numClasses)) {
      throw new TrainError(`the test set ${test.name} has examples [${test.featureShape}] in ${test.numClasses} classes, the training set ${dataset.name} [${dataset.featureShape}] in ${dataset.numClasses}`);
    }
    const order = new DataOrder({ n: dataset.n, batchSize: config.batchSize, ...config.data });
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: logitsTopology(snapshot.modelTopology) as TF.io.ModelArtifacts["modelTopology"],
        weightSpecs: snapshot.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: "float32" as const })),
        weightData: snapshot.data.slice().buffer,
      }),
    );
    const inputShape = model.inputs[0]!.shape.slice(1);
    const outputUnits = model.outputs[0]!.shape.at(-1);
    if (inputShape.length !== dataset.featureShape.length || inputShape.some((d, i) => d !== null && d !== dataset.featureShape[i]) || outputUnits !== dataset.numClasses) {
      model.dispose();
      throw new TrainError(`the model maps inputs [${inputShape}] to ${String(outputUnits)} outputs, dataset ${dataset.name} has examples [${dataset.featureShape}] in ${dataset.numClasses} classes`);
    }
    const byName = new Map(model.weights.map((w) => [w.originalName, w]));
    const weights = snapshot.weights.map((w) => {
      const v = byName.get(w.name);
      if (!v) {
        model.dispose();
        throw new TrainError(`weight ${w.name} of the snapshot is not in the model`);
      }
      return v;
    });
    const params = model.trainableWeights.map((w) => w.read() as TF.Variable);
    const paramNames = model.trainableWeights.map((w) => w.originalName);
    const topology = logitsTopology(snapshot.modelTopology);
    let dense: DenseSpec[] | null = null;
    try {
      if (dataset.featureShape.length === 1 && whyNotGrouped(topology) === null) dense = denseLayers(topology, params);
    } catch (err) {
      // A Dense stack with frozen layers: its trainable weights are not the whole stack; model.apply does it.
      if (!(err instanceof GroupingError)) throw err;
    }
    return new Trainer(tf, model, snapshot, dataset, config, order, weights, params, paramNames, new Optimizer(tf, config.optimizer, params), dense);
  }

  get settings(): TrainSettings {
    return { optimizer: this.config.optimizer, schedule: this.config.schedule, data: this.order.config };
  }

  /** Whether the run has reached its step or epoch limit. */
  get finished(): boolean {
    const stop = this.config.stop;
    return "steps" in stop ? this.step >= stop.steps : this.position.epoch >= stop.epochs;
  }

  /** The learning rate the next step uses. */
  get learningRate(): number {
    return learningRate(this.config.schedule, this.config.optimizer.lr, this.step);
  }

  private batchTensors(indices: ArrayLike<number>, d: Dataset = this.dataset): { xb: TF.Tensor; yb: TF.Tensor2D } {
    const size = this.exampleSize;
    const x = new Float32Array(indices.length * size);
    const y = new Float32Array(indices.length * d.numClasses);
    for (let row = 0; row < indices.length; row++) {
      const i = indices[row]!;
      x.set(d.x.subarray(i * size, (i + 1) * size), row * size);
      y[row * d.numClasses + d.y[i]!] = 1;
    }
    return { xb: this.tf.tensor(x, [indices.length, ...d.featureShape], "float32"), yb: this.tf.tensor2d(y, [indices.length, d.numClasses], "float32") };
  }

  /** One optimizer step on the next minibatch. */
  trainStep(): void {
    const tf = this.tf;
    const { xb, yb } = this.batchTensors(this.order.batch(this.position));
    const lr = this.learningRate;
    let value: TF.Scalar | undefined;
    let grads: TF.NamedTensorMap | undefined;
    try {
      ({ value, grads } = tf.variableGrads(() => {
        const logits = this.dense && tf.getBackend() === "wasm" ? denseForward(tf, this.dense, xb as TF.Tensor2D) : (this.model.apply(xb, { training: true }) as TF.Tensor);
        return tf.neg(tf.mean(tf.sum(tf.mul(yb, tf.logSoftmax(logits)), -1))) as TF.Scalar;
      }, this.params));
      this.optimizer.apply(this.params.map((p) => grads![p.name]!), lr, this.step + 1);
    } finally {
      xb.dispose();
      yb.dispose();
      value?.dispose();
      if (grads) tf.dispose(Object.values(grads));
    }
    this.step++;
    this.position = this.order.next(this.position);
  }

  /** Mean loss and accuracy on the evaluation set at the current weights (float64 sums). */
  async trainLoss(): Promise<TrainLoss> {
    return { ...(await this.lossOn(this.dataset, this.evalSet)), on: describeEvalSet(this.config.evalSet, this.dataset.n) };
  }

  /** Mean loss and accuracy on all of config.testSet, or null without one. */
  async testLoss(): Promise<TrainLoss | null> {
    const test = this.config.testSet;
    if (!test) return null;
    return { ...(await this.lossOn(test, Array.from({ length: test.n }, (_, i) => i))), on: `the test set ${test.name} (${test.n} examples)` };
  }

  private async checkpoint(): Promise<Checkpoint> {
    const c: Checkpoint = { state: await this.state(), train: await this.trainLoss() };
    const test = await this.testLoss();
    if (test) c.test = test;
    return c;
  }

  private async lossOn(data: Dataset, indices: readonly number[]): Promise<{ loss: number; accuracy: number }> {
    const classes = data.numClasses;
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < indices.length; start += EVAL_PASS) {
      const part = indices.slice(start, start + EVAL_PASS);
      const { xb, yb } = this.batchTensors(part, data);
      const logits = this.tf.tidy(() => this.model.apply(xb, { training: false }) as TF.Tensor);
      let z: Float32Array;
      try {
        z = (await logits.data()) as Float32Array;
      } finally {
        xb.dispose();
        yb.dispose();
        logits.dispose();
      }
      part.forEach((i, r) => {
        let max = -Infinity;
        let arg = 0;
        for (let c = 0; c < classes; c++) if (z[r * classes + c]! > max) (max = z[r * classes + c]!), (arg = c);
        let total = 0;
        for (let c = 0; c < classes; c++) total += Math.exp(z[r * classes + c]! - max);
        loss += max + Math.log(total) - z[r * classes + data.y[i]!]!;
        if (arg === data.y[i]) correct++;
      });
    }
    return { loss: loss / indices.length, accuracy: correct / indices.length };
  }

  /**
   * Trains until the run's limit or the train-loss target, handing each checkpoint (every
   * checkpointEvery steps, and the last) to `onCheckpoint` before going on. The target is
   * checked at checkpoints only, on the evaluation set.
   */
  async run(onCheckpoint: (c: Checkpoint) => Promise<void> | void = () => {}): Promise<{ reason: StopReason; last: Checkpoint }> {
    for (;;) {
      if (this.finished) {
        const last = await this.checkpoint();
        await onCheckpoint(last);
        return { reason: "steps" in this.config.stop ? "steps" : "epochs", last };
      }
      this.trainStep();
      if (this.step % this.config.checkpointEvery === 0 && !this.finished) {
        const c = await this.checkpoint();
        await onCheckpoint(c);
        if (this.config.stopAtTrainLoss && c.train.loss <= this.config.stopAtTrainLoss.loss) return { reason: "train_loss", last: c };
      }
    }
  }

  /** The run's state now (copies: training on does not change it). */
  async state(): Promise<TrainState> {
    const weights: NamedArray[] = [];
    for (const [i, w] of this.snapshot.weights.entries()) weights.push({ name: w.name, shape: [...w.shape], data: ((await this.weights[i]!.read().data()) as Float32Array).slice() });
    const slots: Record<string, NamedArray[]> = {};
    for (const [k, slot] of this.optimizer.slotNames.entries()) {
      slots[slot] = [];
      for (const [i, v] of this.optimizer.slots[k]!.entries()) slots[slot].push({ name: this.paramNames[i]!, shape: [...v.shape], data: ((await v.data()) as Float32Array).slice() });
    }
    return { step: this.step, position: { ...this.position }, settings: this.settings, weights, slots };
  }

  /** Continues from `state`: refused unless it was written under the same settings, for this model. */
  load(state: TrainState, where = "the training state"): void {
    const differs = firstDifference(state.settings, this.settings, "settings");
    if (differs) throw new TrainError(`${where} was written with ${differs.path} = ${differs.theirs}, this run has ${differs.mine}`);
    if (state.position.batch >= this.order.batchesPerEpoch) throw new TrainError(`${where}: minibatch ${state.position.batch} does not exist (${this.order.batchesPerEpoch} per epoch)`);
    const check = (arrays: NamedArray[], names: string[], shapes: number[][], what: string) => {
      if (arrays.length !== names.length || arrays.some((a, i) => a.name !== names[i] || JSON.stringify(a.shape) !== JSON.stringify(shapes[i]))) {
        throw new TrainError(`${where}: ${what} ${JSON.stringify(arrays.map((a) => [a.name, a.shape]))} do not match the model's ${JSON.stringify(names.map((n, i) => [n, shapes[i]]))}`);
      }
    };
    check(state.weights, this.snapshot.weights.map((w) => w.name), this.snapshot.weights.map((w) => w.shape), "weights");
    const slotNames = Object.keys(state.slots);
    if (JSON.stringify(slotNames) !== JSON.stringify(this.optimizer.slotNames)) throw new TrainError(`${where}: optimizer slots [${slotNames}], this optimizer keeps [${this.optimizer.slotNames}]`);
    for (const [k, slot] of this.optimizer.slotNames.entries()) {
      check(state.slots[slot]!, this.paramNames, this.params.map((p) => p.shape), `optimizer slot ${slot}`);
      this.optimizer.slots[k]!.forEach((v, i) => this.assign(v, state.slots[slot]![i]!));
    }
    state.weights.forEach((w, i) => this.assign(this.weights[i]!.read() as TF.Variable, w));
    this.step = state.step;
    this.position = { ...state.position };
  }

  private assign(v: TF.Variable, a: NamedArray): void {
    const t = this.tf.tensor(a.data, a.shape, "float32");
    v.assign(t);
    t.dispose();
  }

  /** The current weights as a snapshot of the original topology (a checkpoint as a model). */
  async weightsSnapshot(): Promise<Snapshot> {
    const s = await this.state();
    return stateSnapshot(this.snapshot.modelTopology, s);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/** The first field (a dotted path) where two JSON values differ, or null. */
function firstDifference(theirs: unknown, mine: unknown, path: string): { path: string; theirs: string; mine: string } | null {
  if (typeof theirs === "object" && theirs !== null && typeof mine === "object" && mine !== null) {
    const keys = new Set([...Object.keys(theirs), ...Object.keys(mine)]);
    for (const k of keys) {
      const d = firstDifference((theirs as Record<string, unknown>)[k], (mine as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return theirs === mine ? null : { path, theirs: JSON.stringify(theirs) ?? "absent", mine: JSON.stringify(mine) ?? "absent" };
}

/** A state's weights under `topology`: what writeLayersModel writes as model.json + weights.bin. */
export function stateSnapshot(topology: Record<string, unknown>, s: TrainState): Snapshot {
  const data = new Float32Array(s.weights.reduce((n, w) => n + w.data.length, 0));
  let at = 0;
  for (const w of s.weights) {
    data.set(w.data, at);
    at += w.data.length;
  }
  return { modelTopology: topology, weights: s.weights.map((w) => ({ name: w.name, shape: w.shape })), data };
}
