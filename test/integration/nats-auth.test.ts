// NATS servers that require a login, as an operator meets them (dist/ processes; build
// first): a full `coordinator run --nats URL` against a password server with a worker that
// logs in from a password file, after which no output of the run (stdout and stderr of
// both, every file in the run folder) holds the password; wrong or missing credentials end
// with the URL redacted and what to pass; and each other login (token, NKey, creds file)
// and TLS (a CA, mutual TLS) connects through the one shared connect, refusals included.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsAuthFrom, type NatsAuthSources } from "../../src/nats/auth.js";
import { connectNats } from "../../src/nats/connect.js";
import { subjects } from "../../src/protocol/index.js";
import { distFile } from "../../src/util/package-root.js";
import { BASE_CONFIG } from "../helpers/configs.js";
import { makeCerts, startOperatorServer, startTokenServer, startUsersServer, userNkey, type AuthServer, type Certs } from "../helpers/nats-auth.js";
import { uniquePrefix } from "../helpers/nats.js";
import { spawnWorker, stopWorkers, waitForHeartbeats, type TestWorker } from "../helpers/workers.js";

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The coordinator CLI to its end, with GRADSWARM_* variables only as given. */
function coordinator(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<Finished> {
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith("GRADSWARM_")) delete clean[k];
  const child = spawn(process.execPath, [distFile("coordinator/cli.js"), ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...clean, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Every file under `dir`, recursively, with its bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push({ path: p, bytes: readFileSync(p) });
  }
  return out;
}

const workers: TestWorker[] = [];
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gradswarm-nats-auth-"));
});
afterAll(async () => {
  await stopWorkers(workers);
  rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("a run against a server that requires a password", () => {
  // A "/" so that the URL form must percent-encode it; both forms are looked for below.
  const password = `s3cret/${randomBytes(12).toString("hex")}`;
  const forms = [password, encodeURIComponent(password)];
  let server: AuthServer;
  let watch: NatsConnection;
  let passwordFile: string;
  let hostPort: string;

  beforeAll(async () => {
    server = await startUsersServer({ passwords: { alice: password } });
    hostPort = server.url.slice("nats://".length);
    passwordFile = writeFile("alice.password", `${password}\n`);
    watch = await connectNats(`nats://alice:${encodeURIComponent(password)}@${hostPort}`, "auth-test-watch");
  });
  afterAll(async () => {
    await watch?.close();
    await server?.stop();
  });

  const config = (prefix: string, nats: string[] = []) => writeFile(`${prefix}.yaml`, BASE_CONFIG + ["nats:", `  prefix: ${prefix}`, ...nats, ""].join("\n"));

  it("coordinator with the password in its --nats URL, worker with --user and --password-file: the run ends, and no output holds the password", async () => {
    const prefix = uniquePrefix("auth-run");
    const w = spawnWorker(server.url, prefix, "auth-w1", ["--user", "alice", "--password-file", passwordFile]);
    workers.push(w);
    await waitForHeartbeats(watch, subjects(prefix).heartbeat, [w.id], 60_000);
    const out = join(dir, "run");
    const withPassword = `nats://alice:${encodeURIComponent(password)}@${hostPort}`;
    // The config names the URL too (--nats wins): results.json records the config, redacted.
    const run = await coordinator(["run", config(prefix, [`  url: ${withPassword}`]), "--nats", withPassword, "--out", out]);
    await stopWorkers([w]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`using the workers on nats://alice:***@${hostPort} (subject prefix ${prefix})`);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { run: { nats: { url: string }; workers: { id: string; pairs: number }[]; config: { nats: Record<string, unknown> } } };
    expect(results.run.nats.url).toBe(`nats://alice:***@${hostPort}`);
    expect(results.run.config.nats.url).toBe(`nats://alice:***@${hostPort}`);
    expect(results.run.workers.map((x) => [x.id, x.pairs])).toEqual([["auth-w1", 10]]);
    const outputs = [
      { path: "coordinator stdout", bytes: Buffer.from(run.stdout) },
      { path: "coordinator stderr", bytes: Buffer.from(run.stderr) },
      { path: "worker output", bytes: Buffer.from(w.output()) },
      ...filesUnder(out),
    ];
    expect(outputs.map((o) => o.path.replace(out + "/", "")).sort()).toEqual(expect.arrayContaining(["results.json", "pairs.jsonl", "model.json"]));
    for (const o of outputs) for (const f of forms) expect(o.bytes.includes(f), `${o.path} holds the password`).toBe(false);
  }, 240_000);

  it.each<[string, (prefix: string) => { args: string[]; env?: NodeJS.ProcessEnv }, RegExp, string]>([
    [
      "--user and a wrong --password-file",
      (prefix) => ({ args: [config(prefix), "--nats", server.url, "--user", "alice", "--password-file", writeFile("wrong", "wrong-password-1\n")] }),
      /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: Authorization Violation; the server refused the login \(user alice\): check it/,
      "wrong-password-1",
    ],
    [
      "a wrong password in the URL",
      (prefix) => ({ args: [config(prefix), "--nats", `nats://alice:wrong-password-2@${hostPort}`] }),
      /cannot connect to NATS at nats:\/\/alice:\*\*\*@127\.0\.0\.1:\d+: Authorization Violation; the server refused the login \(user alice\)/,
      "wrong-password-2",
    ],
    [
      "the config's nats.password_env holding a wrong password",
      (prefix) => ({ args: [config(prefix, [`  url: ${server.url}`, "  user: alice", "  password_env: AUTH_TEST_PASSWORD"])], env: { AUTH_TEST_PASSWORD: "wrong-password-3" } }),
      /Authorization Violation; the server refused the login \(user alice\)/,
      "wrong-password-3",
    ],
    [
      "no credentials at all",
      (prefix) => ({ args: [config(prefix), "--nats", server.url] }),
      /Authorization Violation; the server requires credentials: pass --user NAME with --password-file FILE \(or GRADSWARM_NATS_PASSWORD\), --token-file FILE/,
      "(none)",
    ],
  ])("%s: exit 1, the URL redacted, what to pass, no password in the message", async (_what, make, message, wrong) => {
    const { args, env } = make(uniquePrefix("auth-refused"));
    const run = await coordinator(["run", ...args, "--out", join(dir, "refused")], env);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(message);
    for (const s of [wrong, ...forms]) expect(run.stderr + run.stdout).not.toContain(s);
  }, 60_000);

  it("a config that names a password file that is not there: exit 2, naming the field and its line", async () => {
    const run = await coordinator(["run", config(uniquePrefix("auth-nofile"), [`  url: ${server.url}`, "  user: alice", "  password_file: no-such-file"])]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/coordinator: nats\.password_file \(line 16, column 18\) .*no-such-file: cannot read the password: ENOENT/);
  });

  it("a worker with a wrong password exits 1, says what was refused, and not the password", async () => {
    const w = spawnWorker(server.url, uniquePrefix("auth-ww"), "auth-wrong", ["--user", "alice", "--password-file", writeFile("wrong-w", "wrong-password-4")]);
    workers.push(w);
    expect(await w.exited).toBe(1);
    expect(w.output()).toMatch(/worker: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: Authorization Violation; the server refused the login \(user alice\)/);
    expect(w.output()).not.toContain("wrong-password-4");
  }, 60_000);

  it("a worker with --user and no password exits 2 before it starts a backend", async () => {
    const w = spawnWorker(server.url, uniquePrefix("auth-np"), "auth-nopw", ["--user", "alice"]);
    workers.push(w);
    expect(await w.exited).toBe(2);
    expect(w.output()).toContain("worker: user alice has no password: give --password-file or GRADSWARM_NATS_PASSWORD");
    expect(w.output()).not.toMatch(/backend/);
  }, 60_000);
});

describe("TLS with a CA and client certificates, NKey users", () => {
  let certs: Certs;
  let server: AuthServer;
  const nkey = userNkey();
  let seedFile: string;
  const mtls = (): NatsAuthSources["tls"] => ({ ca: { file: certs.ca, field: "--tls-ca" }, cert: { file: certs.clientCert, field: "--tls-cert" }, key: { file: certs.clientKey, field: "--tls-key" } });

  beforeAll(async () => {
    certs = makeCerts(mkdtempSync(join(dir, "certs-")));
    seedFile = writeFile("user.nk", `${nkey.seed}\n`);
    server = await startUsersServer({ passwords: { bob: "bobs-password" }, nkeys: [nkey.publicKey], certs, verify: true });
  });
  afterAll(async () => server?.stop());

  it("a worker logs in with its NKey seed over mutual TLS (--nkey-seed-file, --tls-ca, --tls-cert, --tls-key)", async () => {
    const watch = await connectNats(server.url, "tls-watch", natsAuthFrom(server.url, { user: { value: "bob", field: "--user" }, password: { env: "PW", field: "--password-file" }, tls: mtls() }, { PW: "bobs-password" }));
    try {
      const prefix = uniquePrefix("tls");
      const w = spawnWorker(server.url, prefix, "tls-w1", ["--nkey-seed-file", seedFile, "--tls-ca", certs.ca, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey]);
      workers.push(w);
      await waitForHeartbeats(watch, subjects(prefix).heartbeat, [w.id], 60_000);
      await stopWorkers([w]);
      expect(w.output()).not.toContain(nkey.seed);
    } finally {
      await watch.close();
    }
  }, 90_000);

  it.each<[string, () => NatsAuthSources, RegExp]>([
    ["no CA: the server's certificate is not trusted", () => ({ nkeySeed: { file: seedFile, field: "--nkey-seed-file" } }), /unable to verify the first certificate; check --tls-ca/],
    ["another CA", () => ({ nkeySeed: { file: seedFile, field: "--nkey-seed-file" }, tls: { ca: { file: certs.otherCa, field: "--tls-ca" } } }), /unable to verify the first certificate; check --tls-ca/],
    ["the CA but no client certificate", () => ({ nkeySeed: { file: seedFile, field: "--nkey-seed-file" }, tls: { ca: { file: certs.ca, field: "--tls-ca" } } }), /if the server verifies clients, check --tls-ca .* --tls-cert\/--tls-key/],
    ["mutual TLS and a wrong password", () => ({ user: { value: "bob", field: "--user" }, password: { env: "PW", field: "--password-file" }, tls: mtls() }), /Authorization Violation; the server refused the login \(user bob\)/],
  ])("refused: %s", async (_what, sources, message) => {
    const err = await connectNats(server.url, "tls-refused", natsAuthFrom(server.url, sources(), { PW: "not-bobs-password" })).then(
      async (nc) => {
        await nc.close();
        return null;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(new RegExp(`^cannot connect to NATS at ${server.url}: `));
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain("not-bobs-password");
  }, 30_000);
});

describe("a token, a creds file (operator mode)", () => {
  it("a token from --token-file's file or the URL; none: refused, the URL's token redacted", async () => {
    const token = `tok-${randomBytes(8).toString("hex")}`;
    const server = await startTokenServer(token);
    try {
      const tokenFile = writeFile("token", `${token}\n`);
      const nc = await connectNats(server.url, "token-file", natsAuthFrom(server.url, { token: { file: tokenFile, field: "--token-file" } }));
      await nc.close();
      const viaUrl = await connectNats(`nats://${token}@${server.url.slice(7)}`, "token-url");
      await viaUrl.close();
      const wrongUrl = `nats://wrong-${token}@${server.url.slice(7)}`;
      await expect(connectNats(wrongUrl, "token-wrong")).rejects.toThrow(new RegExp(`^cannot connect to NATS at nats://\\*\\*\\*@127\\.0\\.0\\.1:\\d+: Authorization Violation; the server refused the login \\(a token\\): check it`));
      await expect(connectNats(server.url, "token-none")).rejects.toThrow(/the server requires credentials/);
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("a creds file (user JWT and seed) logs in to an operator-mode server; without it, refused", async () => {
    const server = await startOperatorServer();
    try {
      const nc = await connectNats(server.url, "creds", natsAuthFrom(server.url, { creds: { file: server.credsFile, field: "--creds" } }));
      // The login is the user's: a round trip on a subject works.
      const sub = nc.subscribe("creds.echo", { max: 1, callback: (_e, m) => void m.respond(m.data) });
      expect(new TextDecoder().decode((await nc.request("creds.echo", "hi", { timeout: 5000 })).data)).toBe("hi");
      sub.unsubscribe();
      await nc.close();
      await expect(connectNats(server.url, "no-creds")).rejects.toThrow(/Authorization Violation; the server requires credentials/);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
