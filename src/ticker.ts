// One process-wide timer that drives every paced loop (each call's send loop, each simulated
// model response). A thousand calls cost one setInterval, not a thousand, and the timer only
// runs while something is subscribed.

export interface Tickable {
  /** Called every tick with performance.now(); return false to unsubscribe. */
  tick(now: number): boolean;
}

export const TICK_MS = 10;

export class SharedTicker {
  private readonly subscribers = new Set<Tickable>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly intervalMs = TICK_MS) {}

  subscribe(subscriber: Tickable): void {
    this.subscribers.add(subscriber);
    if (this.timer === null) {
      this.timer = setInterval(() => this.run(), this.intervalMs);
    }
  }

  unsubscribe(subscriber: Tickable): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) this.stop();
  }

  get size(): number {
    return this.subscribers.size;
  }

  private run(): void {
    const now = performance.now();
    for (const subscriber of this.subscribers) {
      let keep: boolean;
      try {
        keep = subscriber.tick(now);
      } catch {
        // A subscriber owns its own error handling; one that throws anyway is dropped, never the rest.
        keep = false;
      }
      if (!keep) this.subscribers.delete(subscriber);
    }
    if (this.subscribers.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
