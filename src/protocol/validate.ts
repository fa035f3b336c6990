// Small composable checkers for decoded wire values. A checker takes an unknown value and
// the dotted path of where it sits ("pairs[3].tensorNorm[1][0]") and either returns the
// value, typed, or throws a ProtocolError naming that path.
//
// Decoded msgpack is untrusted: besides plain objects, arrays, strings and numbers it can
// hold Maps, Sets, Errors, RegExps, Dates, typed arrays, bigints and undefined (msgpackr
// decodes those extensions whatever the options). So an object must have exactly
// Object.prototype (or null) as its prototype, and every value its exact primitive type.
//
// Speed: a task.result carries thousands of numbers; paths of array elements are built
// only when something fails, and number arrays are checked in one tight loop.

import { ProtocolError } from "./errors.js";
import { float32View } from "./float-bytes.js";

export type Checker<T> = (value: unknown, path: string) => T;

/** The type a checker returns. */
export type Checked<C> = C extends Checker<infer T> ? T : never;

export type Shape = Record<string, Checker<unknown>>;

export type ShapeType<S extends Shape> = { [K in keyof S]: Checked<S[K]> };

/** Mutual assignability, for compile-time checks that a schema matches its interface. */
export type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** The field name used when the whole value (not one field) is wrong. */
export const ROOT_FIELD = "message";

export function fail(path: string, message: string): never {
  throw new ProtocolError(path === "" ? ROOT_FIELD : path, message);
}

