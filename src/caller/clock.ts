// Frame pacing for the fake caller. Every frame's due time is computed from the start instant
// (start + n × frame / speed) against performance.now(), so a late timer never pushes the rest
// of the call late: the next wait is simply shorter. Accumulated setTimeout delays would drift.
import { performance } from 'node:perf_hooks';
import { FRAME_MS } from '../audio/format.js';

export type CallTiming = { mode: 'realtime'; speed: number } | { mode: 'burst' };

export const REALTIME: CallTiming = { mode: 'realtime', speed: 1 };

/** In burst mode, hand the event loop a turn this often so inbound messages still get read. */
const BURST_YIELD_EVERY_FRAMES = 16;

export function validateTiming(timing: CallTiming): void {
  if (timing.mode === 'realtime' && !(Number.isFinite(timing.speed) && timing.speed > 0)) {
    throw new RangeError(`speed must be a finite number > 0 (got ${timing.speed})`);
  }
}

/** Resolves after `ms` (or at once if `ms` <= 0); an abort resolves it early instead of rejecting. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One turn of the event loop, after pending I/O callbacks (socket reads) have run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FrameClock {
  private startedAt: number | null = null;

  constructor(
    readonly timing: CallTiming,
    readonly frameMs: number = FRAME_MS,
  ) {
    validateTiming(timing);
  }

  /** Wall-clock ms one frame of audio takes at this clock's speed (0 in burst mode). */
  get wallMsPerFrame(): number {
    return this.timing.mode === 'burst' ? 0 : this.frameMs / this.timing.speed;
  }

  /** Anchor frame 0 at `at` (default: now). */
  start(at: number = performance.now()): void {
    this.startedAt = at;
  }

  get started(): boolean {
    return this.startedAt !== null;
  }

  /** performance.now() instant frame `n` (0-based) is due; burst frames are always due. */
  dueAt(n: number): number {
    const start = this.requireStart();
    return start + n * this.wallMsPerFrame;
  }

  /**
   * Wait until frame `n` is due. Real-time: sleep until start + n × frame / speed.
   * Burst: return at once, except every few frames yield so the socket's inbound side is read.
   */
  async waitForFrame(n: number, signal?: AbortSignal): Promise<void> {
    this.requireStart();
    if (this.timing.mode === 'burst') {
      if (n > 0 && n % BURST_YIELD_EVERY_FRAMES === 0) await yieldToEventLoop();
      return;
    }
    const delay = this.dueAt(n) - performance.now();
    if (delay > 0) await sleep(delay, signal);
    // setTimeout may fire a fraction of a millisecond early; never send a frame before it is due.
    while (!signal?.aborted && performance.now() < this.dueAt(n)) await yieldToEventLoop();
  }

  private requireStart(): number {
    if (this.startedAt === null) throw new Error('FrameClock.start() has not been called');
    return this.startedAt;
  }
}
