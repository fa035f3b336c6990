// The progress line on stderr while work completes: rewritten in place on a terminal,
// a plain line every few seconds otherwise (logs, CI). One phase at a time ("pairs",
// "twin-a2/landscape-filter points").

const PLAIN_EVERY_MS = 5000;

export class ProgressLine {
  private started = Date.now();
  private lastPlain = 0;
  private shown = false;
  private label = "pairs";
  private unit = "pairs";
  private total = 0;
  /** Units done before this process started (a resumed run); they do not count in the rate. */
  private already = 0;
  private finishedSaid = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Starts counting a phase: its label ("pairs", "theta/curvature items"), and its size. */
  begin(label: string, unit: string, total: number, already = 0): void {
    this.end();
    this.label = label;
    this.unit = unit;
    this.total = total;
    this.already = already;
    this.started = Date.now();
    this.lastPlain = 0;
    this.finishedSaid = false;
  }

  update(done: number, workers: number): void {
    if (this.total === 0) return;
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? (done - this.already) / elapsed : 0;
    const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : null;
    const text =
      `${this.label} ${done}/${this.total} (${Math.floor((100 * done) / this.total)}%) · ${workers} worker${workers === 1 ? "" : "s"} · ` +
      `${rate.toFixed(1)} ${this.unit}/s${eta !== null && done < this.total ? ` · eta ${eta}s` : ""}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (Date.now() - this.lastPlain >= PLAIN_EVERY_MS || (done === this.total && !this.finishedSaid)) {
      this.lastPlain = Date.now();
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
