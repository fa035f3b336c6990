// The error measure of the kernel and gradient comparisons: max |got − want| / max |want|
// (the absolute error when want is all zeros), i.e. float32 rounding relative to the
// array's scale rather than elementwise noise near zero.

export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`comparing arrays of ${got.length} and ${want.length} values`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return scale === 0 ? err : err / scale;
}
