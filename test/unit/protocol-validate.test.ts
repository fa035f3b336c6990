// The wire contract's checkers (src/protocol/validate.ts) one by one: what each accepts at
// its bounds and the exact words of each refusal. The peer reads these messages (an ack's
// reason, a worker's log), so a refusal that names the wrong thing is a bug too.
import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../src/protocol/index.js";
import * as v from "../../src/protocol/validate.js";

/** The message of the ProtocolError that `f` throws. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof ProtocolError) return err.message;
    throw err;
  }
  throw new Error("expected a ProtocolError, nothing was thrown");
}

describe("describe (values in error messages)", () => {
  it("names each kind of value without echoing large content", () => {
    const cases: [unknown, string][] = [
      [undefined, "undefined"],
      [true, "true"],
      [false, "false"],
      [3, "the number 3"],
      [Number.NaN, "NaN"],
      [Infinity, "Infinity"],
      [-Infinity, "-Infinity"],
      [10n, "a bigint"],
      ["ab", 'the string "ab"'],
      ["x".repeat(40), `the string "${"x".repeat(40)}"`],
      ["x".repeat(41), "a string of 41 characters"],
      [null, "null"],
      [[1, 2], "an array of 2"],
      [{}, "an object"],
      [Object.create(null), "an object"],
      [new Map(), "a Map"],
      [new Uint8Array(2), "a Uint8Array"],
      [() => 1, "a function"],
      [Symbol("s"), "a symbol"],
    ];
    for (const [value, words] of cases) expect(v.describe(value)).toBe(words);
  });

  it("keys up to 64 characters stay whole; longer ones are cut to 64 and an ellipsis", () => {
    expect(v.shortKey("k".repeat(64))).toBe("k".repeat(64));
    expect(v.shortKey("k".repeat(65))).toBe(`${"k".repeat(64)}…`);
  });

  it("paths: fields join with dots, indices with brackets, the root is 'message'", () => {
    expect(v.fieldPath("", "a")).toBe("a");
    expect(v.fieldPath("a", "b")).toBe("a.b");
    expect(v.indexPath("", 3)).toBe("message[3]");
    expect(v.indexPath("a.b", 3)).toBe("a.b[3]");
  });
});

describe("checkers", () => {
  it("string: a length over the limit, under the minimum, a pattern, named or not", () => {
    expect(refusal(() => v.string({ max: 3 })("abcd", "f"))).toBe("f: string of 4 characters exceeds the limit of 3");
    expect(v.string({ max: 3 })("abc", "f")).toBe("abc");
    expect(refusal(() => v.string({ min: 2, max: 3 })("a", "f"))).toBe("f: expected 2 to 3 characters, got 1");
    expect(refusal(() => v.string({ min: 2, max: 3 })("abcd", "f"))).toBe("f: expected 2 to 3 characters, got 4");
    expect(refusal(() => v.string({ max: 3 })(5, "f"))).toBe("f: expected a string, got the number 5");
    expect(refusal(() => v.string({ max: 9, pattern: /^a+$/ })("b", "f"))).toBe('f: expected a string matching /^a+$/, got the string "b"');
    expect(refusal(() => v.string({ max: 9, pattern: /^a+$/, patternName: "a's" })("b", "f"))).toBe('f: expected a\'s, got the string "b"');
  });

  it("literal, oneOf, boolean, nullable", () => {
    expect(v.literal("x")("x", "f")).toBe("x");
    expect(refusal(() => v.literal("x")("y", "f"))).toBe('f: expected "x", got the string "y"');
    expect(refusal(() => v.oneOf(["a", "b"])("c", "f"))).toBe('f: expected one of "a", "b", got the string "c"');
    expect(refusal(() => v.boolean(1, "f"))).toBe("f: expected a boolean, got the number 1");
    expect(v.nullable(v.boolean)(null, "f")).toBeNull();
    expect(refusal(() => v.nullable(v.boolean)(0, "f"))).toBe("f: expected a boolean, got the number 0");
  });

  it("number: the range in words, for a minimum, a maximum, both or neither", () => {
    expect(refusal(() => v.number({ min: 1 })(0, "f"))).toBe("f: expected a finite number ≥ 1, got the number 0");
    expect(refusal(() => v.number({ max: 1 })(2, "f"))).toBe("f: expected a finite number ≤ 1, got the number 2");
    expect(refusal(() => v.number({ min: 0, max: 1 })(2, "f"))).toBe("f: expected a finite number in [0, 1], got the number 2");
    expect(refusal(() => v.number()(Number.NaN, "f"))).toBe("f: expected a finite number, got NaN");
    expect(refusal(() => v.number({ integer: true })(1.5, "f"))).toBe("f: expected an integer, got the number 1.5");
    expect(v.number({ min: 0, max: 1 })(1, "f")).toBe(1);
  });

  it("numberArray checks every element's type, not only its range", () => {
    expect(refusal(() => v.numberArray({ maxLength: 3 })([1, "0.5"], "f"))).toBe('f[1]: expected a finite number, got the string "0.5"');
    expect(refusal(() => v.numberArray({ min: 0, maxLength: 3 })([1, "2"], "f"))).toBe('f[1]: expected a finite number ≥ 0, got the string "2"');
    expect(refusal(() => v.numberArray({ maxLength: 3 })([1, 2, 3, 4], ""))).toBe("message: expected 0 to 3 elements, got 4");
  });

  it("arrays and tuples: their lengths in words", () => {
    expect(refusal(() => v.tuple(v.number(), v.number())([1], "f"))).toBe("f: expected 2 elements, got 1");
    expect(refusal(() => v.arrayOf(v.number(), { minLength: 1, maxLength: 2 })([], "f"))).toBe("f: expected 1 to 2 elements, got 0");
    expect(refusal(() => v.arrayOf(v.number(), { maxLength: 2 })({}, "f"))).toBe("f: expected an array, got an object");
  });

  it("float32Data: bytes only, a whole number of floats, up to and including the limit", () => {
    expect(refusal(() => v.float32Data(8)([1, 2], "f"))).toBe("f: expected binary float32 data, got an array of 2");
    expect(refusal(() => v.float32Data(8)(new Uint8Array(12), "f"))).toBe("f: holds 12 bytes, over the limit of 8");
    expect(v.float32Data(8)(new Uint8Array(8), "f")).toHaveLength(8);
  });

  it("object: a Map or an array is not an object", () => {
    expect(refusal(() => v.object({ a: v.number() })(new Map(), "f"))).toBe("f: expected an object, got a Map");
    expect(refusal(() => v.plainObject([], ""))).toBe("message: expected an object, got an array of 0");
  });
});
