import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bfloat16BitsToNumber,
  decodeSafetensors,
  encodeSafetensors,
  findDuplicateKey,
  float16BitsToNumber,
  readSafetensorsFile,
  SAFETENSORS_MAX_HEADER_BYTES,
  SafetensorsError,
  tensorAsFloat32,
} from "../../src/model/safetensors.js";

/** A file from its parts: the 8-byte length (the header's own unless `declared`), the header text, the data. */
function build(header: string, data: ArrayLike<number> = [], declared?: bigint): Uint8Array {
  const h = Buffer.from(header, "utf8");
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function le(kind: "f32" | "f64" | "i32" | "u16" | "i64", values: number[]): number[] {
  const size = { f32: 4, f64: 8, i32: 4, u16: 2, i64: 8 }[kind];
  const view = new DataView(new ArrayBuffer(size * values.length));
  values.forEach((v, i) => {
    if (kind === "f32") view.setFloat32(i * size, v, true);
    if (kind === "f64") view.setFloat64(i * size, v, true);
    if (kind === "i32") view.setInt32(i * size, v, true);
    if (kind === "u16") view.setUint16(i * size, v, true);
    if (kind === "i64") view.setBigInt64(i * size, BigInt(v), true);
  });
  return [...new Uint8Array(view.buffer)];
}

function refusal(bytes: Uint8Array, ...parts: string[]): void {
  let err: unknown = null;
  try {
    decodeSafetensors(bytes, "w.safetensors");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  expect((err as Error).message).toMatch(/^w\.safetensors: /);
  for (const part of parts) expect((err as Error).message).toContain(part);
}

describe("decodeSafetensors on hand-built layouts", () => {
  it("reads the reference implementation's own example (tensor.rs, SafeTensors::deserialize)", () => {
    // b"<\x00..{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}" + 16 zero bytes
    const header = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    expect(header.length).toBe(0x3c);
    const file = decodeSafetensors(build(header, new Array(16).fill(0)), "w");
    expect([...file.tensors.keys()]).toEqual(["test"]);
    const t = file.tensors.get("test")!;
    expect(t.dtype).toBe("I32");
    expect(t.shape).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(Int32Array);
    expect([...t.data]).toEqual([0, 0, 0, 0]);
    expect(file.metadata).toEqual({});
  });

  it("reads little-endian values of every dtype at their offsets, whatever the header order, with metadata and padding", () => {
    const header =
      '{"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]},"__metadata__":{"format":"pt","k":"v"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"I64","shape":[1],"data_offsets":[24,32]},' +
      '"d":{"dtype":"BF16","shape":[1,1],"data_offsets":[32,34]},"e":{"dtype":"U8","shape":[],"data_offsets":[34,35]},' +
      '"z":{"dtype":"F32","shape":[0,3],"data_offsets":[35,35]}}     ';
    const data = [...le("f32", [1.5, -2]), ...le("f64", [0.1, 1e300]), ...le("i64", [-5]), ...le("u16", [0x3f80]), 200];
    const file = decodeSafetensors(build(header, data), "w");
    expect([...file.tensors.keys()]).toEqual(["a", "b", "c", "d", "e", "z"]);
    expect(file.metadata).toEqual({ format: "pt", k: "v" });
    expect([...file.tensors.get("a")!.data]).toEqual([1.5, -2]);
    expect([...file.tensors.get("b")!.data]).toEqual([0.1, 1e300]);
    expect(file.tensors.get("c")!.data).toEqual(BigInt64Array.of(-5n));
    expect(file.tensors.get("d")!.data).toEqual(Uint16Array.of(0x3f80));
    expect(file.tensors.get("e")!.shape).toEqual([]);
    expect([...file.tensors.get("e")!.data]).toEqual([200]);
    expect(file.tensors.get("z")!.data.length).toBe(0);
  });

  it("copies the data (an odd header length leaves it unaligned; later writes to the bytes change nothing)", () => {
    const bytes = build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', le("f32", [3.25]));
    expect((bytes.length - 4 - 8) % 4).not.toBe(0);
    const t = decodeSafetensors(bytes, "w").tensors.get("a")!;
    bytes.fill(0);
    expect([...t.data]).toEqual([3.25]);
  });

  it("accepts an empty file of tensors and a null __metadata__", () => {
    expect(decodeSafetensors(build("{}"), "w").tensors.size).toBe(0);
    expect(decodeSafetensors(build('{"__metadata__":null}'), "w").metadata).toEqual({});
  });
});

describe("decodeSafetensors refusals name the file and the tensor", () => {
  const A = '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
  it("truncated before or inside the header, or in the data", () => {
    refusal(new Uint8Array(5), "truncated", "5 bytes");
    refusal(build(`{${A}}`, le("f32", [1, 2]), 200n), "truncated", "declares 200 bytes");
    refusal(build(`{${A}}`, le("f32", [1])), "truncated", "declares 8 bytes of data", '"a"', "4 follow");
    refusal(build(`{${A}}`, [...le("f32", [1, 2]), 0]), "has bytes no tensor covers", "9 follow");
    refusal(build("{}", [1, 2]), "has bytes no tensor covers", "no tensors");
  });
  it("a header too large (the reference's 100 MB limit), checked before reading it", () => {
    refusal(build("{}", [], BigInt(SAFETENSORS_MAX_HEADER_BYTES) + 1n), "header too large", "100000001");
    refusal(build("{}", [], 0xffffffffffffffffn), "header too large");
  });
  it("bad UTF-8, not starting with {, bad JSON, not an object", () => {
    const bad = build("{}  ");
    bad[9] = 0xff;
    refusal(bad, "not valid UTF-8");
    refusal(build(' {"a":1}'), 'must start with "{"');
    refusal(build("[1,2]"), 'must start with "{"');
    refusal(build('{"a":'), "not valid JSON");
    refusal(build("{}x"), "not valid JSON");
  });
  it("duplicate names, duplicate fields and duplicate metadata keys", () => {
    refusal(build(`{${A},${A}}`, le("f32", [1, 2, 3, 4])), 'tensor "a" twice');
    refusal(build('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', le("f32", [1, 2])), 'key "dtype" in "a" twice');
    refusal(build('{"__metadata__":{"k":"1","k":"2"}}'), 'key "k" in "__metadata__" twice');
  });
  it("overlapping offsets, holes, offsets that end before they begin", () => {
    const b = (offsets: string): string => `"b":{"dtype":"F32","shape":[1],"data_offsets":${offsets}}`;
    refusal(build(`{${A},${b("[4,8]")}}`, le("f32", [1, 2])), '"b"', "overlaps", '"a" ends at 8');
    refusal(build(`{${A},${b("[12,16]")}}`, le("f32", [1, 2, 3, 4])), '"b"', "leaves a hole", '"a" ends at 8');
    refusal(build(`{${b("[4,8]")}}`, le("f32", [1, 2])), '"b"', "leaves a hole", "must begin at 0");
    refusal(build(`{${b("[8,4]")}}`, le("f32", [1, 2])), '"b"', "end before they begin");
  });
  it("a byte length other than shape × dtype size", () => {
    refusal(build('{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}', le("f32", [1, 2])), '"a"', "hold 8 bytes", "2 × 8 = 16");
    refusal(build('{"a":{"dtype":"F16","shape":[],"data_offsets":[0,4]}}', le("f32", [1])), '"a"', "1 × 2 = 2");
  });
  it("bad dtypes, shapes, offsets and metadata values", () => {
    refusal(build('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', [0]), '"a"', "F8_E4M3 is not supported");
    refusal(build('{"a":{"dtype":"float32","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), '"a"', "float32 is not a safetensors dtype");
    refusal(build('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), '"a"', "shape must be");
    refusal(build('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', [0, 0, 0, 0]), '"a"', "shape must be");
    refusal(build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', [0, 0, 0, 0]), '"a"', "data_offsets must be");
    refusal(build('{"a":{"dtype":"F32","shape":[1]}}', [0, 0, 0, 0]), '"a"', "data_offsets must be");
    refusal(build('{"a":[1]}'), '"a"', "must be an object");
    refusal(build('{"__metadata__":{"n":1}}'), "__metadata__.n must be a string");
    refusal(build('{"__metadata__":["x"]}'), "__metadata__ must be an object");
  });
});

describe("findDuplicateKey", () => {
  it("sees keys only where keys are (not string values, not array elements), through escapes", () => {
    expect(findDuplicateKey('{"a":"a","b":["a","a"],"c":{"a":1,"b":2}}')).toBeNull();
    expect(findDuplicateKey('{"a\\"":1,"a\\u0022":2}')).toEqual({ key: 'a"', parent: null });
    expect(findDuplicateKey('{"x":[{"k":1},{"k":2}],"y":[{"k":1,"k":2}]}')).toEqual({ key: "k", parent: "y" });
  });
});

describe("float16 and bfloat16 conversion", () => {
  it("known binary16 patterns", () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x03ff, 1023 * 2 ** -24],
      [0x0001, 2 ** -24],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [bits, value] of cases) expect(float16BitsToNumber(bits)).toBe(value);
    expect(Object.is(float16BitsToNumber(0x8000), -0)).toBe(true);
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
    expect(float16BitsToNumber(0x7c01)).toBeNaN();
  });
  it("all 65536 binary16 and bfloat16 patterns convert as numpy and torch 1.13 do (sha256 of the float32 bits, NaN as 0x7fc00000)", () => {
    // From /usr/bin/python3: a = np.arange(65536, dtype=np.uint16); a.view(np.float16).astype(np.float32)
    // and torch.from_numpy(a.astype(np.int16)).view(torch.bfloat16).float(), NaNs set to
    // 0x7fc00000, hashed as little-endian uint32.
    const digest = (convert: (bits: number) => number): string => {
      const out = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) out[h] = convert(h);
      const bits = new Uint32Array(out.buffer);
      for (let h = 0; h < 65536; h++) if (Number.isNaN(out[h]!)) bits[h] = 0x7fc00000;
      return createHash("sha256").update(new Uint8Array(out.buffer)).digest("hex");
    };
    expect(digest(float16BitsToNumber)).toBe("385ff5fe69182797cda5f1827e20cf423f4416bc9246f27d0eec27cac9039259");
    expect(digest(bfloat16BitsToNumber)).toBe("f12e27efe34841dfd6391497b86f389096b03a376586e1d9691bba0a8de3980a");
  });
  it("known bfloat16 patterns: the upper half of a float32", () => {
    expect(bfloat16BitsToNumber(0x3f80)).toBe(1);
    expect(bfloat16BitsToNumber(0xc000)).toBe(-2);
    expect(bfloat16BitsToNumber(0x4049)).toBe(3.140625);
    expect(bfloat16BitsToNumber(0x0001)).toBe(2 ** -133);
    expect(bfloat16BitsToNumber(0x7f80)).toBe(Infinity);
    expect(bfloat16BitsToNumber(0x7fc0)).toBeNaN();
  });
});

describe("tensorAsFloat32", () => {
  it("F32 as is (a copy), F16/BF16 exactly, F64 rounded to nearest", () => {
    const f32 = Float32Array.of(1, 2);
    const out = tensorAsFloat32({ dtype: "F32", shape: [2], data: f32 }, "t");
    expect(out).toEqual(f32);
    expect(out).not.toBe(f32);
    expect([...tensorAsFloat32({ dtype: "F16", shape: [2], data: Uint16Array.of(0x3555, 0xc000) }, "t")]).toEqual([0.333251953125, -2]);
    expect([...tensorAsFloat32({ dtype: "BF16", shape: [1], data: Uint16Array.of(0x4049) }, "t")]).toEqual([3.140625]);
    expect([...tensorAsFloat32({ dtype: "F64", shape: [2], data: Float64Array.of(0.1, -Infinity) }, "t")]).toEqual([Math.fround(0.1), -Infinity]);
  });
  it("refuses an F64 beyond float32's range, and integers unless asked", () => {
    expect(() => tensorAsFloat32({ dtype: "F64", shape: [2], data: Float64Array.of(0, 1e39) }, "w: tensor x")).toThrow(/^w: tensor x: F64 value 1e\+39 at index 1 is beyond float32's range/);
    expect(() => tensorAsFloat32({ dtype: "I64", shape: [1], data: BigInt64Array.of(3n) }, "w: tensor n")).toThrow(/^w: tensor n: dtype I64 is an integer type/);
    expect([...tensorAsFloat32({ dtype: "I64", shape: [2], data: BigInt64Array.of(3n, -(2n ** 24n)) }, "t", { integers: true })]).toEqual([3, -(2 ** 24)]);
    expect([...tensorAsFloat32({ dtype: "U8", shape: [1], data: Uint8Array.of(255) }, "t", { integers: true })]).toEqual([255]);
    expect(() => tensorAsFloat32({ dtype: "I32", shape: [1], data: Int32Array.of(2 ** 24 + 1) }, "t", { integers: true })).toThrow(/16777217 at index 0 has no exact float32/);
  });
});

describe("encodeSafetensors", () => {
  it("writes the bytes of the reference's Python test (test_simple.py) for a [2,2] tensor of zeros, with F32 for I32", () => {
    const expected = Buffer.concat([
      Buffer.from('@\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}    ', "latin1"),
      Buffer.alloc(16),
    ]);
    const bytes = encodeSafetensors([{ name: "test", shape: [2, 2], data: new Float32Array(4) }]);
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
  });
  it("orders tensors by name in UTF-8 byte order, metadata first, header padded to 8 bytes", () => {
    const hi = "\u{10000}"; // UTF-8 F0 90 80 80: after U+FFFF (EF BF BF), though its UTF-16 (D800…) sorts before
    const tensors = [
      { name: "b", shape: [1], data: Float32Array.of(2) },
      { name: hi, shape: [1], data: Float32Array.of(4) },
      { name: "\uffff", shape: [1], data: Float32Array.of(3) },
      { name: "a", shape: [2, 1], data: Float32Array.of(0, 1) },
      { name: "__proto__", shape: [], data: Float32Array.of(-1) },
    ];
    const bytes = encodeSafetensors(tensors, { format: "pt" });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8");
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    const keys = Object.keys(JSON.parse(text) as object);
    expect(keys).toEqual(["__metadata__", "__proto__", "a", "b", "\uffff", hi]);
    const data = new Float32Array(bytes.slice(8 + n).buffer);
    expect([...data]).toEqual([-1, 0, 1, 2, 3, 4]);
  });
  it("round trip: decode(encode(x)) gives x back, metadata included", () => {
    const tensors = [
      { name: "fc1.weight", shape: [3, 2], data: Float32Array.from({ length: 6 }, (_, i) => Math.fround(Math.sin(i) * 1e-3)) },
      { name: "fc1.bias", shape: [3], data: Float32Array.of(Number.MIN_VALUE, -0, 3.4e38) },
      { name: "empty", shape: [0], data: new Float32Array(0) },
    ];
    const file = decodeSafetensors(encodeSafetensors(tensors, { a: "1", "é": "ü" }), "w");
    expect(file.metadata).toEqual({ a: "1", "é": "ü" });
    expect([...file.tensors.keys()]).toEqual(["empty", "fc1.bias", "fc1.weight"]);
    for (const t of tensors) {
      const got = file.tensors.get(t.name)!;
      expect(got.dtype).toBe("F32");
      expect(got.shape).toEqual(t.shape);
      expect(Buffer.from(got.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
  });
  it("refuses duplicate or reserved names, shapes that do not match, non-string metadata", () => {
    const t = { name: "a", shape: [1], data: Float32Array.of(1) };
    expect(() => encodeSafetensors([t, t])).toThrow(/tensor "a": named twice/);
    expect(() => encodeSafetensors([{ ...t, name: "__metadata__" }])).toThrow(/reserved/);
    expect(() => encodeSafetensors([{ ...t, name: "" }])).toThrow(/non-empty string/);
    expect(() => encodeSafetensors([{ ...t, shape: [2] }])).toThrow(/tensor "a": shape \[2\] needs 2 values, data holds 1/);
    expect(() => encodeSafetensors([{ ...t, shape: [-1] }])).toThrow(/non-negative integers/);
    expect(() => encodeSafetensors([t], { k: 1 as unknown as string })).toThrow(/metadata\.k must be a string/);
  });
});

describe("readSafetensorsFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gradswarm-safetensors-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  it("reads a file and names a missing one", async () => {
    const path = join(dir, "w.safetensors");
    await writeFile(path, encodeSafetensors([{ name: "w", shape: [1], data: Float32Array.of(7) }]));
    expect([...(await readSafetensorsFile(path)).tensors.get("w")!.data]).toEqual([7]);
    await expect(readSafetensorsFile(join(dir, "none.safetensors"))).rejects.toThrow(/none\.safetensors: file not found/);
    await expect(readSafetensorsFile(dir)).rejects.toThrow(/is a directory/);
  });
});
