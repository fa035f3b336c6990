// A small seeded PRNG, identical on every machine and in every process, so that pair
// plans, initial weights and synthetic data depend on the seed alone. Math.random and
// tf.random* are neither seedable across processes nor stable across backends.

/** murmur3's 32-bit finalizer: a bijection on 32-bit words with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast counter generator), seeded from a 32-bit seed
 * and a 32-bit stream number. Different streams of the same seed are independent for
 * our purposes (pair i of a plan uses stream i, so a pair does not depend on how many
 * pairs were planned).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0 || !Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) {
      throw new RangeError(`Rng seed must be a non-negative safe integer and stream a 32-bit unsigned integer, got ${seed} and ${stream}`);
    }
    // Every state word depends on all 53 bits of the seed and on the stream, each through
    // its own constant, so that different (seed, stream) never share a sequence by design.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const word = (k: number) => fmix32(fmix32(fmix32(lo ^ Math.imul(k, 0x9e3779b9)) ^ hi ^ Math.imul(k, 0x7f4a7c15)) ^ stream ^ Math.imul(k, 0x2545f491));
    this.a = word(1);
    this.b = word(2);
    this.c = word(3);
    this.d = word(4);
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. n ≤ 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new RangeError(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** Standard normal (Box–Muller; the spare value is kept so every call costs one draw). */
  nextNormal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * k distinct integers from [0, n), sorted ascending (Floyd's algorithm: O(k) draws,
   * independent of n).
   */
  sampleWithoutReplacement(n: number, k: number, exclude?: ReadonlySet<number>): number[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot draw from ${n} values: n must be a non-negative integer`);
    for (const e of exclude ?? []) {
      if (!Number.isInteger(e) || e < 0 || e >= n) throw new RangeError(`excluded value ${e} is not in [0, ${n})`);
    }
    const excluded = exclude?.size ?? 0;
    if (!Number.isInteger(k) || k < 0 || k > n - excluded) {
      throw new RangeError(`cannot draw ${k} distinct values from ${n - excluded} available`);
    }
    if (!exclude || exclude.size === 0) {
      const chosen = new Set<number>();
      for (let j = n - k; j < n; j++) {
        const t = this.nextInt(j + 1);
        chosen.add(chosen.has(t) ? j : t);
      }
      return [...chosen].sort((x, y) => x - y);
    }
    // Draw from the n - |exclude| allowed values by rank, then map ranks to values.
    const allowed = n - exclude.size;
    const ranks = this.sampleWithoutReplacement(allowed, k);
    const sortedExcluded = [...exclude].sort((x, y) => x - y);
    const out: number[] = [];
    let e = 0;
    for (const r of ranks) {
      // value v has rank v - (#excluded < v); advance until rank matches.
      let v = r + e;
      while (e < sortedExcluded.length && sortedExcluded[e]! <= v) {
        e++;
        v = r + e;
      }
      out.push(v);
    }
    return out;
  }
}
