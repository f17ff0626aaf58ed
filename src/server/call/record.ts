// The call record: who the call is, what it counted, the errors it met (kept and logged within
// bounds) and its snapshot, the JSON contract of GET /calls (../call-snapshot.ts). Every part of
// a call writes here and nowhere else, so one object answers "what happened on this call".
import type { Logger } from '../../log.js';
import type { CallDirection } from '../../twilio/codec.js';
import {
  INITIAL_CALL_COUNTERS,
  type CallCounterName,
  type CallCounters,
  type CallErrorRecord,
  type CallSnapshot,
  type CallState,
} from '../call-snapshot.js';
import { NO_CALL_METRICS, type CallMetrics } from '../metrics.js';

/** Errors kept verbatim; after them one summary record counts the rest. */
export const MAX_ERRORS_KEPT = 50;
/** Error texts can quote attacker input (an unknown event name); a record never grows past this. */
const MAX_ERROR_TEXT = 200;
/** Past the first MAX_ERRORS_KEPT of a kind, only every this-many-th is logged. */
const LOG_EVERY_NTH = 1000;

/**
 * Whether the n-th (1-based) occurrence of something a peer can repeat at will gets a log line:
 * the first ones carry the cause; a flood must not become a flood of log lines.
 */
export function isLoggedOccurrence(n: number): boolean {
  return n <= MAX_ERRORS_KEPT || n % LOG_EVERY_NTH === 0;
}

export type BacklogQueue = 'toTwilio' | 'toModel';

const BACKLOG_WARNINGS: Readonly<Record<BacklogQueue, { msg: string; counter: CallCounterName; depthField: string }>> = {
  toTwilio: { msg: 'backlog to Twilio', counter: 'backlogWarnings', depthField: 'queuedFrames' },
  toModel: { msg: 'backlog to model', counter: 'modelBacklogWarnings', depthField: 'queuedChunks' },
};

/** What the parts that hold them report for a snapshot. */
export interface SnapshotParts {
  state: CallState;
  queues: { toTwilio: number; toModel: number };
  modelState: string;
}

let nextSerial = 1;

export class CallRecord {
  /** Unique within the process: the registry's key for this call, before and after it ends. */
  readonly serial: number;
  /** Created here, incremented directly by the parts: never `?? 0`. */
  readonly counters: CallCounters;
  callSid: string | null;
  streamSid: string | null;
  direction: CallDirection;
  readonly connectedAt: Date;
  startedAt: Date | null;
  /** performance.now() of the start, for the first-audio latency. */
  startedAtMono: number | null;
  endedAt: Date | null;
  endReason: string | null;
  /** performance.now() of the first caller frame read; null before it. */
  private firstMediaInAt: number | null;
  /** Epoch ms of each queue's last backlog warning; 0 = never (as the snapshot reports it). */
  private readonly lastWarningAt: Record<BacklogQueue, number>;
  private readonly errors: CallErrorRecord[];
  private errorTotal: number;
  private suppressedErrors: number;

  constructor(
    private readonly logger: Logger,
    private readonly modelBackend: string,
    private readonly backlogWarnIntervalMs: number,
    /** The server's metrics (GET /metrics): errors by code, latencies. */
    readonly metrics: CallMetrics = NO_CALL_METRICS,
  ) {
    this.serial = nextSerial;
    nextSerial += 1;
    this.counters = { ...INITIAL_CALL_COUNTERS };
    this.callSid = null;
    this.streamSid = null;
    this.direction = 'inbound';
    this.connectedAt = new Date();
    this.startedAt = null;
    this.startedAtMono = null;
    this.firstMediaInAt = null;
    this.endedAt = null;
    this.endReason = null;
    this.lastWarningAt = { toTwilio: 0, toModel: 0 };
    this.errors = [];
    this.errorTotal = 0;
    this.suppressedErrors = 0;
  }

  get errorCount(): number {
    return this.errorTotal;
  }

  /** A message from Twilio that broke the protocol: counted as such, and recorded. */
  protocolError(code: string, message: string): void {
    this.counters.protocolErrors += 1;
    this.recordError(code, message);
  }

  recordError(code: string, message: string): void {
    this.errorTotal += 1;
    this.metrics.callError(code);
    const text = message.length > MAX_ERROR_TEXT ? `${message.slice(0, MAX_ERROR_TEXT)}...` : message;
    const at = new Date().toISOString();
    if (this.errors.length < MAX_ERRORS_KEPT) {
      this.errors.push({ at, code, message: text });
    } else {
      this.suppressedErrors += 1;
      this.errors[MAX_ERRORS_KEPT] = { at, code: 'errors_suppressed', message: `${this.suppressedErrors} more errors not kept; last: ${code}: ${text}` };
    }
    if (isLoggedOccurrence(this.errorTotal)) {
      this.logger.warn('call error', { callSid: this.callSid, code, message: text, errorCount: this.errorTotal });
    }
  }

  /** The first caller frame, read at `at` (performance.now()). */
  firstMediaIn(at: number): void {
    this.firstMediaInAt ??= at;
  }

  /**
   * The first audio sent to Twilio, at `now`: its latency from the caller's first frame, or from
   * start when the agent spoke first (the fake Twilio's first-audio latency, from the server's side).
   */
  firstAudioSent(now: number): void {
    const from = this.firstMediaInAt !== null && this.firstMediaInAt <= now ? this.firstMediaInAt : this.startedAtMono;
    if (from !== null) this.metrics.firstAudio(Math.max(0, now - from) / 1000);
  }

  /** Something threw inside the call: recorded on this call, never let out into the process. */
  internalError(err: unknown): void {
    this.recordError('internal_error', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    this.logger.error('call handler error', { callSid: this.callSid, error: err });
  }

  /** At most one warning per queue per interval; the audio itself is never dropped for it. */
  warnBacklog(queue: BacklogQueue, detail: string, depth: number): void {
    const now = Date.now();
    if (now - this.lastWarningAt[queue] < this.backlogWarnIntervalMs) return;
    this.lastWarningAt[queue] = now;
    const warning = BACKLOG_WARNINGS[queue];
    this.counters[warning.counter] += 1;
    this.logger.warn(warning.msg, { callSid: this.callSid, detail, [warning.depthField]: depth });
  }

  snapshot(parts: SnapshotParts): CallSnapshot {
    return {
      callSid: this.callSid,
      streamSid: this.streamSid,
      direction: this.direction,
      state: parts.state,
      counters: { ...this.counters },
      lastBacklogWarningAt: this.lastWarningAt.toTwilio,
      lastModelBacklogWarningAt: this.lastWarningAt.toModel,
      queues: parts.queues,
      model: { backend: this.modelBackend, state: parts.modelState },
      errors: [...this.errors],
      errorCount: this.errorTotal,
      connectedAt: this.connectedAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      endedAt: this.endedAt?.toISOString() ?? null,
      endReason: this.endReason,
    };
  }
}
