// nats-server processes that require a login, for the credential tests: a server config
// written to a temporary folder (users with passwords and NKeys, a token, or operator mode
// with a preloaded account for creds files), optionally with TLS from certificates made
// here by Debian's openssl (a CA, a server certificate for 127.0.0.1 and localhost, a
// client certificate for mutual TLS).

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { nkeys } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../../src/nats/server-process.js";

export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing the server shows: a client trusting only it must refuse the server. */
  otherCa: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA, a server certificate (127.0.0.1, localhost) and a client certificate it signed; EC P-256 keys, valid one day. */
export function makeCerts(dir: string): Certs {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=gradswarm test CA"]);
  openssl(dir, ["req", "-x509", ...ec, "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "1", "-subj", "/CN=another CA"]);
  const sign = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`]);
  };
  sign("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  sign("client", "gradswarm worker", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client.key"),
    otherCa: join(dir, "other-ca.pem"),
  };
}

export interface AuthServer {
  server: NatsServerHandle;
  /** The server's URL, without credentials. */
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** A string for a NATS config, quoted (the secrets here are hex, but quote anyway). */
const q = (s: string) => JSON.stringify(s);

function tlsBlock(certs: Certs | undefined, verify: boolean): string {
  if (!certs) return "";
  return `tls {\n  cert_file: ${q(certs.serverCert)}\n  key_file: ${q(certs.serverKey)}\n  ca_file: ${q(certs.ca)}\n  verify: ${verify}\n  timeout: 5\n}\n`;
}

async function startWithConfig(text: string): Promise<AuthServer> {
  const dir = mkdtempSync(join(tmpdir(), "gradswarm-auth-"));
  const conf = join(dir, "server.conf");
  writeFileSync(conf, text);
  // The server log stays beside its config (for a failing test to read) until stop().
  const server = await startNatsServer({ args: ["-c", conf, "-l", join(dir, "server.log"), "-D"] });
  return {
    server,
    url: `nats://127.0.0.1:${server.port}`,
    dir,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A server whose users log in by password or by NKey (public keys), optionally over TLS (`verify`: clients need a certificate). */
export function startUsersServer(users: { passwords?: Record<string, string>; nkeys?: string[]; certs?: Certs; verify?: boolean }): Promise<AuthServer> {
  const entries = [...Object.entries(users.passwords ?? {}).map(([u, p]) => `{ user: ${q(u)}, password: ${q(p)} }`), ...(users.nkeys ?? []).map((k) => `{ nkey: ${q(k)} }`)];
  return startWithConfig(`${tlsBlock(users.certs, users.verify ?? false)}authorization {\n  users = [\n    ${entries.join("\n    ")}\n  ]\n}\n`);
}

export function startTokenServer(token: string): Promise<AuthServer> {
  return startWithConfig(`authorization {\n  token: ${q(token)}\n}\n`);
}

/**
 * Operator mode (decentralized JWT auth, as `nsc` sets it up): an operator JWT, one account
 * preloaded in the MEMORY resolver, and a creds file for a user of that account.
 */
export async function startOperatorServer(): Promise<AuthServer & { credsFile: string; userSeed: string; userJwt: string }> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const operatorJwt = await encodeOperator("gradswarm-test-operator", operator, { system_account: system.getPublicKey() });
  // The server runs with JetStream (-js), which in operator mode needs a system account.
  const systemJwt = await encodeAccount("SYS", system, {}, { signer: operator });
  // An account JWT's limits default to zero connections: open them all, JetStream included.
  const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const accountJwt = await encodeAccount("gradswarm-test-account", account, { limits }, { signer: operator });
  const userJwt = await encodeUser("gradswarm-test-user", user, account);
  const dirForFiles = mkdtempSync(join(tmpdir(), "gradswarm-op-"));
  const operatorFile = join(dirForFiles, "operator.jwt");
  writeFileSync(operatorFile, operatorJwt);
  const credsFile = join(dirForFiles, "user.creds");
  writeFileSync(credsFile, fmtCreds(userJwt, user));
  const s = await startWithConfig(`operator: ${q(operatorFile)}\nresolver: MEMORY\nsystem_account: ${system.getPublicKey()}\nresolver_preload: {\n  ${system.getPublicKey()}: ${q(systemJwt)}\n  ${account.getPublicKey()}: ${q(accountJwt)}\n}\n`);
  return {
    ...s,
    credsFile,
    userSeed: new TextDecoder().decode(user.getSeed()),
    userJwt,
    async stop() {
      await s.stop();
      rmSync(dirForFiles, { recursive: true, force: true });
    },
  };
}

/** A user NKey pair: the seed (SU...) for the client's file, the public key (U...) for the server's config. */
export function userNkey(): { seed: string; publicKey: string } {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}
