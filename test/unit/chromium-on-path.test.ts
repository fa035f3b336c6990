// The browser tests' Chromium lookup: found on PATH, or a failure that says how to install it (never a silent skip).

import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { chromiumOnPath } from "../helpers/chromium.js";

describe("chromiumOnPath", () => {
  it("finds an executable chromium in a PATH directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "gradswarm-chromium-"));
    const empty = mkdtempSync(join(tmpdir(), "gradswarm-chromium-"));
    writeFileSync(join(dir, "chromium"), "#!/bin/sh\n");
    chmodSync(join(dir, "chromium"), 0o755);
    expect(chromiumOnPath([empty, dir].join(delimiter))).toBe(join(dir, "chromium"));
  });

  it("fails naming the package to install when there is none", () => {
    const empty = mkdtempSync(join(tmpdir(), "gradswarm-chromium-"));
    expect(() => chromiumOnPath(empty)).toThrow(/no Chromium on PATH .*apt-get install -y chromium/);
  });
});
