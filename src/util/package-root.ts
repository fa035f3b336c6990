// Where the compiled program lives. Worker processes and the compute thread are started
// from dist/ whether the caller runs compiled (dist/) or from source (tests under vitest).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find gradswarm's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();

/** A compiled file, e.g. distFile("worker/cli.js"). */
export function distFile(relative: string): string {
  const path = join(PACKAGE_ROOT, "dist", relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: build first (npm run build)`);
  return path;
}

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
