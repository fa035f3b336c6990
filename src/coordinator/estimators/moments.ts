// Streaming mean and co-moment matrix of a fixed-length sample vector in float64.
// Welford's update for add and Chan et al.'s pairwise formula for merge: both work on
// deviations from the running mean, so a large common offset (gradient norms far from
// zero with small spread) does not cancel catastrophically as Σx² − n·x̄² would, and a
// merge of two partial accumulators equals the sequential result up to rounding.

export class Moments {
  private count = 0;
  private readonly mu: Float64Array;
  /** Row-major dim×dim sum of outer products of deviations from the mean. */
  private readonly co: Float64Array;

  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`Moments.dim must be a positive integer, got ${dim}`);
    this.mu = new Float64Array(dim);
    this.co = new Float64Array(dim * dim);
  }

  get n(): number {
    return this.count;
  }

  add(x: ArrayLike<number>): void {
    const d = this.dim;
    if (x.length !== d) throw new RangeError(`Moments.add expects ${d} values, got ${x.length}`);
    const n = ++this.count;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      delta[j] = x[j]! - this.mu[j]!;
      this.mu[j] = this.mu[j]! + delta[j]! / n;
    }
    // δδᵀ(n−1)/n is Welford's δ(x − μ_new)ᵀ written so that the matrix stays exactly
    // symmetric and its diagonal can never go negative.
    const w = (n - 1) / n;
    for (let j = 0; j < d; j++) {
      for (let k = 0; k < d; k++) this.co[j * d + k] = this.co[j * d + k]! + delta[j]! * delta[k]! * w;
    }
  }

  merge(other: Moments): void {
    const d = this.dim;
    if (other.dim !== d) throw new RangeError(`Moments.merge: dim ${other.dim} does not match ${d}`);
    const nb = other.count;
    if (nb === 0) return;
    const na = this.count;
    const n = na + nb;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      delta[j] = other.mu[j]! - this.mu[j]!;
      this.mu[j] = this.mu[j]! + (delta[j]! * nb) / n;
    }
    const w = (na * nb) / n;
    for (let j = 0; j < d; j++) {
      for (let k = 0; k < d; k++) {
        this.co[j * d + k] = this.co[j * d + k]! + other.co[j * d + k]! + delta[j]! * delta[k]! * w;
      }
    }
    this.count = n;
  }

  mean(j: number): number {
    return this.mu[j]!;
  }

  /** Sample covariance (1/(n−1)) of components j and k; 0 for n < 2. */
  covariance(j: number, k: number): number {
    return this.count < 2 ? 0 : this.co[j * this.dim + k]! / (this.count - 1);
  }

  /** Covariance of the sample means of components j and k: covariance / n. */
  meanCovariance(j: number, k: number): number {
    return this.count < 2 ? 0 : this.covariance(j, k) / this.count;
  }
}
