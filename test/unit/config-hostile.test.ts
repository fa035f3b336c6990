// Hostile config files, parsed and compiled only (no processes): alias bombs, merge keys
// and __proto__ keys, an oversized file, duplicate keys, absurd values. Each is a
// ConfigError that names the problem (the field and its line where the YAML has one),
// quickly, and nothing leaks into Object.prototype.
//
// test/integration/config-refused.test.ts checks the same through `coordinator run`.

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, MAX_CONFIG_BYTES, compileConfig, loadConfig, parseConfigText } from "../../src/coordinator/config/load.js";
import { BASE_CONFIG } from "../helpers/configs.js";

const BASE = BASE_CONFIG;

const MB = 1024 * 1024;

let tmp: string;
let protoNames: string[];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "gradswarm-config-hostile-"));
  protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function expectPrototypeUntouched(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
  expect(Object.getPrototypeOf(Object.prototype)).toBeNull();
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`, { cause: err });
    return err;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

/** Parses and compiles; the ConfigError from either stage, and how long it took. */
function refused(text: string, file = join(tmp ?? tmpdir(), "hostile.yaml")): { err: ConfigError; ms: number } {
  const t0 = performance.now();
  const err = configError(() => compileConfig(parseConfigText(text, file), file));
  return { err, ms: performance.now() - t0 };
}

/** A line that names `field` and its line: "pairs.count (line 10, column 10): …". */
function fieldAt(field: string, line: number): RegExp {
  return new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(line ${line}, column \\d+\\): \\S`);
}

/** Nine levels of ten aliases each: 10^9 nodes if expanded. */
function billionLaughs(style: "seq" | "map"): string {
  const levels = [style === "seq" ? "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]" : "a: &a {x: lol}"];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    const refs = Array.from({ length: 10 }, (_, k) => (style === "seq" ? `*${prev}` : `k${k}: *${prev}`)).join(", ");
    levels.push(style === "seq" ? `${cur}: &${cur} [${refs}]` : `${cur}: &${cur} {${refs}}`);
  }
  return levels.join("\n") + "\n";
}

describe("alias bombs", () => {
  it.each([
    ["a sequence bomb before the config", billionLaughs("seq") + BASE],
    ["a sequence bomb after the config", BASE + billionLaughs("seq")],
    ["a mapping bomb", billionLaughs("map") + BASE],
    ["a bomb expanded through a merge key", billionLaughs("map") + BASE + "workers:\n  <<: [*i, *i, *i]\n"],
    ["a bomb referenced from a known field", billionLaughs("seq") + BASE.replace("count: 10", "count: *i")],
    ["a bomb inside a known section", BASE.replace("  batch_size: 5", "  batch_size: 5\n" + billionLaughs("seq").replace(/^/gm, "  ").trimEnd())],
  ])("%s is a ConfigError naming YAML aliases, within a second", (_, text) => {
    const { err, ms } = refused(text);
    expect(ms).toBeLessThan(1000);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^YAML: .*alias/i);
    expectPrototypeUntouched();
  });

  it("through loadConfig as well", () => {
    const file = join(tmp, "bomb.yaml");
    writeFileSync(file, billionLaughs("seq") + BASE);
    const t0 = performance.now();
    const err = configError(() => loadConfig(file));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.file).toBe(file);
    expect(err.message).toMatch(/YAML: .*alias/i);
  });

  it("a few aliases are not a bomb: they resolve and the schema judges the result", () => {
    const parsed = parseConfigText(BASE.replace("count: 10", "count: &c 10").replace("batch_size: 5", "batch_size: *c"), "ok.yaml");
    expect(parsed.pairs).toMatchObject({ count: 10, batch_size: 10 });
  });

  it("an alias to a missing anchor, and a self-referencing one, are ConfigErrors", () => {
    expect(refused(BASE.replace("count: 10", "count: *nope")).err.message).toMatch(/YAML: .*(alias|anchor)/i);
    expect(refused(BASE + "x: &x [*x]\n").err.message).toMatch(/x \(line 12/);
  });
});

