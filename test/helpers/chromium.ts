// A headless Chromium for tests that look at what users open in a browser (report.html),
// driven by playwright-core. The browser is the system's (Debian's `chromium`), found on
// PATH; without one the test fails saying how to install it, rather than skipping.

import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser } from "playwright-core";

const NAMES = ["chromium", "chromium-browser"];

export function chromiumOnPath(path = process.env.PATH ?? ""): string {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const name of NAMES) {
      const file = join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here: the next directory
      }
    }
  }
  throw new Error(`no Chromium on PATH (looked for ${NAMES.join(", ")}): the browser tests need one; install it with "apt-get install -y chromium" (scripts/test.sh does so when it is missing)`);
}

export async function launchChromium(): Promise<Browser> {
  // playwright-core's own flags include --no-sandbox unless chromiumSandbox is set: tests run as root in CI.
  return chromium.launch({ executablePath: chromiumOnPath(), headless: true, args: ["--disable-gpu"] });
}
