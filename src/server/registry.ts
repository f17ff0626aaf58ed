// The server's calls: the sockets still waiting for their `start` (bounded apart from the calls,
// so strangers cannot hold call slots), the started calls (one per callSid), the snapshots of
// recently finished ones (only the snapshot is kept, never the call and its socket), lookup by
// callSid, pages for GET /calls, and one sweep for all of them: the start deadline and the idle
// timeout.
import type { Logger } from '../log.js';
import type { CallSnapshot } from './call-snapshot.js';
import { CLOSE_CODE } from './close-code.js';

/** A call as the registry sees it. */
export interface RegisteredCall {
  /** Unique within the process and increasing: the key of its finished snapshot and of its page. */
  readonly serial: number;
  readonly callSid: string | null;
  /** performance.now() the socket was accepted. */
  readonly openedAt: number;
  /** performance.now() of the last sign of life from Twilio (the start, then audio). */
  readonly lastInboundAt: number;
  close(reason: string, code?: number): void;
  snapshot(): CallSnapshot;
}

export interface CallRegistryOptions {
  /** Finished calls kept for GET /calls; the oldest goes first. */
  keepFinished: number;
  /**
   * Of those, sockets that never started are kept apart, at most this many (default:
   * keepFinished): a crowd of strangers must not push the real calls out of /calls.
   */
  keepFinishedUnstarted?: number;
  /**
   * Close a call when Twilio has sent nothing for this long (it streams media continuously, even
   * silence, so a quiet socket is a dead or half-open peer holding a slot). 0 = never.
   */
  idleTimeoutMs: number;
  /** Close a socket that has not been admitted with a valid `start` after this long. 0 / absent = never. */
  startTimeoutMs?: number;
  logger: Logger;
  /** A call left the live set, with its final snapshot (once per call: the metrics' totals). */
  onRetired?: (snapshot: CallSnapshot) => void;
}

/** One page of GET /calls: the serials on it, newest first, and where the next page starts. */
export interface CallPage {
  serials: number[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null;
  total: number;
}

/** The sweep runs a few times per timeout, within these bounds. */
const SWEEPS_PER_TIMEOUT = 4;
const MIN_SWEEP_MS = 50;
const MAX_SWEEP_MS = 5000;

export class CallRegistry {
  /** Sockets not yet admitted by a start, oldest first (the first to go past the deadline). */
  private readonly awaiting: Set<RegisteredCall>;
  /** Admitted calls by callSid: at most one live call per callSid. */
  private readonly started: Map<string, RegisteredCall>;
  /** By finish order, keyed by the call's serial: calls that started, and sockets that never did. */
  private readonly finished: Map<number, CallSnapshot>;
  private readonly finishedUnstarted: Map<number, CallSnapshot>;
  /** The latest finished call of each callSid still kept. */
  private readonly finishedBySid: Map<string, number>;
  /** Every call kept, live (the call) or finished (null: see `finished`), in serial order. */
  private readonly listing: Map<number, RegisteredCall | null>;
  private sweep: NodeJS.Timeout | null;
  private readonly startTimeoutMs: number;
  /** Sockets closed by the start deadline, in all. */
  private unstartedClosed = 0;

  constructor(private readonly options: CallRegistryOptions) {
    this.awaiting = new Set();
    this.started = new Map();
    this.finished = new Map();
    this.finishedUnstarted = new Map();
    this.finishedBySid = new Map();
    this.listing = new Map();
    this.startTimeoutMs = options.startTimeoutMs ?? 0;
    const timeouts = [options.idleTimeoutMs, this.startTimeoutMs].filter((ms) => ms > 0);
    // One sweep for all calls, not a timer per call.
    this.sweep = timeouts.length > 0 ? setInterval(() => this.closeOverdue(), Math.max(MIN_SWEEP_MS, Math.min(MAX_SWEEP_MS, Math.min(...timeouts) / SWEEPS_PER_TIMEOUT))) : null;
    this.sweep?.unref();
  }

  /** Open sockets: started calls and those still waiting for their start. */
  get liveCount(): number {
    return this.awaiting.size + this.started.size;
  }

  /** Calls holding a slot: admitted by a valid start and not yet over. */
  get startedCount(): number {
    return this.started.size;
  }

  get awaitingStartCount(): number {
    return this.awaiting.size;
  }

  get finishedCount(): number {
    return this.finished.size + this.finishedUnstarted.size;
  }

  /** Sockets the start deadline closed, since the server started. */
  get closedWithoutStart(): number {
    return this.unstartedClosed;
  }

  add(call: RegisteredCall): void {
    this.awaiting.add(call);
    this.listing.set(call.serial, call);
  }

  /** The oldest socket still waiting for its start (the one to let go when too many wait). */
  oldestAwaitingStart(): RegisteredCall | null {
    const first = this.awaiting.values().next();
    return first.done ? null : first.value;
  }

  /** Whether a started call with this callSid is live. */
  hasLive(callSid: string): boolean {
    return this.started.has(callSid);
  }

  /** `call` was admitted by its start: it holds a slot under `callSid` (the caller checked it is free). */
  markStarted(call: RegisteredCall, callSid: string): void {
    this.awaiting.delete(call);
    this.started.set(callSid, call);
  }