describe("merge keys and __proto__", () => {
  it.each([
    ["<<: {__proto__: {polluted: 1}} in a section", BASE + "workers:\n  <<: {__proto__: {polluted: 1}}\n", "workers.<< (line 13"],
    ["<<: {__proto__: …} at top level", "<<: {__proto__: {polluted: 1}}\n" + BASE, "<< (line 1"],
    ["<< merging an anchored __proto__ map", "x: &p {__proto__: {polluted: 1}}\n" + BASE + "workers:\n  <<: *p\n", "workers.<< (line 14"],
    ["<< supplying the whole config", "<<:\n  model: {kind: mlp, layers: [4, 8, 3]}\n  data: {kind: synthetic, n: 100, features: 4, classes: 3}\n  pairs: {count: 10, batch_size: 5}\n", "<< (line 1"],
    ["a top-level __proto__: block", BASE + "__proto__:\n  polluted: 1\n", "__proto__ (line 12"],
    ["a top-level quoted flow __proto__", BASE + '"__proto__": {"polluted": true}\n', "__proto__ (line 12"],
    ["an explicit ? __proto__ key", BASE + "? __proto__\n: {polluted: 1}\n", "__proto__ (line 12"],
    ["a !!str __proto__ key", BASE + "!!str __proto__: {polluted: 1}\n", "__proto__ (line 12"],
    ["__proto__ supplying the whole config", "__proto__:\n  model: {kind: mlp, layers: [4, 8, 3]}\n  data: {kind: synthetic, n: 100, features: 4, classes: 3}\n  pairs: {count: 10, batch_size: 5}\n", "__proto__ (line 1"],
    ["__proto__ in pairs", BASE.replace("  batch_size: 5", "  batch_size: 5\n  __proto__: {polluted: 1, count: 3}"), "pairs.__proto__ (line 12"],
    ["__proto__ in model.layers' section", BASE.replace("  layers: [4, 8, 3]", "  layers: [4, 8, 3]\n  __proto__: {polluted: 1}"), "model.__proto__ (line 4"],
    ["constructor.prototype at top level", BASE + "constructor:\n  prototype:\n    polluted: 1\n", "constructor (line 12"],
    ["prototype in workers", BASE + "workers:\n  prototype: {polluted: 1}\n", "workers.prototype (line 13"],
  ])("%s is a ConfigError and pollutes nothing", (_, text, named) => {
    const { err } = refused(text);
    expect(err.message).toContain(named);
    expect(err.message).toContain("unknown key");
    expectPrototypeUntouched();
  });

  it("a __proto__ map cannot supply a section's required fields", () => {
    const text = BASE.replace("model:\n  kind: mlp\n  layers: [4, 8, 3]", "model:\n  __proto__:\n    kind: mlp\n    layers: [4, 8, 3]");
    const { err } = refused(text);
    expect(err.message).toMatch(/model/);
    expectPrototypeUntouched();
  });
});

describe("an oversized file", () => {
  it("a 50 MB (sparse) file is refused by its size, fast, without being read", () => {
    const file = join(tmp, "fifty.yaml");
    writeFileSync(file, BASE);
    truncateSync(file, 50 * MB);
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const err = configError(() => loadConfig(file));
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(err.problems).toEqual([`the file is ${50 * MB} bytes; a config is at most ${MAX_CONFIG_BYTES}`]);
    // Reading it whole would have touched 50 MB of buffer (and as much again as a string).
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(40 * MB);
  });

  it("one byte over the limit is refused the same way", () => {
    const file = join(tmp, "over.yaml");
    writeFileSync(file, BASE);
    truncateSync(file, MAX_CONFIG_BYTES + 1);
    expect(configError(() => loadConfig(file)).problems[0]).toMatch(new RegExp(`^the file is ${MAX_CONFIG_BYTES + 1} bytes`));
  });
});

