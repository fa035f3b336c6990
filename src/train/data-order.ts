// The order a training run visits the examples in: epoch e is a permutation of 0..n−1
// drawn from Rng(seed, stream e) alone (Fisher–Yates), cut into minibatches of B. So
// minibatch b of epoch e is computed without replaying earlier epochs, and a run resumed
// at (epoch, batch) sees exactly the batches it would have seen uninterrupted. With
// shuffle off every epoch is 0..n−1 in order (torch's DataLoader with shuffle=False).

import { Rng } from "../util/rng.js";

export interface DataOrderConfig {
  /** Examples in the training set. */
  n: number;
  batchSize: number;
  seed: number;
  shuffle: boolean;
  /** Drop the last, smaller minibatch of each epoch (torch's DataLoader drop_last). */
  dropLast: boolean;
}

/** Where a run is in its data: the next minibatch to train on. */
export interface DataPosition {
  epoch: number;
  batch: number;
}

export class DataOrderError extends Error {
  override name = "DataOrderError";
}

export class DataOrder {
  /** Minibatches per epoch. */
  readonly batchesPerEpoch: number;
  private cached: { epoch: number; order: Int32Array } | null = null;

  constructor(readonly config: DataOrderConfig) {
    const { n, batchSize, seed } = config;
    if (!Number.isSafeInteger(n) || n < 1) throw new DataOrderError(`the training set needs at least one example, got n = ${n}`);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new DataOrderError(`batchSize must be a positive integer, got ${batchSize}`);
    if (config.dropLast && batchSize > n) throw new DataOrderError(`batchSize ${batchSize} exceeds the ${n} training examples: with dropLast no minibatch is left`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new DataOrderError(`the data seed must be a non-negative safe integer, got ${seed}`);
    this.batchesPerEpoch = config.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  }

  /** Epoch e's order of the examples. */
  permutation(epoch: number): Int32Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new DataOrderError(`epoch must be an integer in [0, 2^32), got ${epoch}`);
    if (this.cached?.epoch === epoch) return this.cached.order;
    const n = this.config.n;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.config.shuffle) {
      const rng = new Rng(this.config.seed, epoch);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
    }
    this.cached = { epoch, order };
    return order;
  }

  /** The example indices of minibatch `batch` of epoch `epoch`. */
  batch(position: DataPosition): Int32Array {
    const { epoch, batch } = position;
    if (!Number.isSafeInteger(batch) || batch < 0 || batch >= this.batchesPerEpoch) {
      throw new DataOrderError(`minibatch ${batch} is not in [0, ${this.batchesPerEpoch}) (epoch ${epoch})`);
    }
    const start = batch * this.config.batchSize;
    return this.permutation(epoch).subarray(start, Math.min(start + this.config.batchSize, this.config.n));
  }

  /** The position after training on `position`'s minibatch. */
  next(position: DataPosition): DataPosition {
    return position.batch + 1 < this.batchesPerEpoch ? { epoch: position.epoch, batch: position.batch + 1 } : { epoch: position.epoch + 1, batch: 0 };
  }
}
