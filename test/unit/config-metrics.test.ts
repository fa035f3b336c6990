// The config's `metrics:` section: a port (0: a free one) and a host, defaulting to
// 127.0.0.1; out-of-range ports and unknown keys refused with the field and line.

import { describe, expect, it } from "vitest";
import { ConfigError, compileConfig, parseConfigText } from "../../src/coordinator/config/load.js";
import { BASE_CONFIG } from "../helpers/configs.js";

const compiled = (extra: string) => compileConfig(parseConfigText(BASE_CONFIG + extra, "m.yaml"), "m.yaml").metrics;

function problems(extra: string): string[] {
  try {
    parseConfigText(BASE_CONFIG + extra, "m.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("config metrics:", () => {
  it("is off unless given; port alone listens on 127.0.0.1; host taken as written", () => {
    expect(compiled("")).toBeNull();
    expect(compiled("metrics: {port: 9464}\n")).toEqual({ port: 9464, host: "127.0.0.1" });
    expect(compiled("metrics: {port: 0, host: 0.0.0.0}\n")).toEqual({ port: 0, host: "0.0.0.0" });
  });

  it("refuses a port out of range, a missing port and unknown keys, naming the field", () => {
    expect(problems("metrics: {port: 65536}\n").join("\n")).toMatch(/^metrics\.port \(line 12, column \d+\): /);
    expect(problems("metrics: {port: 80.5}\n").join("\n")).toMatch(/^metrics\.port /);
    expect(problems("metrics: {host: 0.0.0.0}\n").join("\n")).toMatch(/^metrics\.port/);
    expect(problems("metrics: {port: 1, path: /m}\n").join("\n")).toMatch(/^metrics\.path .*unknown key/);
  });
});
