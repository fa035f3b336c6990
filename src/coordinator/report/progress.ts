// The progress line on stderr while pairs complete: rewritten in place on a terminal,
// a plain line every few seconds otherwise (logs, CI).

const PLAIN_EVERY_MS = 5000;

export class ProgressLine {
  private readonly started = Date.now();
  private lastPlain = 0;
  private shown = false;

  /** Pairs done before this process started (a resumed run); they do not count in the rate. */
  already = 0;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, workers: number): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? (done - this.already) / elapsed : 0;
    const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : null;
    const text = `pairs ${done}/${this.total} (${Math.floor((100 * done) / this.total)}%) · ${workers} worker${workers === 1 ? "" : "s"} · ${rate.toFixed(1)} pairs/s${eta !== null && done < this.total ? ` · eta ${eta}s` : ""}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (Date.now() - this.lastPlain >= PLAIN_EVERY_MS || done === this.total) {
      this.lastPlain = Date.now();
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
