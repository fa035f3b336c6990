// The NATS login's one place (src/nats/auth.ts, auth-flags.ts) and the config's nats:
// section: URLs redacted as printed and stored, URL credentials taken out and decoded,
// secrets read from files and the environment they are said to be in, and every
// ambiguous or incomplete login refused with the field or flag that gave it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfigText } from "../../src/coordinator/config/load.js";
import { NatsAuthError, natsAuthFrom, redactUrl, scrub, secretsOf, splitUrlCredentials, type NatsAuthSources } from "../../src/nats/auth.js";
import { natsAuthSourcesFromFlags, overlaySources } from "../../src/nats/auth-flags.js";
import { BASE_CONFIG } from "../helpers/configs.js";

let dir: string;
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gradswarm-auth-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function authError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NatsAuthError);
    return (err as Error).message;
  }
  throw new Error("expected a NatsAuthError, nothing was thrown");
}

describe("redactUrl", () => {
  it.each([
    ["nats://alice:s3cret@host:4222", "nats://alice:***@host:4222"],
    ["nats://tok3n@host:4222", "nats://***@host:4222"],
    ["tls://alice:p%40ss@host", "tls://alice:***@host"],
    // A raw "@" in a password: everything up to the last "@" is hidden.
    ["nats://alice:p@ss@host:4222", "nats://alice:***@host:4222"],
    ["alice:s3cret@host:4222", "alice:***@host:4222"],
    ["nats://a:x@h1:4222,nats://h2:4222, nats://b:y@h3", "nats://a:***@h1:4222,nats://h2:4222, nats://b:***@h3"],
    ["nats://host:4222", "nats://host:4222"],
    ["nats://127.0.0.1:4222,nats://127.0.0.1:4223", "nats://127.0.0.1:4222,nats://127.0.0.1:4223"],
  ])("%s → %s", (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});

describe("splitUrlCredentials", () => {
  it("takes the credentials out of every server and decodes them", () => {
    expect(splitUrlCredentials("nats://alice:p%40ss%2Fw%3Ard@h1:4222, nats://alice:p%40ss%2Fw%3Ard@h2")).toEqual({ servers: ["nats://h1:4222", "nats://h2"], user: "alice", password: "p@ss/w:rd" });
    expect(splitUrlCredentials("nats://tok@h1")).toEqual({ servers: ["nats://h1"], token: "tok" });
    expect(splitUrlCredentials("nats://h1:4222,h2:4222")).toEqual({ servers: ["nats://h1:4222", "h2:4222"] });
  });
  it("refuses servers that carry different credentials, naming the URL redacted", () => {
    const m = authError(() => splitUrlCredentials("nats://alice:one@h1,nats://alice:two@h2"));
    expect(m).toContain("nats://alice:***@h1,nats://alice:***@h2");
    expect(m).not.toMatch(/one|two/);
  });
  it("refuses bad percent-encoding without echoing it", () => {
    expect(authError(() => splitUrlCredentials("nats://alice:%zz@h1"))).toBe("the password in the NATS URL is not valid percent-encoding");
  });
});

describe("natsAuthFrom", () => {
  const url = "nats://127.0.0.1:4222";
  it("reads a password file without its final line break", () => {
    const auth = natsAuthFrom(url, { user: { value: "alice", field: "--user" }, password: { file: file("pw", "s3cret\n"), field: "--password-file" } });
    expect(auth).toEqual({ user: "alice", password: "s3cret", described: "user alice" });
  });
  it("keeps the URL's credentials, and merges an equal --user", () => {
    expect(natsAuthFrom("nats://alice:s3cret@h", {})).toEqual({ user: "alice", password: "s3cret", described: "user alice" });
    expect(natsAuthFrom("nats://alice:s3cret@h", { user: { value: "alice", field: "--user" } }).password).toBe("s3cret");
    expect(natsAuthFrom("nats://tok@h", {})).toEqual({ token: "tok", described: "a token" });
  });
  it("reads GRADSWARM_NATS_PASSWORD only for a user without another password source", () => {
    const env = { GRADSWARM_NATS_PASSWORD: "fromenv" };
    expect(natsAuthFrom(url, { user: { value: "alice", field: "--user" } }, env).password).toBe("fromenv");
    expect(natsAuthFrom("nats://alice:inurl@h", {}, env).password).toBe("inurl");
    expect(natsAuthFrom(url, { user: { value: "alice", field: "--user" }, password: { file: file("pw2", "infile"), field: "--password-file" } }, env).password).toBe("infile");
    // No user: the variable is not a login by itself.
    expect(natsAuthFrom(url, {}, env)).toEqual({});
  });
  it("reads GRADSWARM_NATS_TOKEN only when nothing else gives a login", () => {
    const env = { GRADSWARM_NATS_TOKEN: "tokenv" };
    expect(natsAuthFrom(url, {}, env)).toEqual({ token: "tokenv", described: "a token" });
    expect(natsAuthFrom("nats://alice:pw@h", {}, env)).toEqual({ user: "alice", password: "pw", described: "user alice" });
  });
  it("reads a named environment variable, and says so when it is not set", () => {
    const sources: NatsAuthSources = { user: { value: "alice", field: "--user" }, password: { env: "MY_PW", field: "nats.password_env (line 3, column 18)" } };
    expect(natsAuthFrom(url, sources, { MY_PW: "x" }).password).toBe("x");
    expect(authError(() => natsAuthFrom(url, sources, {}))).toBe("nats.password_env (line 3, column 18): the environment variable MY_PW is not set; it should hold the password");
    expect(authError(() => natsAuthFrom(url, sources, { MY_PW: "" }))).toContain("MY_PW is empty");
  });
  it.each<[string, string, NatsAuthSources, RegExp]>([
    ["a password twice", "nats://alice:pw@h", { password: { file: "/nonexistent", field: "--password-file" } }, /--password-file and the NATS URL both give a password/],
    ["two users", "nats://bob:pw@h", { user: { value: "alice", field: "--user" } }, /--user names user alice, the NATS URL user bob/],
    ["user and token", "nats://alice:pw@h", { token: { env: "T", field: "--token-file" } }, /several ways to log in are given \(user alice, a token\)/],
    ["a user without password", "nats://h", { user: { value: "alice", field: "--user" } }, /user alice has no password: give --password-file or GRADSWARM_NATS_PASSWORD/],
    ["a password without user", "nats://h", { password: { env: "P", field: "--password-file" } }, /--password-file gives a password but no user names it/],
    ["a certificate without key", "nats://h", { tls: { cert: { file: "/c.pem", field: "--tls-cert" } } }, /--tls-cert is given without the key/],
    ["a key without certificate", "nats://h", { tls: { key: { file: "/k.pem", field: "--tls-key" } } }, /--tls-key is given without the certificate/],
    ["a missing file", "nats://h", { token: { file: "/nonexistent/tok", field: "--token-file" } }, /--token-file \/nonexistent\/tok: cannot read the token: ENOENT/],
    ["a missing CA", "nats://h", { tls: { ca: { file: "/nonexistent/ca.pem", field: "--tls-ca" } } }, /--tls-ca \/nonexistent\/ca.pem: cannot read the CA certificate/],
  ])("refuses %s", (_what, u, sources, message) => {
    expect(authError(() => natsAuthFrom(u, sources, { T: "t", P: "p" }))).toMatch(message);
  });
  it("refuses an empty secret file, a file that is no seed, a file that is no creds file, naming the flag and the file", () => {
    expect(authError(() => natsAuthFrom(url, { token: { file: file("empty", "\n"), field: "--token-file" } }))).toBe(`--token-file ${join(dir, "empty")}: the file is empty; it should hold the token`);
    expect(authError(() => natsAuthFrom(url, { nkeySeed: { file: file("notseed", "UABC\n"), field: "--nkey-seed-file" } }))).toMatch(/not a user NKey seed/);
    expect(authError(() => natsAuthFrom(url, { creds: { file: file("notcreds", "hello"), field: "--creds" } }))).toMatch(/--creds .*notcreds: not a creds file/);
  });
  it("reads an NKey seed and a creds file", () => {
    const seed = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4";
    expect(natsAuthFrom(url, { nkeySeed: { file: file("seed", `${seed}\n`), field: "--nkey-seed-file" } }).nkeySeed).toBe(seed);
    const creds = `-----BEGIN NATS USER JWT-----\neyJhbGciOi.payload.sig\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
    const auth = natsAuthFrom(url, { creds: { file: file("user.creds", creds), field: "--creds" } });
    expect(new TextDecoder().decode(auth.creds)).toBe(creds);
    expect(secretsOf(auth).sort()).toEqual(["eyJhbGciOi.payload.sig", seed].sort());
  });
});

describe("scrub", () => {
  it("hides each secret and any URL's credentials", () => {
    expect(scrub("bad login hunter2 at nats://alice:hunter2@h and tls://tok@h2", ["hunter2"])).toBe("bad login *** at nats://***@h and tls://***@h2");
  });
});

describe("flags", () => {
  it("name each source by its flag, with paths made absolute", () => {
    const s = natsAuthSourcesFromFlags({ user: "alice", passwordFile: "pw.txt", tlsCa: "ca.pem" });
    expect(s.user).toEqual({ value: "alice", field: "--user" });
    expect(s.password).toEqual({ file: join(process.cwd(), "pw.txt"), field: "--password-file" });
    expect(s.tls).toEqual({ ca: { file: join(process.cwd(), "ca.pem"), field: "--tls-ca" }, cert: undefined, key: undefined });
  });
  it("replace the config's entry for the same thing, and keep the rest", () => {
    const config: NatsAuthSources = { user: { value: "alice", field: "nats.user" }, password: { env: "PW", field: "nats.password_env" }, tls: { ca: { file: "/ca", field: "nats.tls.ca" } } };
    const merged = overlaySources(config, natsAuthSourcesFromFlags({ passwordFile: "/pw", tlsCert: "/c", tlsKey: "/k" }));
    expect(merged.user).toEqual(config.user);
    expect(merged.password).toEqual({ file: "/pw", field: "--password-file" });
    expect(merged.tls).toEqual({ ca: { file: "/ca", field: "nats.tls.ca" }, cert: { file: "/c", field: "--tls-cert" }, key: { file: "/k", field: "--tls-key" } });
    expect(overlaySources(config, {})).toEqual(config);
  });
});

describe("the config's nats: section", () => {
  const withNats = (lines: string[]) => BASE_CONFIG + ["nats:", "  url: nats://h:4222", ...lines, ""].join("\n");
  const configError = (text: string): string => {
    const p = file("c.yaml", text);
    try {
      loadConfig(p);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("expected a ConfigError");
  };
  it("compiles the sources, paths against the config's folder, each named by its field and line", () => {
    const p = file("ok.yaml", withNats(["  user: alice", "  password_env: MY_PW", "  tls:", "    ca: certs/ca.pem", "    cert: /abs/c.pem", "    key: /abs/k.pem"]));
    const cfg = loadConfig(p);
    expect(cfg.nats.auth).toEqual({
      user: { value: "alice", field: "nats.user (line 14, column 9)" },
      password: { env: "MY_PW", field: "nats.password_env (line 15, column 17)" },
      tls: { ca: { file: join(dir, "certs/ca.pem"), field: "nats.tls.ca (line 17, column 9)" }, cert: { file: "/abs/c.pem", field: "nats.tls.cert (line 18, column 11)" }, key: { file: "/abs/k.pem", field: "nats.tls.key (line 19, column 10)" } },
    });
    expect(loadConfig(file("plain.yaml", BASE_CONFIG)).nats.auth).toEqual({});
  });
  it("refuses a password or token written in the config, saying where to put it", () => {
    const m = configError(withNats(["  user: alice", "  password: hunter2"]));
    expect(m).toContain("nats.password (line 15, column 13): a password is not written in the config: give password_file");
    expect(m).not.toContain("hunter2");
    expect(configError(withNats(["  token: abc"]))).toContain("nats.token (line 14, column 10): a token is not written in the config");
  });
  it("refuses both password_file and password_env, both token_file and token_env", () => {
    expect(configError(withNats(["  user: alice", "  password_file: pw", "  password_env: PW"]))).toContain("nats.password_file (line 15, column 18): nats.password_file and nats.password_env both give the password: keep one");
    expect(configError(withNats(["  token_file: t", "  token_env: T"]))).toContain("nats.token_file and nats.token_env both give the token");
  });
  it("refuses an environment variable name that is none, and unknown tls keys", () => {
    expect(() => parseConfigText(withNats(["  password_env: 'MY PW'"]), "t.yaml")).toThrow(/nats.password_env.*an environment variable's name/);
    expect(() => parseConfigText(withNats(["  tls:", "    verify: true"]), "t.yaml")).toThrow(/nats.tls.verify.*unknown key/);
  });
});
