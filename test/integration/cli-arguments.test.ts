// `coordinator` with bad arguments, as a user types them (the compiled CLI): README.md's
// exit codes say 2 for bad arguments; commander on its own exits 1. Nothing here gets as
// far as reading a config, so no nats-server is involved.
//
// Needs dist/ (npx tsc -p tsconfig.json).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { distFile } from "../../src/util/package-root.js";

const CLI = distFile("coordinator/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "gradswarm-cli-arguments-"));

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function coordinator(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
  return { ...r, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

describe("coordinator refuses bad arguments with exit 2", () => {
  const out = join(tmp, "out");
  const cases: [string, string[], RegExp][] = [
    ["--workers 0", ["run", "examples/quickstart.yaml", "--workers", "0", "--out", out], /--workers <n>.*'0' is invalid/],
    ["--workers two", ["run", "examples/quickstart.yaml", "--workers", "two", "--out", out], /--workers <n>.*'two' is invalid/],
    ["--nats without its value", ["run", "examples/quickstart.yaml", "--out", out, "--nats"], /--nats <url>' argument missing/],
    ["an unknown option", ["run", "examples/quickstart.yaml", "--out", out, "--bogus"], /unknown option '--bogus'/],
    ["run without its config", ["run"], /missing required argument 'config'/],
    // The login is read before anything is prepared or connected (nothing listens on port 1).
    ["--tls-key without --tls-cert", ["run", "examples/quickstart.yaml", "--out", out, "--nats", "nats://127.0.0.1:1", "--tls-key", "k.pem"], /coordinator: --tls-key is given without the certificate/],
    ["--password-file and a password in the URL", ["run", "examples/quickstart.yaml", "--out", out, "--nats", "nats://u:hunter2@127.0.0.1:1", "--password-file", "pw"], /coordinator: --password-file and the NATS URL both give a password: give it once/],
    ["--user without a password", ["run", "examples/quickstart.yaml", "--out", out, "--nats", "nats://127.0.0.1:1", "--user", "alice"], /coordinator: user alice has no password/],
    ["verify --tolerance abc", ["verify", tmp, "--tolerance", "abc"], /--tolerance <rel>.*'abc' is invalid/],
    ["status without --nats", ["status"], /required option '--nats <url>' not specified/],
    ["workers --prefix with a wildcard", ["workers", "--nats", "nats://127.0.0.1:1", "--prefix", "a.*"], /--prefix <prefix>.*must be dot-separated tokens/],
    ["status --user without a password", ["status", "--nats", "nats://127.0.0.1:1", "--user", "alice"], /coordinator: user alice has no password/],
    ["an unknown subcommand", ["runn", "examples/quickstart.yaml"], /unknown command 'runn'/],
    ["no subcommand at all", [], /Usage: coordinator/],
  ];
  for (const [name, args, message] of cases) {
    it(name, () => {
      const r = coordinator(args);
      expect(r.error).toBeUndefined();
      expect(r.status, r.output).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.output).not.toContain("embedded nats-server");
      expect(existsSync(out), `${out} was created`).toBe(false);
    });
  }

  it("status and workers exit 1 when the server cannot be reached, naming it", () => {
    for (const command of ["status", "workers"]) {
      const r = coordinator([command, "--nats", "nats://127.0.0.1:1"]);
      expect(r.status, r.output).toBe(1);
      expect(r.stderr).toContain("cannot connect to NATS at nats://127.0.0.1:1");
    }
  });

  it("--help and --version still exit 0", () => {
    for (const args of [["--help"], ["run", "--help"], ["--version"]]) {
      const r = coordinator(args);
      expect(r.status, `${args.join(" ")}: ${r.output}`).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  });
});
