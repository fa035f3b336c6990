// Stopping the processes we start (nats-server, local workers) the same way everywhere:
// a polite signal, a grace period, then SIGKILL.

import type { ChildProcess } from "node:child_process";

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false after `ms`. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** `signal` (SIGTERM: a worker drains, a server shuts down), then SIGKILL after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (hasExited(child)) return;
  child.kill(signal);
  if (!(await waitForExit(child, graceMs))) {
    child.kill("SIGKILL");
    await waitForExit(child, graceMs);
  }
}
