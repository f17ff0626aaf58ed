// The JSON shape of one call as the server reports it on GET /calls and GET /calls/:callSid.
// The replay client and the gate read exactly this, so it is the contract between them.
import type { CallDirection } from '../twilio/codec.js';

export type CallState = 'connected' | 'started' | 'stopped' | 'closed';

export interface CallCounters {
  /** Twilio media frames received and accepted. */
  audioInChunks: number;
  /** Media frames sent to Twilio. */
  audioOutChunks: number;
  /**
   * Caller frames handed to the model (appended, or queued while it connects), so it equals
   * audioInChunks when nothing was dropped. With modelAppendFrames N, N frames share one
   * input_audio_buffer.append, so the model sees about 1/N as many appends.
   */
  modelAudioAppends: number;
  /** Audio deltas the model sent back. */
  modelAudioDeltas: number;
  marksSent: number;
  marksReceived: number;
  clearsSent: number;
  dtmfReceived: number;
  bargeIns: number;
  backlogWarnings: number;
  modelBacklogWarnings: number;
  protocolErrors: number;
  modelReconnects: number;
}

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
