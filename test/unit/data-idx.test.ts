import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataError } from "../../src/data/dataset.js";
import { idxToDataset, loadIdxDataset, parseIdxImages, parseIdxLabels, writeIdx, writeIdxLabels } from "../../src/data/idx.js";
import { loadMnist } from "../../src/data/mnist.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/data/", import.meta.url));

function smallIdx(n = 6, rows = 3, cols = 2): { images: Uint8Array; labels: Uint8Array; pixels: Uint8Array; y: Uint8Array } {
  const pixels = Uint8Array.from({ length: n * rows * cols }, (_, i) => (i * 37) % 256);
  const y = Uint8Array.from({ length: n }, (_, i) => i % 4);
  return { images: writeIdx(pixels, n, rows, cols), labels: writeIdxLabels(y), pixels, y };
}

async function expectDataError(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  for (const part of parts) expect((err as Error).message).toContain(part);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gradswarm-idx-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("IDX", () => {
  it("round-trips through writeIdx / writeIdxLabels", () => {
    const { images, labels, pixels, y } = smallIdx();
    const parsed = parseIdxImages(images, "imgs");
    expect([parsed.n, parsed.rows, parsed.cols]).toEqual([6, 3, 2]);
    expect(Array.from(parsed.pixels)).toEqual(Array.from(pixels));
    expect(Array.from(parseIdxLabels(labels, "lbls"))).toEqual(Array.from(y));

    const ds = idxToDataset(images, labels, { images: "dir/imgs", labels: "lbls" });
    expect(ds.name).toBe("idx:imgs");
    expect(ds.n).toBe(6);
    expect(ds.featureShape).toEqual([6]);
    expect(ds.numClasses).toBe(4);
    expect(Array.from(ds.y)).toEqual(Array.from(y));
    for (let i = 0; i < pixels.length; i++) expect(ds.x[i]).toBe(Math.fround(pixels[i]! / 255));
  });

  it("applies limit and classes", () => {
    const { images, labels } = smallIdx();
    const ds = idxToDataset(images, labels, { images: "i", labels: "l" }, { limit: 2, classes: 10 });
    expect(ds.n).toBe(2);
    expect(ds.x.length).toBe(12);
    expect(ds.numClasses).toBe(10);
    expect(() => idxToDataset(images, labels, { images: "i", labels: "l" }, { classes: 3 })).toThrow(/l: label 3 .*outside \[0, 3\)/);
    expect(() => idxToDataset(images, labels, { images: "i", labels: "l" }, { limit: 7 })).toThrow(DataError);
  });

  it("reads gzipped and plain files alike, told apart by magic bytes not names", async () => {
    const { images, labels } = smallIdx();
    // The plain files carry a .gz name and the gzipped ones do not.
    await writeFile(join(dir, "plain-images.gz"), images);
    await writeFile(join(dir, "plain-labels.gz"), labels);
    await writeFile(join(dir, "zipped-images"), gzipSync(images));
    await writeFile(join(dir, "zipped-labels"), gzipSync(labels));
    const plain = await loadIdxDataset(join(dir, "plain-images.gz"), join(dir, "plain-labels.gz"));
    const zipped = await loadIdxDataset(join(dir, "zipped-images"), join(dir, "zipped-labels"));
    expect({ ...zipped, name: "" }).toEqual({ ...plain, name: "" });
  });

  it("rejects a truncated file, naming it", async () => {
    const { images, labels } = smallIdx();
    const cut = join(dir, "cut-images");
    await writeFile(cut, images.subarray(0, images.length - 1));
    await writeFile(join(dir, "ok-labels"), labels);
    await expectDataError(loadIdxDataset(cut, join(dir, "ok-labels")), cut, "truncated");
    const cutHeader = join(dir, "cut-header");
    await writeFile(cutHeader, images.subarray(0, 10));
    await expectDataError(loadIdxDataset(cutHeader, join(dir, "ok-labels")), cutHeader, "truncated");
    const cutGz = join(dir, "cut-gz");
    const gz = gzipSync(images);
    await writeFile(cutGz, gz.subarray(0, gz.length - 8));
    await expectDataError(loadIdxDataset(cutGz, join(dir, "ok-labels")), cutGz, "gzip");
    const long = join(dir, "long-images");
    await writeFile(long, Buffer.concat([images, Buffer.from([1])]));
    await expectDataError(loadIdxDataset(long, join(dir, "ok-labels")), long, "trailing");
  });

  it("rejects a wrong magic, naming the file", async () => {
    const { images, labels } = smallIdx();
    await writeFile(join(dir, "i"), images);
    await writeFile(join(dir, "l"), labels);
    // images and labels swapped
    await expectDataError(loadIdxDataset(join(dir, "l"), join(dir, "i")), join(dir, "l"), "wrong magic");
    const floats = images.slice();
    floats[2] = 0x0d;
    await writeFile(join(dir, "f"), floats);
    await expectDataError(loadIdxDataset(join(dir, "f"), join(dir, "l")), join(dir, "f"), "wrong magic", "not supported");
  });

  it("rejects an image/label count mismatch, naming the file", async () => {
    const { images } = smallIdx();
    await writeFile(join(dir, "i6"), images);
    await writeFile(join(dir, "l5"), writeIdxLabels(new Uint8Array(5)));
    await expectDataError(loadIdxDataset(join(dir, "i6"), join(dir, "l5")), join(dir, "l5"), "5 labels", "6 images");
  });

  it("names a missing file", async () => {
    await expectDataError(loadIdxDataset(join(dir, "nope"), join(dir, "l5")), join(dir, "nope"), "not found");
  });

  it("loads examples/data as the mnist package's 10,000 digits", async () => {
    const idx = await loadIdxDataset(join(EXAMPLES, "images-idx3-ubyte"), join(EXAMPLES, "labels-idx1-ubyte"));
    expect(idx.n).toBe(10_000);
    expect(idx.featureShape).toEqual([784]);
    expect(idx.numClasses).toBe(10);
    const mnist = await loadMnist();
    expect(Array.from(idx.y)).toEqual(Array.from(mnist.y));
    let maxDiff = 0;
    for (let i = 0; i < idx.x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(idx.x[i]! - mnist.x[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1 / 255 / 2 + 1e-6);
  });
});