export function fieldPath(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

export function indexPath(path: string, index: number): string {
  return `${path === "" ? ROOT_FIELD : path}[${index}]`;
}

/** Keys are the one peer-chosen string that lands in a field path; keep error messages short. */
export function shortKey(key: string): string {
  return key.length <= 64 ? key : `${key.slice(0, 64)}…`;
}

/** A short description of a value for error messages; never echoes large content. */
export function describe(value: unknown): string {
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
    case "number":
      return Number.isNaN(value) ? "NaN" : Number.isFinite(value) ? `the number ${value}` : String(value);
    case "bigint":
      return "a bigint";
    case "string":
      return value.length <= 40 ? `the string ${JSON.stringify(value)}` : `a string of ${value.length} characters`;
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return `an array of ${value.length}`;
      if (isPlainObject(value)) return "an object";
      return `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
    default:
      return `a ${typeof value}`;
  }
}

/** An object made by an object literal or msgpack map: not an array, Map, Error, typed array, …. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function plainObject(value: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  return value;
}

/**
 * An object with exactly the keys of `shape`: no unknown keys (a `__proto__` key arrives
 * from msgpackr renamed to `__proto_` and fails here), nothing missing, each value checked.
 * Returns the value itself, not a copy.
 */
export function object<S extends Shape>(shape: S): Checker<ShapeType<S>> {
  const keys = Object.keys(shape);
  const known = new Set(keys);
  const checkers = keys.map((k) => shape[k]!);
  return (value, path) => {
    const obj = plainObject(value, path);
    let count = 0;
    for (const key in obj) {
      if (!known.has(key) || !Object.prototype.hasOwnProperty.call(obj, key)) fail(fieldPath(path, shortKey(key)), "unknown key");
      count++;
    }
    if (count !== keys.length) {
      for (const key of keys) if (!Object.prototype.hasOwnProperty.call(obj, key)) fail(fieldPath(path, key), "missing");
    }
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      checkers[i]!(obj[key], fieldPath(path, key));
    }
    return obj as ShapeType<S>;
  };
}

export interface StringOptions {
  /** Inclusive bounds on the length in UTF-16 code units. */
  min?: number;
  max: number;
  pattern?: RegExp;
  /** What the pattern means, for the error message. */
  patternName?: string;
}

export function string(opts: StringOptions): Checker<string> {
  const min = opts.min ?? 0;
  const { max, pattern } = opts;
  return (value, path) => {
    if (typeof value !== "string") fail(path, `expected a string, got ${describe(value)}`);
    if (value.length < min || value.length > max) {
      fail(path, min === 0 ? `string of ${value.length} characters exceeds the limit of ${max}` : `expected ${min} to ${max} characters, got ${value.length}`);
    }
    if (pattern && !pattern.test(value)) fail(path, `expected ${opts.patternName ?? `a string matching ${pattern}`}, got ${describe(value)}`);
    return value;
  };
}

export function literal<T extends string | number | boolean>(expected: T): Checker<T> {
  return (value, path) => {
    if (value !== expected) fail(path, `expected ${JSON.stringify(expected)}, got ${describe(value)}`);
    return expected;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): Checker<T> {
  const set = new Set<unknown>(allowed);
  const list = allowed.map((a) => JSON.stringify(a)).join(", ");
  return (value, path) => {
    if (!set.has(value)) fail(path, `expected one of ${list}, got ${describe(value)}`);
    return value as T;
  };
}

export const boolean: Checker<boolean> = (value, path) => {
  if (typeof value !== "boolean") fail(path, `expected a boolean, got ${describe(value)}`);
  return value;
};

export function nullable<T>(inner: Checker<T>): Checker<T | null> {
  return (value, path) => (value === null ? null : inner(value, path));
}

export interface NumberOptions {
  /** Inclusive bounds; the defaults admit every finite number. */
  min?: number;
  max?: number;
  integer?: boolean;
}

function numberRule(opts: NumberOptions): { min: number; max: number; integer: boolean; explain: (x: unknown) => string } {
  const integer = opts.integer ?? false;
  // Finite bounds make one comparison pair reject NaN and ±Infinity as well.
  const min = Math.max(opts.min ?? -Number.MAX_VALUE, integer ? Number.MIN_SAFE_INTEGER : -Number.MAX_VALUE);
  const max = Math.min(opts.max ?? Number.MAX_VALUE, integer ? Number.MAX_SAFE_INTEGER : Number.MAX_VALUE);
  const kind = integer ? "an integer" : "a finite number";
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` in [${opts.min}, ${opts.max}]`
      : opts.min !== undefined
        ? ` ≥ ${opts.min}`
        : opts.max !== undefined
          ? ` ≤ ${opts.max}`
          : "";
  return { min, max, integer, explain: (x) => `expected ${kind}${range}, got ${describe(x)}` };
}

export function number(opts: NumberOptions = {}): Checker<number> {
  const { min, max, integer, explain } = numberRule(opts);
  return (value, path) => {
    if (typeof value !== "number" || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
      fail(path, explain(value));
    }
    return value;
  };
}

export interface LengthOptions {
  /** Inclusive bounds on the number of elements. */
  minLength?: number;
  maxLength: number;
}

function checkLength(value: unknown, path: string, minLength: number, maxLength: number): unknown[] {
  if (!Array.isArray(value)) fail(path, `expected an array, got ${describe(value)}`);
  const n = value.length;
  if (n < minLength || n > maxLength) {
    fail(path, minLength === maxLength ? `expected ${minLength} elements, got ${n}` : `expected ${minLength} to ${maxLength} elements, got ${n}`);
  }
  return value;
}

/** An array of numbers, checked in one loop (the hot path of task.result and task). */
export function numberArray(opts: NumberOptions & LengthOptions): Checker<number[]> {
  const { min, max, integer, explain } = numberRule(opts);
  const minLength = opts.minLength ?? 0;
  const { maxLength } = opts;
  return (value, path) => {
    const arr = checkLength(value, path, minLength, maxLength);
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      if (typeof x !== "number" || !(x >= min && x <= max) || (integer && !Number.isInteger(x))) {
        fail(indexPath(path, i), explain(x));
      }
    }
    return arr as number[];
  };
}

export function arrayOf<T>(item: Checker<T>, opts: LengthOptions): Checker<T[]> {
  const minLength = opts.minLength ?? 0;
  const { maxLength } = opts;
  return (value, path) => {
    const arr = checkLength(value, path, minLength, maxLength);
    for (let i = 0; i < arr.length; i++) item(arr[i], indexPath(path, i));
    return arr as T[];
  };
}

/** A fixed-length array whose elements each have their own checker. */
export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Checker<T[K]> }): Checker<T> {
  const n = items.length;
  return (value, path) => {
    const arr = checkLength(value, path, n, n);
    for (let i = 0; i < n; i++) (items[i] as Checker<unknown>)(arr[i], indexPath(path, i));
    return arr as T;
  };
}

/**
 * Raw little-endian float32 values in a msgpack bin field: bytes, a whole number of
 * floats, at most `maxBytes`, every value finite. Returned as the bytes themselves.
 */
export function float32Data(maxBytes: number): Checker<Uint8Array> {
  return (value, path) => {
    if (!(value instanceof Uint8Array)) fail(path, `expected binary float32 data, got ${describe(value)}`);
    if (value.length % 4 !== 0) fail(path, `holds ${value.length} bytes, not a whole number of float32 values`);
    if (value.length > maxBytes) fail(path, `holds ${value.length} bytes, over the limit of ${maxBytes}`);
    const floats = float32View(value);
    for (let i = 0; i < floats.length; i++) {
      if (!Number.isFinite(floats[i]!)) fail(path, `value ${i} is ${floats[i]}`);
    }
    return value;
  };
}
