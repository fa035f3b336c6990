// Kendall's rank correlation τ_b between two paired samples (ties in either counted as
// neither concordant nor discordant, and the denominator corrected for them): how well an
// indicator orders runs by their generalization gap. O(n²): runs number in the tens.

export function kendallTauB(x: readonly number[], y: readonly number[]): number | null {
  if (x.length !== y.length) throw new Error(`kendallTauB: ${x.length} x values and ${y.length} y values`);
  let concordant = 0;
  let discordant = 0;
  let tiedInXOnly = 0;
  let tiedInYOnly = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiedInXOnly++;
      else if (dy === 0) tiedInYOnly++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  // Pairs not tied in x, and pairs not tied in y.
  const n1 = concordant + discordant + tiedInYOnly;
  const n2 = concordant + discordant + tiedInXOnly;
  // Fewer than two distinct values on either side: no ordering to agree with.
  if (n1 === 0 || n2 === 0) return null;
  return (concordant - discordant) / Math.sqrt(n1 * n2);
}
