// Worker processes for integration tests: the compiled CLI, exactly as users run it.

import { spawn, type ChildProcess } from "node:child_process";
import { decodeWorkerHeartbeat } from "../../src/protocol/index.js";
import { terminate } from "../../src/util/child-process.js";
import { distFile } from "../../src/util/package-root.js";

export interface TestWorker {
  id: string;
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * One compute thread unless `extra` says otherwise (a later option wins): tests run many
 * workers at once on few cores, and each thread is a TensorFlow.js of its own.
 */
export function spawnWorker(natsUrl: string, prefix: string, id: string, extra: string[] = []): TestWorker {
  const child = spawn(process.execPath, [distFile("worker/cli.js"), "--nats", natsUrl, "--prefix", prefix, "--id", id, "--backend", "wasm", "--compute-threads", "1", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { id, process: child, output: () => out, exited };
}

export async function stopWorkers(workers: TestWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => terminate(w.process, 5000)));
}

/** Resolves once every listed worker has sent a heartbeat (it has a backend and is pulling). */
export function waitForHeartbeats(nc: import("@nats-io/transport-node").NatsConnection, subject: string, ids: string[], timeoutMs = 30_000): Promise<void> {
  const waiting = new Set(ids);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`no heartbeat from ${[...waiting].join(", ")} within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = nc.subscribe(subject, {
      callback: (_err, msg) => {
        try {
          waiting.delete(decodeWorkerHeartbeat(msg.data).workerId);
        } catch {
          return;
        }
        if (waiting.size === 0) {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
}
