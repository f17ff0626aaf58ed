// The network between Twilio and the server, as the fake Twilio models it: a deterministic PRNG
// per call (the same seed gives the same call), the one-way delay a mark echo takes back to the
// server, and a bad line (BadLine): latency and jitter on every message both ways, and caller
// audio lost before Twilio ever had it. Loopback has no latency at all, and a barge-in judged on
// a zero-latency line is judged on a line no caller has. Each use draws from its own PRNG
// stream, so the caller's media schedule does not depend on how many marks the server sent.
import { seededRandom } from '../random.js';

/** A fixed one-way delay, or one drawn uniformly from [minMs, maxMs] per message. */
export type NetworkDelay = { fixedMs: number } | { minMs: number; maxMs: number };

/** Twilio's edge to a server in the same region: a realistic 20–40 ms one way. */
export const DEFAULT_NETWORK_DELAY: NetworkDelay = { minMs: 20, maxMs: 40 };

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

/**
 * A bad line, as `--latency-ms`, `--jitter-ms` and `--packet-loss` set it. Latency and jitter
 * delay every message both ways (Twilio to the server and back), in order as on one TCP
 * connection: jitter bunches frames up, it never reorders them. Loss is caller audio Twilio never
 * received (lost between the phone and Twilio): the frame is never sent, takes no sequence
 * number, and the next frame's timestamp shows the gap; the WebSocket itself never loses one.
 */
export interface BadLine {
  /** One-way latency added to every message, ms. */
  latencyMs: number;
  /** Each message gets up to this much more, uniform per message, ms. */
  jitterMs: number;
  /** Share of caller audio frames lost before Twilio (0 ≤ p < 1), independently per frame. */
  packetLoss: number;
}

export const CLEAN_LINE: BadLine = { latencyMs: 0, jitterMs: 0, packetLoss: 0 };

export function validateBadLine(line: BadLine): void {
  for (const [name, value] of [['latencyMs', line.latencyMs], ['jitterMs', line.jitterMs]] as const) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number of ms >= 0 (got ${value})`);
  }
  if (!Number.isFinite(line.packetLoss) || line.packetLoss < 0 || line.packetLoss >= 1) throw new RangeError(`packet loss must be a rate from 0 up to (not including) 1 (got ${line.packetLoss})`);
}

export function isCleanLine(line: BadLine): boolean {
  return line.latencyMs === 0 && line.jitterMs === 0 && line.packetLoss === 0;
}

export function describeBadLine(line: BadLine): string {
  if (isCleanLine(line)) return 'clean';
  const parts = [`latency ${line.latencyMs} ms`, `jitter ${line.jitterMs} ms`];
  if (line.packetLoss > 0) parts.push(`loss ${Math.round(line.packetLoss * 10_000) / 100} %`);
  return parts.join(', ');
}

/** Something that says how long the next message takes one way. */
export interface OneWayDelay {
  oneWayMs(): number;
}

/** The PRNG streams of a call, each its own so one use's draws never shift another's. */
const STREAM_SALT = { uplink: 0x9e3779b9, downlink: 0x85ebca6b, loss: 0xc2b2ae35 } as const;

/** One call's network: every draw comes from its own seeded PRNG, in the order the call makes them. */
export class CallNetwork implements OneWayDelay {
  private readonly random: () => number;
  /** Caller → server: the bad line's delay of each message. */
  readonly uplink: OneWayDelay;
  /** Server → caller: the same, its own stream. */
  readonly downlink: OneWayDelay;
  private readonly lossRandom: () => number;

  constructor(
    readonly delay: NetworkDelay,
    readonly seed: number,
    readonly line: BadLine = CLEAN_LINE,
  ) {
    validateNetworkDelay(delay);
    validateBadLine(line);
    // The mark-echo stream is the seed itself, as it always was: the same seed echoes as before.
    this.random = seededRandom(seed);
    this.uplink = lineDelay(line, seededRandom((seed ^ STREAM_SALT.uplink) >>> 0));
    this.downlink = lineDelay(line, seededRandom((seed ^ STREAM_SALT.downlink) >>> 0));
    this.lossRandom = seededRandom((seed ^ STREAM_SALT.loss) >>> 0);
  }

  /** The one-way delay of the next mark echo on this call, in ms. */
  oneWayMs(): number {
    if ('fixedMs' in this.delay) return this.delay.fixedMs;
    return this.delay.minMs + this.random() * (this.delay.maxMs - this.delay.minMs);
  }

  /** Whether the next caller frame is lost before Twilio (one draw per frame, in order). */
  loses(): boolean {
    return this.line.packetLoss > 0 && this.lossRandom() < this.line.packetLoss;
  }

  get clean(): boolean {
    return isCleanLine(this.line);
  }
}

function lineDelay(line: BadLine, random: () => number): OneWayDelay {
  return { oneWayMs: () => line.latencyMs + (line.jitterMs > 0 ? random() * line.jitterMs : 0) };
}

/**
 * Messages on one direction of the line that each take their own delay but arrive in the order
 * they were sent, as on one TCP connection: a message never overtakes the one before it. One
 * queue and one timer, not a timer per message (timers of different lengths may fire out of order).
 */
export class DelayedSender {
  private readonly queue: Array<{ dueAt: number; deliver: () => void }> = [];
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** Delivery instant of the last message sent (it bounds the next one's). */
  private lastDueAt = -Infinity;

  constructor(
    private readonly network: OneWayDelay,
    private readonly now: () => number,
  ) {}

  /**
   * Runs `deliver` one network delay after `scheduledAt` (default: now), never before an earlier
   * message's delivery. Returns the delivery instant it was scheduled for (null once stopped).
   */
  send(deliver: () => void, scheduledAt?: number): number | null {
    if (this.stopped) return null;
    const now = this.now();
    const dueAt = Math.max(this.lastDueAt, (scheduledAt ?? now) + this.network.oneWayMs());
    this.lastDueAt = dueAt;
    this.queue.push({ dueAt, deliver });
    this.schedule(now);
    return dueAt;
  }

  /** Resolves once nothing is on the wire (at once if nothing is). */
  drained(): Promise<void> {
    if (this.queue.length === 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Delivers everything queued now, in order (the caller hangs up and Twilio sends what it has). */
  flushNow(): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (!this.stopped && this.queue.length > 0) this.queue.shift()!.deliver();
    this.wake();
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
    const lost = this.queue.splice(0).length;
    this.wake();
    return lost;
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
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
    if (this.queue.length === 0) this.wake();
    if (!this.stopped) this.schedule(now);
  }
}
