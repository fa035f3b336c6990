// src/model/safetensors.ts against files the safetensors library itself wrote
// (test/fixtures/safetensors-samples/README.md): every dtype, the metadata, and
// overall.safetensors with nine tensors in one header.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, tensorAsFloat32, type SafetensorsDtype } from "../../src/model/safetensors.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "safetensors-samples");
const DTYPE: Record<string, SafetensorsDtype> = { B: "U8", H: "U16", I: "U32", b: "I8", h: "I16", i: "I32", e: "F16", f: "F32", d: "F64" };
const RANGE = [-3, -2, -1, 0, 1, 2];

/** range(-3, 3) as NumPy stores it in the dtype: unsigned types wrap around. */
function expected(dtype: SafetensorsDtype): number[] {
  const bits = { U8: 8, U16: 16, U32: 32 }[dtype as "U8"];
  return bits ? RANGE.map((v) => (v < 0 ? 2 ** bits + v : v)) : RANGE;
}

function read(file: string) {
  return decodeSafetensors(new Uint8Array(readFileSync(join(DIR, file))), file);
}

describe("safetensors files written by the safetensors library", () => {
  it.each(Object.entries(DTYPE))("%s.safetensors: one %s tensor of range(-3, 3) and the metadata", (code, dtype) => {
    const file = read(`${code}.safetensors`);
    expect(file.metadata).toEqual({ test: "a" });
    expect([...file.tensors.keys()]).toEqual([code]);
    const t = file.tensors.get(code)!;
    expect(t.dtype).toBe(dtype);
    expect(t.shape).toEqual([6]);
    if (dtype === "F16") expect(Array.from(tensorAsFloat32(t, code))).toEqual(RANGE);
    else expect(Array.from(t.data as ArrayLike<number>)).toEqual(expected(dtype));
  });

  it("overall.safetensors: all nine tensors, each as in its own file", () => {
    const file = read("overall.safetensors");
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(DTYPE).sort());
    for (const [code, dtype] of Object.entries(DTYPE)) {
      const t = file.tensors.get(code)!;
      const alone = read(`${code}.safetensors`).tensors.get(code)!;
      expect(t.dtype, code).toBe(dtype);
      expect(Array.from(t.data as ArrayLike<number>), code).toEqual(Array.from(alone.data as ArrayLike<number>));
    }
  });

  it("every sample in the folder is covered", () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith(".safetensors"));
    expect(files.sort()).toEqual([...Object.keys(DTYPE).map((c) => `${c}.safetensors`), "overall.safetensors"].sort());
  });

  it("what our writer writes of the F32 sample reads back the same, header and all", () => {
    const ours = encodeSafetensors([{ name: "f", shape: [6], data: Float32Array.from(RANGE) }], { test: "a" });
    const back = decodeSafetensors(ours, "ours");
    expect(back.metadata).toEqual({ test: "a" });
    expect(Array.from(back.tensors.get("f")!.data as Float32Array)).toEqual(RANGE);
    // The library's file carries the same tensor bytes after its header.
    const theirs = readFileSync(join(DIR, "f.safetensors"));
    expect(Buffer.from(ours.subarray(ours.length - 24)).equals(theirs.subarray(theirs.length - 24))).toBe(true);
  });
});
