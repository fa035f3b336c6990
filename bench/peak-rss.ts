// Peak resident memory of the processes a bench runs, in bytes. Two sources: VmHWM in
// /proc/PID/status, polled while the process lives (a zombie's status has no VmHWM line:
// a poll that lands between exit and reaping reads nothing), and, for a child started by
// runWithPeakRss, the ru_maxrss it reports itself at exit (bench/max-rss-on-exit.mjs). A
// reading that is missing or not a finite positive number is no reading: it never wins the
// maximum (Math.max(x, NaN) is NaN, and one such poll once printed "peak RSS NaN MB").

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";

/** VmHWM of a /proc/PID/status text, in bytes; undefined where it has none (a zombie). */
export function vmHwmBytes(status: string): number | undefined {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** VmHWM of a live process; undefined once it has exited or where /proc is absent. */
export function readVmHwm(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return vmHwmBytes(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The child's own report (bench/max-rss-on-exit.mjs), in bytes; undefined if it wrote none. */
export function maxRssReportBytes(text: string): number | undefined {
  const m = /^max_rss_kb (\d+)$/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

export class PeakNotMeasured extends Error {
  override name = "PeakNotMeasured";
}

/** The largest of the readings that are readings: finite and positive. */
export class PeakTracker {
  private max = 0;
  private count = 0;

  constructor(private readonly what: string) {}

  observe(bytes: number | undefined | null): void {
    if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes <= 0) return;
    this.count++;
    if (bytes > this.max) this.max = bytes;
  }

  /** The peak in bytes; PeakNotMeasured when no reading came. */
  get bytes(): number {
    if (this.count === 0) throw new PeakNotMeasured(`${this.what}: peak RSS not measured (no reading from /proc or from the process itself)`);
    return this.max;
  }
}

const REPORTER = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "max-rss-on-exit.mjs")).href;

/**
 * Runs `node ARGV` to its end; its peak RSS is the larger of VmHWM polled while it lives and
 * the ru_maxrss it reports at exit. stdout is ignored, stderr inherited.
 */
export function runWithPeakRss(argv: readonly string[], pollMs = 100): Promise<{ code: number | null; peak: PeakTracker }> {
  const child = spawn(process.execPath, ["--import", REPORTER, ...argv], { stdio: ["ignore", "ignore", "inherit", "pipe"] });
  const peak = new PeakTracker(`node ${argv[0] ?? ""}`);
  const timer = setInterval(() => peak.observe(readVmHwm(child.pid)), pollMs);
  let report = "";
  (child.stdio[3] as Readable).setEncoding("utf8").on("data", (d: string) => (report += d));
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      clearInterval(timer);
      reject(err);
    });
    // "close", not "exit": the report on fd 3 is read to its end by then.
    child.once("close", (code) => {
      clearInterval(timer);
      peak.observe(maxRssReportBytes(report));
      resolve({ code, peak });
    });
  });
}
