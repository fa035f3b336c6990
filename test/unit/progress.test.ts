// The progress line's rate and ETA, on an injected clock: they count from the first
// completed unit (not the seconds of startup before it), follow the last RATE_WINDOW_MS,
// and leave out units recovered by --resume.
import { describe, expect, it } from "vitest";
import { ProgressLine, RATE_WINDOW_MS } from "../../src/coordinator/report/progress.js";

function line(tty = false) {
  let t = 0;
  const out: string[] = [];
  const stream = { isTTY: tty, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
  const p = new ProgressLine(stream, () => t);
  return { p, out, at: (ms: number) => (t = ms), last: () => out.at(-1)!.replace(/^\r\x1b\[2K/, "").trim() };
}

describe("ProgressLine", () => {
  it("an ETA from the rate since the first completion, not since the phase began", () => {
    const { p, at, last } = line(true);
    p.begin("pairs", "pairs", 100);
    at(0);
    p.update(0, 2);
    expect(last()).toBe("pairs 0/100 (0%) · 2 workers · 0.0 pairs/s");
    at(10_000); // ten seconds of startup, then the first task's 10 pairs
    p.update(10, 2);
    expect(last()).not.toMatch(/eta/);
    at(12_000);
    p.update(30, 2);
    // 20 pairs in 2 s: 10/s, 70 left → 7 s. (An average since the start, 30/12 s, said 28 s.)
    expect(last()).toBe("pairs 30/100 (30%) · 2 workers · 10.0 pairs/s · eta 7s");
  });

  it("follows the last RATE_WINDOW_MS when the pace changes", () => {
    const { p, at, last } = line(true);
    p.begin("pairs", "pairs", 10_000);
    let done = 0;
    // 60 s at 10 pairs/s, then a worker joins: 30 pairs/s.
    for (let t = 0; t <= 60_000; t += 1000) {
      at(t);
      p.update((done = t / 100), 1);
    }
    for (let t = 61_000; t <= 61_000 + RATE_WINDOW_MS + 2000; t += 1000) {
      at(t);
      p.update((done += 30), 2);
    }
    const rate = Number(/· ([\d.]+) pairs\/s/.exec(last())![1]);
    expect(rate).toBeGreaterThan(29);
    expect(rate).toBeLessThanOrEqual(30);
  });

  it("units recovered by --resume count in the progress but not in the rate", () => {
    const { p, at, last } = line(true);
    p.begin("pairs", "pairs", 100, 60);
    at(0);
    p.update(60, 1);
    expect(last()).toMatch(/^pairs 60\/100 \(60%\) · 1 worker · 0\.0 pairs\/s$/);
    at(5000);
    p.update(70, 1);
    at(7000);
    p.update(80, 1);
    expect(last()).toBe("pairs 80/100 (80%) · 1 worker · 5.0 pairs/s · eta 4s");
  });

  it("not a terminal: a plain line every 5 s and one at the end", () => {
    const { p, out, at } = line(false);
    p.begin("pairs", "pairs", 10);
    for (let t = 0; t <= 9000; t += 1000) {
      at(t);
      p.update(t / 1000, 1);
    }
    expect(out).toHaveLength(2); // at 0 s and 5 s
    at(9500);
    p.update(10, 1);
    expect(out).toHaveLength(3);
    expect(out[2]).toMatch(/^pairs 10\/10 \(100%\)/);
    expect(out.every((s) => s.endsWith("\n") && !s.includes("\r"))).toBe(true);
  });
});
