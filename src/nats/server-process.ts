// Starts a nats-server process with JetStream on a free port and a temporary store: the
// embedded default of `coordinator run`, and the test helper's server.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { terminate } from "../util/child-process.js";

export class NatsServerError extends Error {
  override name = "NatsServerError";
}

export const NATS_INSTALL_HINT =
  "nats-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y nats-server`; " +
  "others: https://docs.nats.io/running-a-nats-service/introduction/installation), " +
  "set GRADSWARM_NATS_SERVER to its path, or give a running server with --nats URL.";

/**
 * The nats-server binary: `binary` when given (and nothing else; the CLI takes it from
 * GRADSWARM_NATS_SERVER), else PATH, then the sbin folders Debian's package installs to
 * (not on a normal user's PATH).
 */
export function findNatsServer(binary?: string): string | null {
  const candidates: (string | undefined)[] = [binary];
  const dirs = binary ? [] : [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const d of dirs) if (d) candidates.push(join(d, "nats-server"));
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return null;
}

export interface NatsServerOptions {
  /** A fixed port (to restart a server on the same port); default: a free one. */
  port?: number;
  /** JetStream store folder; default: a new temporary folder, removed on stop. */
  storeDir?: string;
  /** Extra command-line arguments (e.g. a cluster config). */
  args?: string[];
  startTimeoutMs?: number;
  /**
   * Stop the server (and remove its temporary store) when this process dies, even by
   * SIGKILL: the embedded default must not leave an orphaned server behind.
   */
  exitWithParent?: boolean;
  /** The nats-server binary to run instead of the one found on PATH. */
  binary?: string;
}

/**
 * A POSIX sh wrapper that runs the server and kills it when its stdin (a pipe from us)
 * closes, i.e. when we are gone, however we died. Background jobs of a non-interactive
 * shell read /dev/null, hence the copy of stdin on fd 3.
 */
const PARENT_WATCH_SCRIPT = [
  // $1: a folder to remove once the server is gone (or ""), then the server's command line.
  'w=$1; shift',
  'exec 3<&0',
  '"$@" </dev/null & p=$!',
  'trap \'kill -TERM $p 2>/dev/null\' TERM INT',
  '( cat <&3 >/dev/null; kill -TERM $p 2>/dev/null ) &',
  'wait $p; s=$?',
  // a trapped signal interrupts `wait`: wait again for the server's own exit
  '[ $s -gt 128 ] && { wait $p; s=$?; }',
  '[ -n "$w" ] && rm -rf "$w"',
  'exit $s',
].join("\n");

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes the folders it made. */
  stop(): Promise<void>;
  /** SIGKILL, keeping the store (to restart on the same port and store). */
  kill(): Promise<void>;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServer(options.binary);
  if (!bin) throw new NatsServerError(NATS_INSTALL_HINT);
  const work = mkdtempSync(join(tmpdir(), "gradswarm-nats-"));
  const storeDir = options.storeDir ?? join(work, "jetstream");
  const args = ["-a", "127.0.0.1", "-p", String(options.port ?? -1), "-js", "-sd", storeDir, "--ports_file_dir", work, ...(options.args ?? [])];
  const child = options.exitWithParent
    ? spawn("sh", ["-c", PARENT_WATCH_SCRIPT, "gradswarm-nats-watch", options.storeDir ? "" : work, bin, ...args], { stdio: ["pipe", "ignore", "pipe"] })
    : spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  let url: string | null = null;
  while (!url) {
    if (child.exitCode !== null) {
      cleanup();
      throw new NatsServerError(`nats-server exited with code ${child.exitCode}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      cleanup();
      throw new NatsServerError(`nats-server did not report its port within ${options.startTimeoutMs ?? 10_000} ms`);
    }
    let file: string | undefined;
    try {
      file = readdirSync(work).find((f) => f.endsWith(".ports"));
    } catch {
      // The wrapper removes the folder when the server dies: the exit check above reports it.
    }
    if (file) {
      try {
        const ports = JSON.parse(readFileSync(join(work, file), "utf8")) as { nats?: string[] };
        url = ports.nats?.[0] ?? null;
      } catch {
        // written but not complete yet
      }
    }
    if (!url) await new Promise((r) => setTimeout(r, 20));
  }
  const port = Number(new URL(url).port);
  // Drain stderr so the pipe never fills and blocks the server.
  child.stderr!.resume();
  return {
    url,
    port,
    storeDir,
    process: child,
    async stop() {
      await terminate(child, 5000);
      cleanup();
    },
    async kill() {
      await terminate(child, 5000, "SIGKILL");
    },
  };
}
