// Student t quantiles for confidence intervals. Computed rather than tabulated so that any
// number of pairs gets its exact n − 1 degrees of freedom: the tail probability is the
// regularized incomplete beta function (continued fraction), inverted by safeguarded
// Newton steps. Accurate to ~1e-10 for df ≥ 1, well past the 1e-4 the intervals need.

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7; reflection below 1/2). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) s += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 20000; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/**
 * Regularized incomplete beta I_x(a, b), with y = 1 − x passed in separately so that
 * callers can supply it without cancellation.
 */
function betaInc(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log(y) - (logGamma(a) + logGamma(b) - logGamma(a + b)));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(y, b, a)) / b;
}

/** P(T > t) for t ≥ 0, T ~ Student t with df degrees of freedom. */
function tUpperTail(t: number, df: number): number {
  const t2 = t * t;
  return 0.5 * betaInc(df / (df + t2), t2 / (df + t2), df / 2, 0.5);
}

function tDensity(t: number, df: number): number {
  const logc = logGamma((df + 1) / 2) - logGamma(df / 2) - 0.5 * Math.log(df * Math.PI);
  return Math.exp(logc - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/** erfc(x) for x ≥ 0: power series of erf below 3, continued fraction above. */
function erfc(x: number): number {
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up.
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

const normalUpperTail = (z: number): number => 0.5 * erfc(z / Math.SQRT2);
const normalDensity = (z: number): number => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);

/** Solves tail(t) = q for t ≥ 0 (tail decreasing, q ∈ (0, 1/2]) by Newton kept inside a bracket. */
function solveUpperTail(tail: (t: number) => number, density: (t: number) => number, q: number, guess: number): number {
  let lo = 0;
  let hi = Math.max(1, guess);
  while (tail(hi) > q) {
    lo = hi;
    hi *= 2;
  }
  let t = guess > lo && guess < hi ? guess : (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const f = tail(t) - q;
    if (f > 0) lo = t;
    else hi = t;
    let next = t + f / density(t);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - t) <= 1e-14 * Math.max(1, t) || hi - lo <= 1e-14 * Math.max(1, t)) return next;
    t = next;
  }
  return t;
}

/** Standard normal quantile. */
export function normalQuantile(p: number): number {
  checkProbability(p);
  if (p === 0.5) return 0;
  const q = p > 0.5 ? 1 - p : p;
  // Crude start (Abramowitz & Stegun 26.2.23 flavour); Newton does the rest.
  const r = Math.sqrt(-2 * Math.log(q));
  const guess = r - (2.515517 + 0.802853 * r + 0.010328 * r * r) / (1 + 1.432788 * r + 0.189269 * r * r + 0.001308 * r * r * r);
  const z = solveUpperTail(normalUpperTail, normalDensity, q, guess);
  return p > 0.5 ? z : -z;
}

/**
 * Quantile of Student's t with df degrees of freedom (df > 0, real; Infinity gives the
 * normal quantile).
 */
export function studentTQuantile(p: number, df: number): number {
  checkProbability(p);
  if (!(df > 0)) throw new RangeError(`studentTQuantile: df must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (df === Infinity) return normalQuantile(p);
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  const z = normalQuantile(p);
  // Cornish–Fisher expansion in 1/df: the answer itself for huge df (error O(df⁻⁴)), and
  // the Newton start otherwise.
  const z2 = z * z;
  const cf =
    z +
    (z * (z2 + 1)) / (4 * df) +
    (z * (5 * z2 * z2 + 16 * z2 + 3)) / (96 * df * df) +
    (z * (3 * z2 * z2 * z2 + 19 * z2 * z2 + 17 * z2 - 15)) / (384 * df * df * df);
  if (df > 1e6) return cf;
  const q = p > 0.5 ? 1 - p : p;
  const t = solveUpperTail(
    (x) => tUpperTail(x, df),
    (x) => tDensity(x, df),
    q,
    Math.abs(cf),
  );
  return p > 0.5 ? t : -t;
}

function checkProbability(p: number): void {
  if (!(p > 0 && p < 1)) throw new RangeError(`probability must be in (0, 1), got ${p}`);
}

const cache95 = new Map<number, number>();

/** The two-sided 95% multiplier t_{0.975, df}, memoized: result() asks for it often. */
export function t95(df: number): number {
  let v = cache95.get(df);
  if (v === undefined) {
    v = studentTQuantile(0.975, df);
    if (cache95.size > 4096) cache95.clear();
    cache95.set(df, v);
  }
  return v;
}