  /** A call is over (or, later, its finished record changed): keep its snapshot. */
  readonly finish = (call: RegisteredCall): void => {
    const sid = call.callSid;
    const serial = call.serial;
    const wasStarted = sid !== null && this.started.get(sid) === call && this.started.delete(sid);
    if (!wasStarted && !this.awaiting.delete(call)) {
      // A late update for a call already finished: refresh it if it is still kept.
      for (const kept of [this.finished, this.finishedUnstarted]) if (kept.has(serial)) kept.set(serial, call.snapshot());
      return;
    }
    const kept = wasStarted ? this.finished : this.finishedUnstarted;
    const snapshot = call.snapshot();
    kept.set(serial, snapshot);
    // Metrics count calls: a socket that never started is none.
    if (wasStarted) this.options.onRetired?.(snapshot);
    this.listing.set(serial, null);
    if (sid !== null) this.finishedBySid.set(sid, serial);
    const limit = wasStarted ? this.options.keepFinished : (this.options.keepFinishedUnstarted ?? this.options.keepFinished);
    if (kept.size > limit) {
      const oldest = kept.entries().next();
      if (!oldest.done) this.forget(kept, oldest.value[0], oldest.value[1]);
    }
  };

  /** The live call with this callSid, else the latest finished one. */
  find(callSid: string): CallSnapshot | null {
    const live = this.started.get(callSid);
    if (live !== undefined) return live.snapshot();
    // A socket awaiting its start has no callSid yet: a call is named only once its start is admitted.
    const serial = this.finishedBySid.get(callSid);
    return serial === undefined ? null : this.finishedSnapshot(serial);
  }

  /** The started calls that are live (a socket still awaiting its start is no call yet). */
  liveSnapshots(): CallSnapshot[] {
    return [...this.started.values()].map((call) => call.snapshot());
  }

  /** Finished calls first, then the live ones, each in the order they connected. */
  all(): CallSnapshot[] {
    const live = [...this.awaiting, ...this.started.values()].sort((a, b) => a.serial - b.serial);
    const finished = [...this.listing].filter(([, entry]) => entry === null).map(([serial]) => serial);
    return [...finished.map((serial) => this.finishedSnapshot(serial) as CallSnapshot), ...live.map((call) => call.snapshot())];
  }

  /** Up to `limit` calls, newest first, older than serial `before` when given. */
  page(limit: number, before: number | null): CallPage {
    const serials = [...this.listing.keys()];
    const end = before === null ? serials.length : firstAtLeast(serials, before);
    const start = Math.max(0, end - limit);
    return { serials: serials.slice(start, end).reverse(), next: start > 0 ? (serials[start] ?? null) : null, total: serials.length };
  }

  /** The snapshot of the call with this serial now; null once it is no longer kept. */
  snapshotOf(serial: number): CallSnapshot | null {
    const entry = this.listing.get(serial);
    if (entry === undefined) return null;
    return entry === null ? this.finishedSnapshot(serial) : entry.snapshot();
  }

  /** Ends every live call (each reports itself finished on the way out). */
  closeAll(reason: string, code: number): void {
    for (const call of [...this.awaiting, ...this.started.values()]) call.close(reason, code);
  }

  stopSweep(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
  }

  private finishedSnapshot(serial: number): CallSnapshot | null {
    return this.finished.get(serial) ?? this.finishedUnstarted.get(serial) ?? null;
  }

  private forget(kept: Map<number, CallSnapshot>, serial: number, snapshot: CallSnapshot): void {
    kept.delete(serial);
    this.listing.delete(serial);
    const sid = snapshot.callSid;
    if (sid !== null && this.finishedBySid.get(sid) === serial) this.finishedBySid.delete(sid);
  }

  private closeOverdue(): void {
    const now = performance.now();
    if (this.startTimeoutMs > 0) this.closeUnstarted(now);
    if (this.options.idleTimeoutMs > 0) this.closeIdle(now);
  }

  /** Sockets past the start deadline, oldest first: the first one still within it ends the scan. */
  private closeUnstarted(now: number): void {
    const deadlineMs = this.startTimeoutMs;
    const overdue: RegisteredCall[] = [];
    for (const call of this.awaiting) {
      if (now - call.openedAt <= deadlineMs) break;
      overdue.push(call);
    }
    this.unstartedClosed += overdue.length;
    for (const call of overdue) this.closeSafely(call, `no valid start within ${deadlineMs} ms`, CLOSE_CODE.policyViolation);
  }

  private closeIdle(now: number): void {
    const idleMs = this.options.idleTimeoutMs;
    for (const call of [...this.awaiting, ...this.started.values()]) {
      if (now - call.lastInboundAt <= idleMs) continue;
      this.options.logger.warn('closing idle call', { callSid: call.callSid, idleMs: Math.round(now - call.lastInboundAt) });
      this.closeSafely(call, `idle: nothing from Twilio for ${idleMs} ms`, CLOSE_CODE.goingAway);
    }
  }

  private closeSafely(call: RegisteredCall, reason: string, code: number): void {
    try {
      call.close(reason, code);
    } catch (err) {
      this.options.logger.error('closing a call failed', { callSid: call.callSid, reason, error: err });
    }
  }
}

/** Index of the first of the ascending `values` that is >= `target` (values.length if none). */
function firstAtLeast(values: readonly number[], target: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((values[mid] ?? 0) < target) low = mid + 1;
    else high = mid;
  }
  return low;
}
