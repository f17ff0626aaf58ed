// One process-wide timer that drives every paced loop (each call's send loop, each simulated
// model response). A thousand calls cost one timer, not a thousand, and the timer only runs while
// something is subscribed; its ticks keep to one fixed grid, so they do not drift.

export interface Tickable {
  /**
   * Called every tick with performance.now(), and `at`, the grid point the tick stands for (within
   * a millisecond of now, unless the tick is late): a paced loop that decides by `at` decides the
   * same way whichever side of the point the timer fired. Return false to unsubscribe.
   */
  tick(now: number, at: number): boolean;
}

export const TICK_MS = 10;

/** Where the ticker reads the time and sets its timer: performance.now() and setTimeout, or a test's own. */
export interface TickerClock {
  now(): number;
  after(ms: number, run: () => void): unknown;
  cancel(timer: unknown): void;
}

const REAL_CLOCK: TickerClock = {
  now: () => performance.now(),
  after: (ms, run) => setTimeout(run, ms),
  cancel: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export class SharedTicker {
  private readonly subscribers = new Set<Tickable>();
  private timer: unknown = null;
  /** Inside run(): it schedules the next tick itself, once it knows whether anyone is left. */
  private running = false;
  /** When the next tick is due (the clock's ms). */
  private nextAt = 0;
  /**
   * Every tick falls on origin + k × interval, across stops and starts too: a paced send loop that
   * leaves the ticker while its queue is empty (the model streaming at real time) must find the
   * ticks where they were, or each return would shift its sends by up to a tick (heard as jitter).
   */
  private readonly origin: number;

  constructor(
    private readonly intervalMs = TICK_MS,
    private readonly clock: TickerClock = REAL_CLOCK,
  ) {
    this.origin = clock.now();
  }

  subscribe(subscriber: Tickable): void {
    this.subscribers.add(subscriber);
    if (this.timer === null && !this.running) {
      const now = this.clock.now();
      this.nextAt = this.origin + (Math.floor((now - this.origin) / this.intervalMs) + 1) * this.intervalMs;
      this.timer = this.clock.after(this.nextAt - now, () => this.run());
    }
  }

  unsubscribe(subscriber: Tickable): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) this.stop();
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** The clock the ticks are read from, for a subscriber that acts between ticks. */
  now(): number {
    return this.clock.now();
  }

  private run(): void {
    this.timer = null;
    this.running = true;
    const now = this.clock.now();
    // The point this tick was set for, or, past a whole interval late, the last point passed.
    const at = now - this.nextAt >= this.intervalMs ? this.origin + Math.floor((now - this.origin) / this.intervalMs) * this.intervalMs : this.nextAt;
    try {
      for (const subscriber of this.subscribers) {
        let keep: boolean;
        try {
          keep = subscriber.tick(now, at);
        } catch {
          // A subscriber owns its own error handling; one that throws anyway is dropped, never the rest.
          keep = false;
        }
        if (!keep) this.subscribers.delete(subscriber);
      }
    } finally {
      this.running = false;
    }
    if (this.subscribers.size === 0) return;
    // setInterval would start each wait when the late tick ran, so its ticks drift against the
    // audio clock and a paced send slips a whole tick now and then (heard as jitter). Here a late
    // tick shortens the next wait, and one later than a whole interval skips to the next point.
    const after = this.clock.now();
    this.nextAt += this.intervalMs;
    if (this.nextAt <= after) this.nextAt += (Math.floor((after - this.nextAt) / this.intervalMs) + 1) * this.intervalMs;
    this.timer = this.clock.after(this.nextAt - after, () => this.run());
  }

  private stop(): void {
    if (this.timer !== null) {
      this.clock.cancel(this.timer);
      this.timer = null;
    }
  }
}
