// Class × class stiffness against all pairs of a small labelled set enumerated by hand.
import { describe, expect, it } from "vitest";
import { stiffnessByClass, type ClassPair } from "../../src/coordinator/estimators/stiffness-classes.js";

const G = [
  [1, 0.2],
  [0.8, -0.1],
  [-0.5, 1],
  [-0.3, 0.9],
  [0.1, -1],
  [0.4, 0.4],
];
const Y = [0, 0, 1, 1, 2, 0];

function allPairs(): ClassPair[] {
  const out: ClassPair[] = [];
  for (let i = 0; i < G.length; i++) {
    for (let j = 0; j < G.length; j++) {
      if (i === j) continue;
      const [x, y] = [G[i]!, G[j]!];
      out.push({ a: Math.hypot(x[0]!, x[1]!), b: Math.hypot(y[0]!, y[1]!), c: x[0]! * y[0]! + x[1]! * y[1]!, y: [Y[i]!, Y[j]!] });
    }
  }
  return out;
}

describe("stiffnessByClass", () => {
  it("each cell is the mean over the pairs joining those classes; same and different class averages", () => {
    const pairs = allPairs();
    const r = stiffnessByClass(pairs, 3);
    const cos = (p: ClassPair) => p.c / p.a / p.b;
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const cell = pairs.filter((p) => (p.y[0] === a && p.y[1] === b) || (p.y[0] === b && p.y[1] === a));
        expect(r.pairs[a]![b], `pairs [${a}][${b}]`).toBe(cell.length);
        if (cell.length === 0) expect(r.cos[a]![b]).toBeNull();
        else {
          expect(r.cos[a]![b]).toBeCloseTo(cell.reduce((s, p) => s + cos(p), 0) / cell.length, 12);
          expect(r.sign[a]![b]).toBeCloseTo(cell.reduce((s, p) => s + Math.sign(p.c), 0) / cell.length, 12);
        }
        expect(r.cos[a]![b]).toEqual(r.cos[b]![a]);
      }
    }
    // Class 2 has one example: no pair within it.
    expect(r.pairs[2]![2]).toBe(0);
    const same = pairs.filter((p) => p.y[0] === p.y[1]);
    expect(r.same_class.cos.n).toBe(same.length);
    expect(r.same_class.cos.mean).toBeCloseTo(same.reduce((s, p) => s + cos(p), 0) / same.length, 12);
    expect(r.different_class.sign.n).toBe(pairs.length - same.length);
  });

  it("refuses a class outside 0..classes − 1", () => {
    expect(() => stiffnessByClass([{ a: 1, b: 1, c: 1, y: [0, 3] }], 3)).toThrow(/classes \[0,3\] are not in 0..2/);
    expect(() => stiffnessByClass([], 0)).toThrow(/positive integer/);
  });
});
