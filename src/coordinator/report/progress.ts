// The progress line on stderr while work completes: rewritten in place on a terminal,
// a plain line every few seconds otherwise (logs, CI). One phase at a time ("pairs",
// "twin-a2/landscape-filter points").
//
// The rate, and the ETA from it, count from the phase's first completed unit, over the
// last RATE_WINDOW_MS: the seconds before it (blob fetches, backends starting, a worker
// still joining) would otherwise make the first ETAs far too long, and an average since
// the start would follow a change in the number of workers only slowly.

const PLAIN_EVERY_MS = 5000;
export const RATE_WINDOW_MS = 30_000;
/** No ETA before the first completions span this long: one task's worth says little. */
const ETA_AFTER_MS = 1000;

export class ProgressLine {
  private lastPlain = -Infinity;
  /** (time, units done) at each change since the first completion, within the rate window. */
  private samples: [number, number][] = [];
  private shown = false;
  private label = "pairs";
  private unit = "pairs";
  private total = 0;
  /** Units done before this process started (a resumed run); they do not count in the rate. */
  private already = 0;
  private finishedSaid = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts counting a phase: its label ("pairs", "theta/curvature items"), and its size. */
  begin(label: string, unit: string, total: number, already = 0): void {
    this.end();
    this.label = label;
    this.unit = unit;
    this.total = total;
    this.already = already;
    this.samples = [];
    this.lastPlain = -Infinity;
    this.finishedSaid = false;
  }

  /** Units per second over the window, and seconds left (null until there is a rate to trust). */
  private rate(done: number, t: number): { rate: number; eta: number | null } {
    const last = this.samples.at(-1);
    if (done > this.already && (!last || last[1] !== done)) this.samples.push([t, done]);
    while (this.samples.length > 2 && t - this.samples[1]![0] >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    if (!first || this.samples.length < 2) return { rate: 0, eta: null };
    const span = (t - first[0]) / 1000;
    const rate = span > 0 ? (done - first[1]) / span : 0;
    const eta = rate > 0 && (this.samples.at(-1)![0] - first[0]) >= ETA_AFTER_MS ? Math.ceil((this.total - done) / rate) : null;
    return { rate, eta };
  }

  update(done: number, workers: number): void {
    if (this.total === 0) return;
    const { rate, eta } = this.rate(done, this.now());
    const text =
      `${this.label} ${done}/${this.total} (${Math.floor((100 * done) / this.total)}%) · ${workers} worker${workers === 1 ? "" : "s"} · ` +
      `${rate.toFixed(1)} ${this.unit}/s${eta !== null && done < this.total ? ` · eta ${eta}s` : ""}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (this.now() - this.lastPlain >= PLAIN_EVERY_MS || (done === this.total && !this.finishedSaid)) {
      this.lastPlain = this.now();
      this.finishedSaid = done === this.total;
      this.stream.write(`${text}\n`);
    }
  }

  /** Ends the in-place line so that other output starts on a fresh line. */
  end(): void {
    if (this.shown && this.stream.isTTY) this.stream.write("\n");
    this.shown = false;
  }

  /** Writes a log line without garbling the progress line. */
  log(line: string): void {
    if (this.shown && this.stream.isTTY) this.stream.write("\r\x1b[2K");
    this.stream.write(`${line}\n`);
  }
}
