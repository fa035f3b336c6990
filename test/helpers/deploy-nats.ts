// deploy/nats's server config, run as it is shipped: three nats-server processes on
// loopback, each with a copy of deploy/nats/*.conf in a folder of its own. Only what a test
// must change is changed: the JetStream store folder (the one line `store_dir: /data`), and
// the client, cluster and monitoring ports and the routes, which the command line overrides.
// The role passwords reach the servers the way compose.yaml and the Helm values pass them:
// as the environment variables the config names.

import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer } from "../../src/nats/server-process.js";
import { PACKAGE_ROOT } from "../../src/util/package-root.js";
import { terminate } from "../../src/util/child-process.js";
import { freePort } from "./nats-cluster.js";

export const DEPLOY_NATS_DIR = join(PACKAGE_ROOT, "deploy", "nats");
/** The config every node starts from (it includes permissions.conf beside it). */
export const DEPLOY_NATS_CONFIG = join(DEPLOY_NATS_DIR, "server.conf");

export type Role = "worker" | "coordinator";

/** The environment variable that holds each role's password, as deploy/nats/permissions.conf names it. */
export const ROLE_PASSWORD_VARIABLES: Record<Role, string> = {
  worker: "GRADSWARM_WORKER_PASSWORD",
  coordinator: "GRADSWARM_COORDINATOR_PASSWORD",
};

/** The one line of server.conf a test rewrites: where JetStream keeps its files. */
const STORE_DIR_LINE = /^(\s*store_dir:\s*)\/data\s*$/m;

export interface DeployNode {
  name: string;
  /** nats://127.0.0.1:PORT */
  url: string;
  monitorPort: number;
  process: ChildProcess;
  /** stderr and the server log so far. */
  log: () => string;
}

export interface DeployCluster {
  nodes: DeployNode[];
  passwords: Record<Role, string>;
  stop(): Promise<void>;
}

export interface DeployClusterOptions {
  /**
   * Per node, the user a connection without credentials is taken for (`no_auth_user`,
   * appended to that node's top-level config), or null for none: how a test runs a
   * coordinator or worker under a role before they can be given credentials.
   */
  noAuthUsers?: (Role | null)[];
  readyTimeoutMs?: number;
}

/** The server config with the store folder replaced; throws if the line to replace is gone. */
export function configForTest(storeDir: string): string {
  const text = readFileSync(DEPLOY_NATS_CONFIG, "utf8");
  if (!STORE_DIR_LINE.test(text)) throw new Error(`${DEPLOY_NATS_CONFIG}: no "store_dir: /data" line to point at a test folder`);
  return text.replace(STORE_DIR_LINE, `$1${JSON.stringify(storeDir)}`);
}

/** Copies deploy/nats into `dir` (server.conf with the test's store) and writes node.conf, which includes it. */
export function writeNodeConfig(dir: string, storeDir: string, noAuthUser: Role | null): string {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(DEPLOY_NATS_DIR)) if (f.endsWith(".conf")) copyFileSync(join(DEPLOY_NATS_DIR, f), join(dir, f));
  writeFileSync(join(dir, "server.conf"), configForTest(storeDir));
  // nats-server 2.9 resolves `include` relative to the including file only.
  const node = join(dir, "node.conf");
  writeFileSync(node, `include server.conf\n${noAuthUser ? `no_auth_user: ${noAuthUser}\n` : ""}`);
  return node;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

async function metaLeader(monitorPort: number): Promise<string | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${monitorPort}/jsz`);
    const body = (await r.json()) as { meta_cluster?: { leader?: string } };
    return body.meta_cluster?.leader ?? null;
  } catch {
    return null;
  }
}

/**
 * Starts the three nodes and resolves once every node sees a JetStream meta leader.
 * Passwords are random per cluster.
 */
export async function startDeployCluster(options: DeployClusterOptions = {}): Promise<DeployCluster> {
  const bin = findNatsServer();
  if (!bin) throw new Error("nats-server not found (Debian: apt-get install nats-server)");
  const work = mkdtempSync(join(tmpdir(), "gradswarm-deploy-nats-"));
  const passwords: Record<Role, string> = {
    worker: `w-${Math.random().toString(36).slice(2)}`,
    coordinator: `c-${Math.random().toString(36).slice(2)}`,
  };
  const env = { ...process.env, [ROLE_PASSWORD_VARIABLES.worker]: passwords.worker, [ROLE_PASSWORD_VARIABLES.coordinator]: passwords.coordinator };
  const [c1, c2, c3, p1, p2, p3, m1, m2, m3] = await distinctFreePorts(9);
  const clusterPorts = [c1!, c2!, c3!];
  const clientPorts = [p1!, p2!, p3!];
  const monitorPorts = [m1!, m2!, m3!];
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const nodes: DeployNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => terminate(n.process, 5000)));
    rmSync(work, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const name = `n${i + 1}`;
      const dir = join(work, name);
      const config = writeNodeConfig(dir, join(dir, "store"), options.noAuthUsers?.[i] ?? null);
      const logFile = join(dir, "server.log");
      const args = ["-c", config, "-a", "127.0.0.1", "-p", String(clientPorts[i]), "-m", String(monitorPorts[i]), "--server_name", name, "--cluster", `nats://127.0.0.1:${clusterPorts[i]}`, "--routes", routes, "-l", logFile];
      const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const log = () => {
        let file = "";
        try {
          file = readFileSync(logFile, "utf8");
        } catch {
          // not written yet
        }
        return `${stderr}${file}`;
      };
      nodes.push({ name, url: `nats://127.0.0.1:${clientPorts[i]}`, monitorPort: monitorPorts[i]!, process: child, log });
    }
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (const node of nodes) {
      while (!(await metaLeader(node.monitorPort))) {
        if (node.process.exitCode !== null) throw new Error(`nats-server ${node.name} exited with code ${node.process.exitCode}: ${node.log().trim().split("\n").slice(-3).join(" | ")}`);
        if (Date.now() > deadline) throw new Error(`nats-server ${node.name} has no JetStream meta leader after ${options.readyTimeoutMs ?? 30_000} ms: ${node.log().trim().split("\n").slice(-3).join(" | ")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, passwords, stop };
}
