// Config loading: the example loads with defaults and resolved paths; every kind of
// mistake is a ConfigError that names the field (and, where the YAML has it, the line);
// hostile YAML (alias bombs, __proto__) is refused quickly and harmlessly.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, MAX_CONFIG_BYTES, compileConfig, loadConfig, parseConfigText } from "../../src/coordinator/config/load.js";
import { BASE_CONFIG } from "../helpers/configs.js";

const QUICKSTART = fileURLToPath(new URL("../../examples/quickstart.yaml", import.meta.url));
const EXAMPLES = dirname(QUICKSTART);

const BASE = BASE_CONFIG;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

const parseError = (text: string, file = "test.yaml"): ConfigError => configError(() => parseConfigText(text, file));

/** 1-based line of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split("\n").findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`no line contains ${needle}`);
  return i + 1;
}

let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "gradswarm-config-test-"));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(name: string, text: string): string {
  const file = join(tmp, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe("the example config", () => {
  it("examples/quickstart.yaml loads with defaults filled in and paths resolved against its folder", () => {
    const cfg = loadConfig(QUICKSTART);
    expect(cfg.file).toBe(resolve(QUICKSTART));
    expect(cfg.model).toEqual({ kind: "mlp", layers: [784, 64, 10], activation: "relu", seed: 1, init: "glorot_uniform" });
    expect(cfg.data).toEqual({
      kind: "idx",
      images: join(EXAMPLES, "data", "images-idx3-ubyte"),
      labels: join(EXAMPLES, "data", "labels-idx1-ubyte"),
      limit: undefined,
      classes: undefined,
    });
    expect(cfg.pairs).toEqual({ count: 256, batchSize: 32, seed: 7, pairing: "independent", perTask: 32 });
    expect(cfg.workers).toEqual({ local: 2, backend: "auto", leaseMs: 60_000, maxAttempts: 5, quarantineAfter: 3, maxInFlight: 256, waitMs: 300_000 });
    expect(cfg.returns).toBe("stats");
    expect(cfg.nats).toEqual({ url: undefined, prefix: "gradswarm", replicas: 1, auth: {} });
    expect(cfg.outDir).toBeUndefined();
    // The parsed config (recorded in results.json) has the defaults too, in the file's spelling.
    expect(cfg.parsed.pairs).toEqual({ count: 256, batch_size: 32, seed: 7, pairing: "independent", per_task: 32 });
    expect(cfg.parsed.workers.lease_s).toBe(60);
    expect(cfg.parsed.output).toEqual({});
  });

  it("paths resolve against the config's folder, not the working directory", () => {
    const rel = relative(process.cwd(), QUICKSTART);
    const cfg = loadConfig(rel);
    expect(cfg.data.kind === "idx" && cfg.data.images).toBe(join(EXAMPLES, "data", "images-idx3-ubyte"));
    // Compiling a parsed config with a file name in another folder resolves there instead.
    const other = join(tmp, "elsewhere", "c.yaml");
    const err = configError(() => compileConfig(cfg.parsed, other));
    expect(err.problems).toContain(`data.images: file not found: ${join(tmp, "elsewhere", "data", "images-idx3-ubyte")}`);
  });

  it("resolves model.path and output.dir against the config's folder as well", () => {
    writeConfig("proj/models/m/model.json", "{}");
    writeConfig("proj/data/x.idx", "");
    writeConfig("proj/data/y.idx", "");
    const file = writeConfig(
      "proj/run.yaml",
      ["model:", "  kind: layers", "  path: models/m/model.json", "data:", "  kind: idx", "  images: data/x.idx", "  labels: ./data/y.idx", "  classes: 10",
        "pairs:", "  count: 4", "  batch_size: 2", "  pairing: disjoint", "output:", "  dir: ../out", "workers:", "  lease_s: 1.5", ""].join("\n"),
    );
    const cfg = loadConfig(file);
    expect(cfg.model).toEqual({ kind: "layers", path: join(tmp, "proj", "models", "m", "model.json") });
    expect(cfg.data).toMatchObject({ kind: "idx", images: join(tmp, "proj", "data", "x.idx"), labels: join(tmp, "proj", "data", "y.idx"), classes: 10 });
    expect(cfg.outDir).toBe(join(tmp, "out"));
    expect(cfg.pairs.pairing).toBe("disjoint");
    expect(cfg.workers.leaseMs).toBe(1500);
  });

  it("the synthetic base config used below is valid", () => {
    const parsed = parseConfigText(BASE, "base.yaml");
    const cfg = compileConfig(parsed, join(tmp, "base.yaml"));
    expect(cfg.model).toMatchObject({ kind: "mlp", layers: [4, 8, 3] });
    expect(cfg.data).toMatchObject({ kind: "synthetic", n: 100, features: 4, classes: 3, seed: 0 });
  });
});

describe("YAML errors", () => {
  it("bad YAML is a ConfigError mentioning YAML and a line", () => {
    const err = parseError(BASE + "extra: [1, 2\n", "bad.yaml");
    expect(err.file).toBe("bad.yaml");
    expect(err.message).toMatch(/^bad\.yaml: invalid config/);
    expect(err.problems.length).toBeGreaterThan(0);
    expect(err.problems[0]).toMatch(/^YAML: /);
    expect(err.message).toMatch(/line \d+/);
  });

  it("bad indentation is a YAML error with the line", () => {
    const err = parseError("model:\n  kind: mlp\n   layers: [1, 2]\n");
    expect(err.message).toMatch(/YAML: .*line 2/);
  });

  it("duplicate keys are an error, at top level and nested", () => {
    const top = parseError(BASE + "pairs:\n  count: 3\n  batch_size: 1\n");
    expect(top.message).toMatch(/YAML: .*unique.*line 12/i);
    const nested = parseError(BASE.replace("  count: 10", "  count: 10\n  count: 11"));
    expect(nested.message).toMatch(/YAML: .*unique.*line 11/i);
  });

  it("a config that is not a mapping is refused", () => {
    for (const text of ["", "- 1\n- 2\n", "just a string\n", "42\n", "null\n"]) {
      expect(parseError(text).message).toMatch(/must be a YAML mapping/);
    }
  });
});

describe("schema errors name the dotted field and its line", () => {
  it("an unknown key at top level", () => {
    const text = BASE + "extra_thing: 1\n";
    const err = parseError(text);
    expect(err.problems).toEqual([`extra_thing (line ${lineOf(text, "extra_thing")}, column 1): unknown key`]);
  });

  it("an unknown nested key (pairs.batchsize)", () => {
    const text = BASE.replace("  batch_size: 5", "  batch_size: 5\n  batchsize: 5");
    const err = parseError(text);
    expect(lineOf(text, "batchsize:")).toBe(12);
    expect(err.problems).toEqual(["pairs.batchsize (line 12, column 3): unknown key"]);
  });

  it("a misspelt key instead of a required one reports both", () => {
    const text = BASE.replace("  batch_size: 5", "  batchsize: 5");
    const err = parseError(text);
    expect(err.message).toContain("pairs.batchsize (line 11, column 3): unknown key");
    expect(err.message).toMatch(/pairs\.batch_size: /);
  });

  it("count: \"many\" names pairs.count and its line", () => {
    const err = parseError(BASE.replace("count: 10", 'count: "many"'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^pairs\.count \(line 10, column \d+\): .*number/);
  });

  it("batch_size: 2.5 names pairs.batch_size and its line", () => {
    const err = parseError(BASE.replace("batch_size: 5", "batch_size: 2.5"));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^pairs\.batch_size \(line 11, column \d+\): .*int/);
  });

  it('layers: [784, "x"] names model.layers[1] and its line', () => {
    const err = parseError(BASE.replace("layers: [4, 8, 3]", 'layers: [784, "x"]'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^model\.layers\[1\] \(line 3, column \d+\): /);
  });

  it("negative pairs.count names pairs.count", () => {
    const err = parseError(BASE.replace("count: 10", "count: -3"));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^pairs\.count \(line 10, column \d+\): /);
  });

  it("pairs.count: 0 is refused too", () => {
    expect(parseError(BASE.replace("count: 10", "count: 0")).message).toMatch(/pairs\.count \(line 10/);
  });

  it("an unknown data.kind names data.kind", () => {
    const err = parseError(BASE.replace("kind: synthetic", "kind: parquet"));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^data\.kind \(line 5, column \d+\): /);
  });

  it("an unknown model.kind names model.kind", () => {
    expect(parseError(BASE.replace("kind: mlp", "kind: transformer")).message).toMatch(/model\.kind \(line 2/);
  });

  it("a missing section names it", () => {
    const noPairs = BASE.slice(0, BASE.indexOf("pairs:"));
    expect(parseError(noPairs).message).toMatch(/\n {2}pairs: /);
  });

  it("a bad enum value names the field", () => {
    expect(parseError(BASE + "workers:\n  backend: tpu\n").message).toMatch(/workers\.backend \(line 13/);
    expect(parseError(BASE.replace("  batch_size: 5", "  batch_size: 5\n  pairing: overlapping")).message).toMatch(/pairs\.pairing \(line 12/);
  });

  it("several problems are all reported", () => {
    const text = BASE.replace("count: 10", "count: -1").replace("batch_size: 5", "batch_size: x") + "oops: 1\n";
    const err = parseError(text);
    expect(err.problems).toHaveLength(3);
    expect(err.message).toContain("pairs.count (line 10");
    expect(err.message).toContain("pairs.batch_size (line 11");
    expect(err.message).toContain("oops (line 12");
  });
});

describe("compile-time checks", () => {
  it("a missing idx images file names data.images, its line and the path", () => {
    writeConfig("idx/labels", "");
    const file = writeConfig("idx/c.yaml", BASE.replace(/data:\n[\s\S]*?pairs:/, "data:\n  kind: idx\n  images: nope/images\n  labels: labels\npairs:"));
    const err = configError(() => loadConfig(file));
    expect(err.file).toBe(file);
    expect(err.problems).toEqual([`data.images (line 6, column 11): file not found: ${join(tmp, "idx", "nope", "images")}`]);
  });

  it("a data file that is a folder is refused", () => {
    mkdirSync(join(tmp, "dirdata", "images"), { recursive: true });
    writeConfig("dirdata/labels", "");
    const file = writeConfig("dirdata/c.yaml", BASE.replace(/data:\n[\s\S]*?pairs:/, "data:\n  kind: idx\n  images: images\n  labels: labels\npairs:"));
    expect(configError(() => loadConfig(file)).problems).toEqual([`data.images (line 6, column 11): not a file: ${join(tmp, "dirdata", "images")}`]);
  });

  it("a missing model path names model.path and the path", () => {
    const file = writeConfig("layers/c.yaml", BASE.replace(/model:\n[\s\S]*?data:/, "model:\n  kind: layers\n  path: exported/model.json\ndata:"));
    const err = configError(() => loadConfig(file));
    expect(err.problems).toEqual([`model.path (line 3, column 9): file not found: ${join(tmp, "layers", "exported", "model.json")}`]);
  });

  it("missing model and data files are reported together", () => {
    const text = BASE.replace(/model:\n[\s\S]*?pairs:/, "model:\n  kind: layers\n  path: m.json\ndata:\n  kind: idx\n  images: i\n  labels: l\npairs:");
    const file = writeConfig("both/c.yaml", text);
    const err = configError(() => loadConfig(file));
    expect(err.problems).toHaveLength(3);
    expect(err.message).toContain("model.path");
    expect(err.message).toContain("data.images");
    expect(err.message).toContain("data.labels");
    expect(err.problems).toEqual([
      `model.path (line 3, column 9): file not found: ${join(tmp, "both", "m.json")}`,
      `data.images (line 6, column 11): file not found: ${join(tmp, "both", "i")}`,
      `data.labels (line 7, column 11): file not found: ${join(tmp, "both", "l")}`,
    ]);
  });

  it("every compile-time problem names its line, as the schema's do", () => {
    const text = [
      BASE.replace("layers: [4, 8, 3]", "layers:\n    - 5\n    - 8\n    - 2").replace("batch_size: 5", "batch_size: 60\n  pairing: disjoint").trimEnd(), // lines 1-15
      "vector_stats: true", // 16
      "landscape:", // 17
      "  from: 2", // 18
      "  to: 1", // 19
      "invariance:", // 20
      "  layer: 1", // 21
      "",
    ].join("\n");
    const err = configError(() => loadConfig(writeConfig("compile-lines.yaml", text)));
    expect(err.problems).toEqual([
      "pairs.batch_size (line 14, column 15): 60 is too large for a dataset of 100 examples (data.n) with disjoint pairs",
      "model.layers[0] (line 4, column 7): the input size 5 differs from data.features 4",
      "model.layers (line 3, column 3): the output size 2 differs from data.classes 3",
      "vector_stats (line 16, column 15): needs return: vectors (the statistics are computed from the gradient vectors)",
      "landscape.from (line 18, column 9): must be below landscape.to",
      "invariance.layer (line 21, column 10): 1 has no next layer to take 1/α (the MLP has 2 Dense layers, numbered from 0)",
    ]);
  });

  it("a compiled config without its YAML (read back from results.json) names fields without lines", () => {
    const parsed = parseConfigText(BASE.replace("n: 100", "n: 3"), "c.yaml");
    expect(configError(() => compileConfig(parsed, join(tmp, "c.yaml"))).problems).toEqual(["pairs.batch_size: 5 is too large for a dataset of 3 examples (data.n)"]);
  });

  it("synthetic data: a model input size that differs from data.features names model.layers", () => {
    const parsed = parseConfigText(BASE.replace("layers: [4, 8, 3]", "layers: [5, 8, 3]"), "c.yaml");
    const err = configError(() => compileConfig(parsed, join(tmp, "c.yaml")));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^model\.layers\[0\]: .*5.*data\.features 4/);
  });

  it("synthetic data: a model output size that differs from data.classes names model.layers", () => {
    const parsed = parseConfigText(BASE.replace("layers: [4, 8, 3]", "layers: [4, 8, 2]"), "c.yaml");
    const err = configError(() => compileConfig(parsed, join(tmp, "c.yaml")));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^model\.layers: .*output size 2.*data\.classes 3/);
  });

  it("synthetic data: both sizes wrong gives two problems, through loadConfig", () => {
    const file = writeConfig("mismatch.yaml", BASE.replace("layers: [4, 8, 3]", "layers: [784, 64, 10]"));
    const err = configError(() => loadConfig(file));
    expect(err.problems).toHaveLength(2);
    expect(err.problems.every((p) => p.startsWith("model.layers"))).toBe(true);
  });

  it("a missing config file is a ConfigError", () => {
    const err = configError(() => loadConfig(join(tmp, "does-not-exist.yaml")));
    expect(err.problems).toEqual(["file not found"]);
  });

  it("an oversized config file is refused before parsing", () => {
    const file = writeConfig("huge.yaml", BASE + "#".repeat(MAX_CONFIG_BYTES) + "\n");
    expect(configError(() => loadConfig(file)).message).toMatch(/bytes; a config is at most/);
  });
});

describe("hostile YAML", () => {
  it("an alias bomb (billion laughs) is a ConfigError within a second, not a hang", () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const text = BASE + levels.join("\n") + "\n";
    const t0 = performance.now();
    const err = parseError(text);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(err.message).toMatch(/YAML: .*alias/i);
  });

  it("an alias bomb inside a known field is refused as well", () => {
    const text = "x: &x [1, 1, 1, 1, 1, 1, 1, 1]\ny: &y [*x, *x, *x, *x, *x, *x, *x, *x]\nz: &z [*y, *y, *y, *y, *y, *y, *y, *y]\n" + BASE.replace("layers: [4, 8, 3]", "layers: [*z, *z, *z, *z, *z, *z, *z, *z]");
    const t0 = performance.now();
    const err = parseError(text);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(ConfigError);
  });

  it.each([
    ["top level", BASE + "__proto__:\n  polluted: yes\n", "__proto__"],
    ["top level, quoted flow", BASE + '"__proto__": {"polluted": true}\n', "__proto__"],
    ["nested", BASE.replace("  batch_size: 5", "  batch_size: 5\n  __proto__:\n    polluted: yes"), "pairs.__proto__"],
    ["inside workers", BASE + "workers:\n  __proto__: {polluted: 1}\n", "workers.__proto__"],
  ])("a __proto__ key (%s) is an error and pollutes nothing", (_, text, field) => {
    const err = parseError(text);
    expect(err.message).toContain(`${field} (line`);
    expect(err.message).toContain("unknown key");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("constructor / prototype keys are plain unknown keys", () => {
    const err = parseError(BASE + "constructor:\n  prototype:\n    polluted: 1\n");
    expect(err.message).toContain("constructor (line 12");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
