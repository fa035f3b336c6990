// What the perturbation measures need from a loss: its value, and its value with the
// gradient, at a parameter vector. The worker's adapter (model-objective.ts) serves them
// from a TensorFlow.js model; the tests serve exact quadratics and linear regressions.
// Everything here is float64; an adapter may round θ + δ to the model's float32.

/** One fixed loss (a minibatch's, or the full training data's) as a function of θ (length P). */
export interface Objective {
  /** P, the number of parameters. */
  readonly dimension: number;
  /** The loss at θ (one forward pass over the loss's examples). */
  value(theta: Float64Array): Promise<number>;
  /** The loss and its gradient at θ (one forward and one backward pass). */
  valueAndGradient(theta: Float64Array): Promise<{ value: number; gradient: Float64Array }>;
}

/** A function of θ whose rise a perturbation is allowed (PAC-Bayes flatness: the loss, or the error). */
export type Evaluator = (theta: Float64Array) => Promise<number>;

export function checkVector(v: ArrayLike<number>, length: number, what: string): void {
  if (v.length !== length) throw new RangeError(`${what} has ${v.length} values, expected ${length}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) throw new RangeError(`${what}[${i}] is ${v[i]}, not a finite number`);
  }
}

export function checkPositive(x: number, what: string): void {
  if (!(Number.isFinite(x) && x > 0)) throw new RangeError(`${what} must be a finite number > 0, got ${x}`);
}

export function checkCount(n: number, min: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be an integer ≥ ${min}, got ${n}`);
}

export function checkFiniteValue(x: number, what: string): void {
  if (!Number.isFinite(x)) throw new RangeError(`${what} is ${x}, not a finite number`);
}
