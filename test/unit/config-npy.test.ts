// data: {kind: npy}: paths resolved against the config's folder, missing files named with
// their line, scale as a number or a "a/b" fraction, layout from its three names.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, compileConfig, loadConfig, parseConfigText } from "../../src/coordinator/config/load.js";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "gradswarm-config-npy-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = join(tmp, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** A config whose data section is `data` (lines 4 onwards). */
function config(...data: string[]): string {
  return ["model:", "  kind: mlp", "  layers: [12, 3]", "data:", "  kind: npy", ...data, "pairs:", "  count: 4", "  batch_size: 2", ""].join("\n");
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("data: {kind: npy}", () => {
  it("resolves inputs and labels against the config's folder and keeps the options", () => {
    write("p/d/x.npy", "");
    write("p/d/y.npy", "");
    const file = write("p/run.yaml", config("  inputs: d/x.npy", "  labels: ./d/y.npy", "  layout: nhwc", "  scale: 0.5", "  limit: 10", "  classes: 3"));
    const cfg = loadConfig(file);
    expect(cfg.data).toEqual({ kind: "npy", inputs: join(tmp, "p", "d", "x.npy"), labels: join(tmp, "p", "d", "y.npy"), layout: "nhwc", scale: 0.5, limit: 10, classes: 3 });
  });

  it("leaves layout and scale out when the config does (the loader's defaults apply)", () => {
    const cfg = compileConfig(parseConfigText(config("  inputs: d/x.npy", "  labels: d/y.npy"), "c.yaml"), join(tmp, "p", "c.yaml"));
    expect(cfg.data).toMatchObject({ kind: "npy", layout: undefined, scale: undefined });
  });

  it('reads scale "1/255" as the number 1/255, with or without spaces', () => {
    for (const s of ['"1/255"', "'1 / 255'", '"2.5/10"']) {
      const parsed = parseConfigText(config("  inputs: x.npy", "  labels: y.npy", `  scale: ${s}`), "c.yaml");
      expect(parsed.data.kind === "npy" && parsed.data.scale).toBe(s === '"2.5/10"' ? 0.25 : 1 / 255);
    }
  });

  it("refuses a bad scale or layout, naming the field and its line", () => {
    const problems = (line: string): string[] => configError(() => parseConfigText(config("  inputs: x.npy", "  labels: y.npy", line), "c.yaml")).problems;
    expect(problems('  scale: "abc"').join("\n")).toMatch(/data\.scale \(line 8.*fraction such as "1\/255"/);
    expect(problems('  scale: "1/0"').join("\n")).toMatch(/data\.scale \(line 8/);
    expect(problems("  scale: 0").join("\n")).toMatch(/data\.scale \(line 8/);
    expect(problems("  scale: -1").join("\n")).toMatch(/data\.scale \(line 8/);
    expect(problems("  layout: chw").join("\n")).toMatch(/data\.layout \(line 8/);
    expect(problems("  images: x.npy").join("\n")).toMatch(/data\.images/);
  });

  it("names both missing files with their lines", () => {
    const err = configError(() => loadConfig(write("q/run.yaml", config("  inputs: none/x.npy", "  labels: none/y.npy"))));
    expect(err.problems).toEqual([
      expect.stringMatching(/^data\.inputs \(line 6, column \d+\): file not found: .*none\/x\.npy$/),
      expect.stringMatching(/^data\.labels \(line 7, column \d+\): file not found: .*none\/y\.npy$/),
    ]);
  });
});
