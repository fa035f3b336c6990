// SGD with momentum and Adam with PyTorch's update rules (torch.optim.SGD and Adam/AdamW as
// of torch 1.13, single-tensor path), applied with TensorFlow.js ops to the model's
// variables so the weights never leave the device. Scalars (bias corrections, step size)
// are computed in float64 here, as torch computes them in Python, and enter as float32.
//
// SGD, per parameter p with gradient g (dampening 0):
//   g ← g + wd·p                 (weightDecay, L2 added to the gradient)
//   buf ← μ·buf + g              (momentum; buf starts at 0, so the first buf is g, as torch's clone)
//   d ← nesterov ? g + μ·buf : buf     (d = g when μ = 0: no buffer kept)
//   p ← p − lr·d
// Adam (step t counted from 1):
//   g ← g + wd·p                 (unless decoupled: then p ← p·(1 − lr·wd) first, AdamW)
//   m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)

import type * as TF from "@tensorflow/tfjs";

export type OptimizerConfig =
  | { kind: "sgd"; lr: number; momentum: number; nesterov: boolean; weightDecay: number }
  | { kind: "adam"; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean };

export class OptimizerError extends Error {
  override name = "OptimizerError";
}

/** The state an optimizer keeps per parameter, by torch's names for it. */
export function slotNames(c: OptimizerConfig): string[] {
  if (c.kind === "sgd") return c.momentum === 0 ? [] : ["momentum_buffer"];
  return ["exp_avg", "exp_avg_sq"];
}

/** Refuses hyperparameters torch refuses, and a nesterov SGD without momentum. */
export function checkOptimizer(c: OptimizerConfig, where = "optimizer"): void {
  const finite = (v: number, name: string, ok: boolean, want: string) => {
    if (!Number.isFinite(v) || !ok) throw new OptimizerError(`${where}.${name} must be ${want}, got ${v}`);
  };
  if (c.kind !== "sgd" && c.kind !== "adam") throw new OptimizerError(`${where}.kind must be sgd or adam, got ${JSON.stringify((c as { kind: unknown }).kind)}`);
  finite(c.lr, "lr", c.lr >= 0, "a number ≥ 0");
  finite(c.weightDecay, "weightDecay", c.weightDecay >= 0, "a number ≥ 0");
  if (c.kind === "sgd") {
    finite(c.momentum, "momentum", c.momentum >= 0, "a number ≥ 0");
    if (c.nesterov && c.momentum === 0) throw new OptimizerError(`${where}.nesterov needs momentum > 0 (torch.optim.SGD refuses it too)`);
  } else {
    finite(c.beta1, "beta1", c.beta1 >= 0 && c.beta1 < 1, "in [0, 1)");
    finite(c.beta2, "beta2", c.beta2 >= 0 && c.beta2 < 1, "in [0, 1)");
    finite(c.eps, "eps", c.eps >= 0, "a number ≥ 0");
  }
}

export class Optimizer {
  /** slots[k][i]: slot slotNames(config)[k] of parameter i. */
  readonly slots: TF.Variable[][];
  readonly slotNames: string[];

  constructor(
    private readonly tf: typeof TF,
    readonly config: OptimizerConfig,
    private readonly params: readonly TF.Variable[],
  ) {
    checkOptimizer(config);
    this.slotNames = slotNames(config);
    this.slots = this.slotNames.map(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  }

  /**
   * One update of every parameter with its gradient, at learning rate `lr`; `t` is the
   * number of this step counted from 1 (Adam's bias correction).
   */
  apply(grads: readonly TF.Tensor[], lr: number, t: number): void {
    const tf = this.tf;
    const c = this.config;
    if (grads.length !== this.params.length) throw new OptimizerError(`${grads.length} gradients for ${this.params.length} parameters`);
    tf.tidy(() => {
      const s = (v: number) => tf.scalar(v, "float32");
      if (c.kind === "sgd") {
        const mu = s(c.momentum);
        const rate = s(lr);
        const wd = s(c.weightDecay);
        this.params.forEach((p, i) => {
          let g = grads[i]!;
          if (c.weightDecay !== 0) g = tf.add(g, tf.mul(p, wd));
          let d = g;
          if (c.momentum !== 0) {
            const buf = this.slots[0]![i]!;
            const next = tf.add(tf.mul(buf, mu), g);
            buf.assign(next);
            d = c.nesterov ? tf.add(g, tf.mul(next, mu)) : next;
          }
          p.assign(tf.sub(p, tf.mul(d, rate)));
        });
        return;
      }
      const b1 = s(c.beta1);
      const b2 = s(c.beta2);
      const oneMinusB1 = s(1 - c.beta1);
      const oneMinusB2 = s(1 - c.beta2);
      const wd = s(c.weightDecay);
      const stepSize = s(lr / (1 - c.beta1 ** t));
      const bc2Sqrt = s(Math.sqrt(1 - c.beta2 ** t));
      const eps = s(c.eps);
      const decay = s(1 - lr * c.weightDecay);
      this.params.forEach((p, i) => {
        let g = grads[i]!;
        let w: TF.Tensor = p;
        if (c.weightDecay !== 0 && c.decoupled) w = tf.mul(p, decay);
        else if (c.weightDecay !== 0) g = tf.add(g, tf.mul(p, wd));
        const m = this.slots[0]![i]!;
        const v = this.slots[1]![i]!;
        const m1 = tf.add(tf.mul(m, b1), tf.mul(g, oneMinusB1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.mul(g, g), oneMinusB2));
        m.assign(m1);
        v.assign(v1);
        const denom = tf.add(tf.div(tf.sqrt(v1), bc2Sqrt), eps);
        p.assign(tf.sub(w, tf.mul(tf.div(m1, denom), stepSize)));
      });
    });
  }

  dispose(): void {
    for (const slot of this.slots) for (const v of slot) v.dispose();
  }
}
