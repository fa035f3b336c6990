// A count per second over a trailing window (the worker's gradients/s over its last
// minute, in its announce). Pure, with an injected clock.

export const RATE_WINDOW_MS = 60_000;

export class RateWindow {
  private readonly events: { at: number; n: number }[] = [];
  private readonly started: number;

  constructor(
    private readonly windowMs: number = RATE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  add(n: number): void {
    this.events.push({ at: this.now(), n });
    this.trim();
  }

  /**
   * Events per second over the window; a worker younger than the window is measured
   * over its life so far, so that a fresh worker does not read as slow.
   */
  perSecond(): number {
    this.trim();
    const span = Math.min(this.windowMs, this.now() - this.started);
    if (span <= 0) return 0;
    let sum = 0;
    for (const e of this.events) sum += e.n;
    return sum / (span / 1000);
  }

  private trim(): void {
    const from = this.now() - this.windowMs;
    while (this.events.length > 0 && this.events[0]!.at <= from) this.events.shift();
  }
}
