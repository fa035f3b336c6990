// Peak RSS of a bench's processes (bench/peak-rss.ts): a missing or non-finite reading never
// wins the maximum (bench/large-model.ts once printed "coordinator peak RSS NaN MB": a poll
// of /proc/PID/status landed on the exited process, which has no VmHWM), no reading at all
// is an explicit "not measured", and a child's own report at exit gives its peak even when
// no poll came while it lived.

import { describe, expect, it } from "vitest";
import { maxRssReportBytes, PeakNotMeasured, PeakTracker, runWithPeakRss, vmHwmBytes } from "../../bench/peak-rss.js";

const LIVE_STATUS = "Name:\tnode\nState:\tS (sleeping)\nVmPeak:\t 1234567 kB\nVmHWM:\t   98765 kB\nVmRSS:\t   91234 kB\nThreads:\t11\n";
/** What /proc/PID/status says between a process's exit and its reaping. */
const ZOMBIE_STATUS = "Name:\tnode\nUmask:\t0022\nState:\tZ (zombie)\nTgid:\t4242\nPid:\t4242\nThreads:\t1\n";

describe("readings", () => {
  it("VmHWM of a live process's status, in bytes; none for a zombie's", () => {
    expect(vmHwmBytes(LIVE_STATUS)).toBe(98765 * 1024);
    expect(vmHwmBytes(ZOMBIE_STATUS)).toBeUndefined();
  });

  it("the child's own report, in bytes; none when it wrote none", () => {
    expect(maxRssReportBytes("max_rss_kb 51200\n")).toBe(51200 * 1024);
    expect(maxRssReportBytes("")).toBeUndefined();
    expect(maxRssReportBytes("max_rss_kb \n")).toBeUndefined();
  });
});

describe("PeakTracker", () => {
  it("a missing or non-finite reading never wins, wherever it comes", () => {
    const peak = new PeakTracker("coordinator");
    for (const r of [NaN, 3e8, undefined, vmHwmBytes(ZOMBIE_STATUS), 5e8, NaN, null, Infinity, -1, 0, 4e8, NaN]) peak.observe(r);
    expect(peak.bytes).toBe(5e8);
  });

  it("the last poll landing on the exited process leaves the peak as it was", () => {
    const peak = new PeakTracker("coordinator");
    peak.observe(vmHwmBytes(LIVE_STATUS));
    peak.observe(vmHwmBytes(ZOMBIE_STATUS));
    expect(peak.bytes).toBe(98765 * 1024);
  });

  it("no reading at all: an explicit 'not measured', not 0 or NaN", () => {
    const peak = new PeakTracker("large-100m coordinator");
    for (const r of [NaN, undefined, null]) peak.observe(r);
    expect(() => peak.bytes).toThrow(PeakNotMeasured);
    expect(() => peak.bytes).toThrow(/large-100m coordinator: peak RSS not measured/);
  });
});

describe("runWithPeakRss", () => {
  // 64 MiB written (so resident), then exit: far quicker than the poll below ever fires.
  const ALLOCATE = ["-e", "const b = Buffer.alloc(64 * 2 ** 20, 1); if (b[b.length - 1] !== 1) process.exit(3);"];

  it("a child's peak comes from its own report at exit when no poll saw it alive", async () => {
    const { code, peak } = await runWithPeakRss(ALLOCATE, 3_600_000);
    expect(code).toBe(0);
    expect(Number.isFinite(peak.bytes)).toBe(true);
    expect(peak.bytes).toBeGreaterThanOrEqual(64 * 2 ** 20);
  });

  it("with polls as well: still finite, still at least what the child touched", async () => {
    const { code, peak } = await runWithPeakRss(["-e", `${ALLOCATE[1]} setTimeout(() => {}, 300);`], 10);
    expect(code).toBe(0);
    expect(peak.bytes).toBeGreaterThanOrEqual(64 * 2 ** 20);
  });
});
