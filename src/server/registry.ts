// The server's calls: the live ones, the snapshots of recently finished ones (only the snapshot
// is kept, never the call and its socket), lookup by callSid, and one idle sweep for all of them.
import type { Logger } from '../log.js';
import type { CallSnapshot } from './call-snapshot.js';
import { CLOSE_CODE } from './close-code.js';

/** A call as the registry sees it. */
export interface RegisteredCall {
  /** Unique within the process: the key of its finished snapshot. */
  readonly serial: number;
  readonly callSid: string | null;
  /** performance.now() of the last frame from Twilio. */
  readonly lastInboundAt: number;
  close(reason: string, code?: number): void;
  snapshot(): CallSnapshot;
}

export interface CallRegistryOptions {
  /** Finished calls kept for GET /calls; the oldest goes first. */
  keepFinished: number;
  /**
   * Close a call when Twilio has sent nothing for this long (it streams media continuously, even
   * silence, so a quiet socket is a dead or half-open peer holding a slot). 0 = never.
   */
  idleTimeoutMs: number;
  logger: Logger;
  /** A call left the live set, with its final snapshot (once per call: the metrics' totals). */
  onRetired?: (snapshot: CallSnapshot) => void;
}

/** The sweep runs a few times per idle timeout, within these bounds. */
const SWEEPS_PER_TIMEOUT = 4;
const MIN_SWEEP_MS = 50;
const MAX_SWEEP_MS = 5000;

export class CallRegistry {
  private readonly live: Set<RegisteredCall>;
  /** By insertion order, keyed by the call's serial. */
  private readonly finished: Map<number, CallSnapshot>;
  private sweep: NodeJS.Timeout | null;

  constructor(private readonly options: CallRegistryOptions) {
    this.live = new Set();
    this.finished = new Map();
    const idleMs = options.idleTimeoutMs;
    // One sweep for all calls, not a timer per call.
    this.sweep = idleMs > 0 ? setInterval(() => this.closeIdle(), Math.max(MIN_SWEEP_MS, Math.min(MAX_SWEEP_MS, idleMs / SWEEPS_PER_TIMEOUT))) : null;
    this.sweep?.unref();
  }

  get liveCount(): number {
    return this.live.size;
  }

  get finishedCount(): number {
    return this.finished.size;
  }

  add(call: RegisteredCall): void {
    this.live.add(call);
  }

  /** A call is over (or, later, its finished record changed): keep its snapshot. */
  readonly finish = (call: RegisteredCall): void => {
    const finished = this.finished;
    if (!this.live.delete(call)) {
      // A late update for a call already finished: refresh it if it is still kept.
      if (finished.has(call.serial)) finished.set(call.serial, call.snapshot());
      return;
    }
    const snapshot = call.snapshot();
    finished.set(call.serial, snapshot);
    this.options.onRetired?.(snapshot);
    if (finished.size > this.options.keepFinished) {
      const oldest = finished.keys().next();
      if (!oldest.done) finished.delete(oldest.value);
    }
  };

  /** The live call with this callSid, else the latest finished one. */
  find(callSid: string): CallSnapshot | null {
    for (const call of this.live) if (call.callSid === callSid) return call.snapshot();
    let found: CallSnapshot | null = null;
    for (const snapshot of this.finished.values()) if (snapshot.callSid === callSid) found = snapshot;
    return found;
  }

  /** The live calls only. */
  liveSnapshots(): CallSnapshot[] {
    return [...this.live].map((call) => call.snapshot());
  }

  /** Finished calls first, oldest first, then the live ones. */
  all(): CallSnapshot[] {
    return [...this.finished.values(), ...[...this.live].map((call) => call.snapshot())];
  }

  /** Ends every live call (each reports itself finished on the way out). */
  closeAll(reason: string, code: number): void {
    for (const call of [...this.live]) call.close(reason, code);
  }

  stopSweep(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
  }

  private closeIdle(): void {
    const idleMs = this.options.idleTimeoutMs;
    const logger = this.options.logger;
    const now = performance.now();
    for (const call of this.live) {
      if (now - call.lastInboundAt <= idleMs) continue;
      logger.warn('closing idle call', { callSid: call.callSid, idleMs: Math.round(now - call.lastInboundAt) });
      try {
        call.close(`idle: nothing from Twilio for ${idleMs} ms`, CLOSE_CODE.goingAway);
      } catch (err) {
        logger.error('closing idle call failed', { callSid: call.callSid, error: err });
      }
    }
  }
}
