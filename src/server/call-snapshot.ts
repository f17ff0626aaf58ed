// The JSON shape of one call as the server reports it on GET /calls and GET /calls/:callSid.
// The replay client and the gate read exactly this, so it is the contract between them.
import type { CallDirection } from '../twilio/codec.js';

export type CallState = 'connected' | 'started' | 'stopped' | 'closed';

/**
 * Every counter a call keeps, at its initial value: the one list of them. `CallCounters` is
 * derived from it and each call's record starts as a copy of it, so a counter cannot exist in one
 * place and be missing in another, and none is ever read before it was set.
 */
export const INITIAL_CALL_COUNTERS = Object.freeze({
  /** Twilio media frames received and accepted: the caller's audio (the inbound track). */
  audioInChunks: 0,
  /**
   * Frames on the outbound track (the agent side a <Start><Stream> fork carries): counted here,
   * never sent to the model as caller audio.
   */
  outboundTrackChunks: 0,
  /** Media frames sent to Twilio. */
  audioOutChunks: 0,
  /**
   * Caller frames handed to the model (appended, or queued while it connects), so it equals
   * audioInChunks when nothing was dropped. With modelAppendFrames N, N frames share one
   * input_audio_buffer.append, so the model sees about 1/N as many appends.
   */
  modelAudioAppends: 0,
  /** Audio deltas the model sent back. */
  modelAudioDeltas: 0,
  marksSent: 0,
  marksReceived: 0,
  clearsSent: 0,
  dtmfReceived: 0,
  bargeIns: 0,
  backlogWarnings: 0,
  modelBacklogWarnings: 0,
  protocolErrors: 0,
  modelReconnects: 0,
});

export type CallCounters = { -readonly [K in keyof typeof INITIAL_CALL_COUNTERS]: number };
export type CallCounterName = keyof CallCounters;

/** The counter names in their reporting order (for a table or a check over all of them). */
export const CALL_COUNTER_NAMES = Object.freeze(Object.keys(INITIAL_CALL_COUNTERS) as CallCounterName[]);

export interface CallErrorRecord {
  /** ISO time. */
  at: string;
  code: string;
  message: string;
}

export interface CallSnapshot {
  /** Null until the `start` event names the call. */
  callSid: string | null;
  streamSid: string | null;
  direction: CallDirection;
  state: CallState;
  counters: CallCounters;
  /** Epoch ms of the last backlog warning on the Twilio send queue; 0 = never. */
  lastBacklogWarningAt: number;
  /** Epoch ms of the last backlog warning on the queue to the model; 0 = never. */
  lastModelBacklogWarningAt: number;
  queues: { toTwilio: number; toModel: number };
  model: { backend: string; state: string };
  /** The first errors (bounded); errorCount says how many there were in all. */
  errors: CallErrorRecord[];
  errorCount: number;
  connectedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Why the call ended: "stop", "socket closed", "shutdown", ... */
  endReason: string | null;
}

/** One call in a GET /calls page: the snapshot without its error records (errorCount stays). */
export type CallListEntry = Omit<CallSnapshot, 'errors'>;

/** GET /calls?limit=&before=: newest first; `next` is the URL of the next (older) page, or null. */
export interface CallsPage {
  /** Calls kept in all (live and finished). */
  total: number;
  /** Calls admitted by a start and not yet over. */
  live: number;
  /** Sockets that have not sent a valid start yet. */
  awaitingStart: number;
  limit: number;
  next: string | null;
  calls: CallListEntry[];
}
