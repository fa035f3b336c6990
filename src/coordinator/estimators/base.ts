// The common shape of every measure: map each pair to a small sample vector, accumulate
// its streaming moments, and turn the moments into an estimate on demand. Subclasses say
// only what the sample vector is and which function of its means they report.
import type { Estimate, Estimator, MeasureName, PairSample, Sampling } from "./types.js";
import { Moments } from "./moments.js";
import { checkPair } from "./pair.js";
import { sameSampling, validateSampling } from "./sampling.js";
import { finish, tInterval, unresolved } from "./ratio.js";
import { t95 } from "./student-t.js";

export abstract class PairEstimator implements Estimator {
  abstract readonly name: MeasureName;
  protected readonly moments: Moments;
  private readonly buf: number[];

  constructor(
    readonly sampling: Sampling,
    dim: number,
  ) {
    validateSampling(sampling);
    this.moments = new Moments(dim);
    this.buf = new Array<number>(dim).fill(0);
  }

  /** Writes the pair's sample vector into out. */
  protected abstract sample(p: PairSample, out: number[]): void;

  /** The estimate from the accumulated moments; called only with n ≥ 2. */
  protected abstract estimate(n: number, t: number): Estimate;

  add(p: PairSample): void {
    checkPair(p);
    this.sample(p, this.buf);
    this.moments.add(this.buf);
  }

  merge(other: Estimator): void {
    if (!(other instanceof PairEstimator) || other.name !== this.name) {
      throw new TypeError(`cannot merge estimator ${other.name} into ${this.name}`);
    }
    if (!sameSampling(this.sampling, other.sampling)) {
      throw new RangeError(`cannot merge ${this.name} estimators of different Sampling`);
    }
    this.moments.merge(other.moments);
  }

  result(): Estimate {
    const n = this.moments.n;
    if (n < 2) return unresolved(n, `need at least 2 pairs, have ${n}`);
    return this.estimate(n, t95(n - 1));
  }
}

/** A measure that is the plain mean of one per-pair sample. */
export abstract class MeanEstimator extends PairEstimator {
  constructor(sampling: Sampling) {
    super(sampling, 1);
  }

  protected abstract value(p: PairSample): number;

  protected sample(p: PairSample, out: number[]): void {
    out[0] = this.value(p);
  }

  protected estimate(n: number, t: number): Estimate {
    const mean = this.moments.mean(0);
    const se = Math.sqrt(this.moments.meanCovariance(0, 0));
    return finish(n, mean, se, tInterval(mean, se, t));
  }
}
