// The config's `test:` section: a dataset of its own (any data kind, paths resolved against
// the config) or a seeded share of `data`; exactly one of them, named with its line.

import { describe, expect, it } from "vitest";
import { ConfigError, compileConfig, parseConfigText } from "../../src/coordinator/config/load.js";
import { BASE_CONFIG } from "../helpers/configs.js";

const compiled = (extra: string) => compileConfig(parseConfigText(BASE_CONFIG + extra, "/cfg/t.yaml"), "/cfg/t.yaml").test;

function problems(extra: string): string {
  try {
    parseConfigText(BASE_CONFIG + extra, "t.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.join("\n");
  }
  throw new Error("expected a ConfigError");
}

describe("config test:", () => {
  it("is off unless given; a fraction with its seed; a dataset of any kind", () => {
    expect(compiled("")).toBeNull();
    expect(compiled("test: {fraction: 0.2}\n")).toEqual({ data: null, fraction: 0.2, seed: 0, perTask: 2048 });
    expect(compiled("test: {data: {kind: synthetic, n: 50, features: 784, classes: 10, seed: 4}, examples_per_task: 10}\n")).toMatchObject({ data: { kind: "synthetic", n: 50 }, fraction: null, perTask: 10 });
  });

  it("refuses both, neither, a fraction outside (0, 1) and unknown keys", () => {
    expect(problems("test: {fraction: 0.2, data: {kind: mnist}}\n")).toMatch(/^test \(line \d+, column \d+\): give either data .* or fraction/m);
    expect(problems("test: {seed: 3}\n")).toMatch(/^test .*give either data/m);
    expect(problems("test: {fraction: 1}\n")).toMatch(/^test\.fraction /m);
    expect(problems("test: {fraction: 0.2, limit: 5}\n")).toMatch(/limit/);
  });

  it("a missing test file is named by its field", () => {
    let message = "";
    try {
      compileConfig(parseConfigText(BASE_CONFIG + "test: {data: {kind: idx, images: nope-images, labels: nope-labels}}\n", "/cfg/t.yaml"), "/cfg/t.yaml");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/test\.data\.images .*not found|test\.data\.images.*nope-images/);
  });
});
