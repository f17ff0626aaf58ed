// The network between Twilio and the server, as the fake Twilio models it: a deterministic PRNG
// per call (the same seed gives the same call) and the one-way delay a mark echo takes back to
// the server. Loopback has no latency at all, and a barge-in truncation judged on a zero-latency
// line is judged on a line no caller has. One module so jitter and loss (issue 14) extend it.

/** A fixed one-way delay, or one drawn uniformly from [minMs, maxMs] per message. */
export type NetworkDelay = { fixedMs: number } | { minMs: number; maxMs: number };

/** Twilio's edge to a server in the same region: a realistic 20–40 ms one way. */
export const DEFAULT_NETWORK_DELAY: NetworkDelay = { minMs: 20, maxMs: 40 };

/** mulberry32: small, fast and good enough for simulated networks (not for secrets). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from a string (a callSid): FNV-1a. */
export function seedFrom(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export function validateNetworkDelay(delay: NetworkDelay): void {
  const values = 'fixedMs' in delay ? [delay.fixedMs] : [delay.minMs, delay.maxMs];
  for (const value of values) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`network delay must be a finite number of ms >= 0 (got ${value})`);
  }
  if ('minMs' in delay && delay.minMs > delay.maxMs) throw new RangeError(`network delay range ${delay.minMs}–${delay.maxMs} ms is empty`);
}

export function describeNetworkDelay(delay: NetworkDelay): string {
  return 'fixedMs' in delay ? `${delay.fixedMs} ms` : `${delay.minMs}–${delay.maxMs} ms`;
}

/** One call's network: every draw comes from its own seeded PRNG, in the order the call makes them. */
export class CallNetwork {
  private readonly random: () => number;

  constructor(
    readonly delay: NetworkDelay,
    readonly seed: number,
  ) {
    validateNetworkDelay(delay);
    this.random = seededRandom(seed);
  }

  /** The one-way delay of the next message on this call, in ms. */
  oneWayMs(): number {
    if ('fixedMs' in this.delay) return this.delay.fixedMs;
    return this.delay.minMs + this.random() * (this.delay.maxMs - this.delay.minMs);
  }
}

/**
 * Messages to the server that each leave after their own delay but arrive in the order they were
 * sent, as on one TCP connection: a message never overtakes the one before it. One queue and one
 * timer, not a timer per message (timers of different lengths may fire out of order).
 */
export class DelayedSender {
  private readonly queue: Array<{ dueAt: number; deliver: () => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly network: CallNetwork,
    private readonly now: () => number,
  ) {}

  /** Runs `deliver` one network delay from now (never before an earlier message's delivery). */
  send(deliver: () => void): void {
    if (this.stopped) return;
    const now = this.now();
    const previous = this.queue.at(-1)?.dueAt ?? now;
    this.queue.push({ dueAt: Math.max(previous, now + this.network.oneWayMs()), deliver });
    this.schedule(now);
  }

  /** Messages still on the wire. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** The line is gone: what is still on the wire never arrives. Returns how many that were. */
  stop(): number {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return this.queue.splice(0).length;
  }

  private schedule(now: number): void {
    const head = this.queue[0];
    if (this.timer !== null || head === undefined) return;
    this.timer = setTimeout(() => this.deliverDue(), Math.max(0, head.dueAt - now));
  }

  private deliverDue(): void {
    this.timer = null;
    const now = this.now();
    while (!this.stopped && this.queue.length > 0 && this.queue[0]!.dueAt <= now) this.queue.shift()!.deliver();
    if (!this.stopped) this.schedule(now);
  }
}