describe("duplicate keys", () => {
  it.each([
    ["top level (pairs twice)", BASE + "pairs:\n  count: 3\n  batch_size: 1\n", 12],
    ["depth 1 (data.n twice)", BASE.replace("  n: 100", "  n: 100\n  n: 200"), 7],
    ["depth 1, once quoted", BASE.replace("  count: 10", '  count: 10\n  "count": 11'), 11],
    ["depth 1, as an explicit key", BASE.replace("  count: 10", "  count: 10\n  ? count\n  : 12"), 11],
    ["depth 1, in a flow mapping", BASE + "workers: {local: 1, backend: cpu, local: 2}\n", 12],
    ["depth 2, in a list item", BASE.replace("layers: [4, 8, 3]", "layers: [{a: 1, a: 2}]"), 3],
    ["depth 2, under output.dir", BASE + "output:\n  dir: {a: 1, a: 2}\n", 13],
    ["depth 3", BASE + "nats:\n  url:\n    x:\n      y: 1\n      y: 2\n", 16],
    ["__proto__ twice", BASE + "__proto__: 1\n__proto__: 2\n", 13],
    ["<< twice", BASE + "workers:\n  <<: {a: 1}\n  <<: {b: 2}\n", 14],
  ])("%s is a YAML error with the line of the repeated key", (_, text, line) => {
    const { err } = refused(text);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^YAML: .*unique.*line ${line}, column \\d+`, "i"));
    expectPrototypeUntouched();
  });

  // src/coordinator/config/load.ts keeps only the first line of the yaml error ("Map keys
  // must be unique at line 7, column 3:"); the key itself is on the lines it drops.
  it("a duplicate-key error names the key", () => {
    expect(refused(BASE.replace("  n: 100", "  n: 100\n  n: 200")).err.message).toMatch(/\bn\b.*line 7|line 7.*\bn\b/);
    expect(refused(BASE.replace("  count: 10", "  count: 10\n  count: 11")).err.message).toContain("count");
  });
});

describe("absurd values name their field and line", () => {
  const pairs = (key: string, value: string) => BASE.replace("  batch_size: 5", `  batch_size: 5\n  ${key}: ${value}`); // line 12
  const workers = (key: string, value: string) => `${BASE}workers:\n  ${key}: ${value}\n`; // line 13
  const data = (key: string, value: string) => BASE.replace("  classes: 3", `  classes: 3\n  ${key}: ${value}`); // line 9
  const model = (key: string, value: string) => BASE.replace("  layers: [4, 8, 3]", `  layers: [4, 8, 3]\n  ${key}: ${value}`); // line 4

  const cases: [string, string, string, number][] = [
    // pairs.count
    ...["-3", "0", "2.5", "1e20", "123456789012345678901234567890", "100000001", ".inf", "-.inf", ".nan", ".NaN", "1e400", '"10"', "[10]", "null", "true"].map(
      (v): [string, string, string, number] => [`pairs.count: ${v}`, BASE.replace("count: 10", `count: ${v}`), "pairs.count", 10],
    ),
    // pairs.batch_size
    ...["0", "-1", "1.5", "1048577", ".inf", ".nan"].map((v): [string, string, string, number] => [`pairs.batch_size: ${v}`, BASE.replace("batch_size: 5", `batch_size: ${v}`), "pairs.batch_size", 11]),
    // pairs.seed, above 2^53 and otherwise
    ...["9007199254740992", "9007199254740993", "18446744073709551616", "-1", "0.5", ".inf", ".nan"].map((v): [string, string, string, number] => [`pairs.seed: ${v}`, pairs("seed", v), "pairs.seed", 12]),
    ["pairs.per_task: 0", pairs("per_task", "0"), "pairs.per_task", 12],
    ["pairs.per_task: 65537", pairs("per_task", "65537"), "pairs.per_task", 12],
    // model.layers
    ["model.layers with a 0", BASE.replace("[4, 8, 3]", "[4, 0, 3]"), "model.layers[1]", 3],
    ["model.layers with a negative", BASE.replace("[4, 8, 3]", "[4, -8, 3]"), "model.layers[1]", 3],
    ["model.layers with a fraction", BASE.replace("[4, 8, 3]", "[4, 8.5, 3]"), "model.layers[1]", 3],
    ["model.layers with .inf", BASE.replace("[4, 8, 3]", "[4, .inf, 3]"), "model.layers[1]", 3],
    ["model.layers with .nan", BASE.replace("[4, 8, 3]", "[4, .nan, 3]"), "model.layers[1]", 3],
    ["model.layers with a huge width", BASE.replace("[4, 8, 3]", "[4, 1000000000, 3]"), "model.layers[1]", 3],
    ["model.layers: []", BASE.replace("[4, 8, 3]", "[]"), "model.layers", 3],
    ["model.layers of 65 layers", BASE.replace("[4, 8, 3]", `[4, ${Array(63).fill(8).join(", ")}, 3]`), "model.layers", 3],
    ["model.seed above 2^53", model("seed", "9007199254740993"), "model.seed", 4],
    // data
    ["data.n: 0", BASE.replace("n: 100", "n: 0"), "data.n", 6],
    ["data.n: -100", BASE.replace("n: 100", "n: -100"), "data.n", 6],
    ["data.n: .nan", BASE.replace("n: 100", "n: .nan"), "data.n", 6],
    ["data.n: 1e12", BASE.replace("n: 100", "n: 1e12"), "data.n", 6],
    ["data.features: 0", BASE.replace("features: 4", "features: 0"), "data.features", 7],
    ["data.classes: 1", BASE.replace("classes: 3", "classes: 1"), "data.classes", 8],
    ["data.label_noise: 1.5", data("label_noise", "1.5"), "data.label_noise", 9],
    ["data.label_noise: -0.1", data("label_noise", "-0.1"), "data.label_noise", 9],
    ["data.label_noise: .nan", data("label_noise", ".nan"), "data.label_noise", 9],
    ["data.seed: .inf", data("seed", ".inf"), "data.seed", 9],
    // workers
    ...["-1", "0", "-.inf", ".inf", ".nan", "86401"].map((v): [string, string, string, number] => [`workers.lease_s: ${v}`, workers("lease_s", v), "workers.lease_s", 13]),
    ...["0", "-5", ".inf", ".nan", "604801"].map((v): [string, string, string, number] => [`workers.wait_s: ${v}`, workers("wait_s", v), "workers.wait_s", 13]),
    ...["0", "-1", "1.5", ".inf", "1001"].map((v): [string, string, string, number] => [`workers.max_attempts: ${v}`, workers("max_attempts", v), "workers.max_attempts", 13]),
    ["workers.max_in_flight: 0", workers("max_in_flight", "0"), "workers.max_in_flight", 13],
    // 0 local workers and no NATS URL: a run that waits for workers nobody starts.
    ["workers.local: 0", workers("local", "0"), "workers.local", 13],
    ["workers.local: -1", workers("local", "-1"), "workers.local", 13],
    ["workers.local: 257", workers("local", "257"), "workers.local", 13],
    ["workers.local: 1.5", workers("local", "1.5"), "workers.local", 13],
  ];

  it.each(cases)("%s", (_, text, field, line) => {
    const { err } = refused(text);
    expect(err.problems.length).toBeGreaterThan(0);
    // Every problem is about this field (a value can break two rules: int and range).
    for (const p of err.problems) expect(p).toMatch(fieldAt(field, line));
    expectPrototypeUntouched();
  });

  it("several absurd values at once are all named, through loadConfig", () => {
    const text =
      BASE.replace("count: 10", "count: -3")
        .replace("batch_size: 5", "batch_size: 0\n  seed: 9007199254740993")
        .replace("[4, 8, 3]", "[4, 0, 3]") + "workers:\n  lease_s: -1\n  wait_s: 0\n  max_attempts: 0\n  local: .nan\n";
    const file = join(tmp, "absurd.yaml");
    writeFileSync(file, text);
    const err = configError(() => loadConfig(file));
    expect(err.file).toBe(file);
    for (const [field, line] of [
      ["model.layers[1]", 3],
      ["pairs.count", 10],
      ["pairs.batch_size", 11],
      ["pairs.seed", 12],
      ["workers.lease_s", 14],
      ["workers.wait_s", 15],
      ["workers.max_attempts", 16],
      ["workers.local", 17],
    ] as const) {
      expect(err.problems.some((p) => fieldAt(field, line).test(p)), `${field} (line ${line}) in:\n${err.message}`).toBe(true);
    }
  });

  it("a model that does not fit synthetic data is refused when compiled, naming model.layers", () => {
    const { err } = refused(BASE.replace("[4, 8, 3]", "[5, 8, 2]"));
    expect(err.problems).toHaveLength(2);
    expect(err.problems.every((p) => p.startsWith("model.layers"))).toBe(true);
  });
});
