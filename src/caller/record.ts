// One fake call's record: what the caller sent and heard (CallLedger, counted as it happens) and
// the CallRecord it becomes once the socket has closed, everything a check needs to judge the call.
import { performance } from 'node:perf_hooks';
import type { AgentMessageErrorCode, CallDirection, MediaTrack, StreamIds } from '../twilio/codec.js';
import { printableExcerpt } from '../text/printable.js';
import type { HeardAudio } from './heard.js';
import type { BadLine } from './network.js';
import type { PlaybackLog } from './playback.js';
import type { CallTape } from './tape.js';
import { CallTimeline, type CallTimelineData } from './timeline.js';

/** A wire error's example quotes what the server sent: at most this much of it, printable. */
const EXAMPLE_CHARS = 200;

/** Why a server message was not used: the codec's reasons, or any message back on a fork. */
export type WireErrorKind = AgentMessageErrorCode | 'message_on_fork';

export interface WireErrorSummary {
  kind: WireErrorKind;
  count: number;
  /** The first occurrence, as text (printable, at most 200 characters). */
  example: string;
}

export type CallEnding =
  /** Audio, tail and stop all sent. */
  | 'completed'
  /** The server closed the socket (or the connection dropped) before `stop`. */
  | 'server_closed'
  /** timeoutMs ran out before `stop` could be sent. */
  | 'timeout'
  /** The caller was told to hang up early (signal). */
  | 'aborted'
  | 'connect_failed'
  /** No stream was dialled: the webhook or its TwiML ended the call first. */
  | 'not_dialled';

export interface CallRecord {
  url: string;
  direction: CallDirection;
  accountSid: string;
  callSid: string;
  streamSid: string;
  customParameters: Record<string, string>;
  /** A bidirectional <Connect><Stream>, or a <Start><Stream> fork. */
  streamKind: 'bidirectional' | 'fork';
  /** start.tracks: the tracks this stream carries. */
  tracks: MediaTrack[];
  connected: boolean;
  /** Why the WebSocket never opened (ECONNREFUSED, HTTP 404 on upgrade, handshake timeout...). */
  connectError: string | null;
  ending: CallEnding;
  /** All media frames sent on the inbound track: the caller's audio plus tail silence. */
  framesSent: number;
  audioFramesSent: number;
  silenceFramesSent: number;
  dtmfDigitsSent: string;
  /** Media frames sent on a fork's outbound track (the agent's side of the call). */
  outboundTrackFramesSent: number;
  /** Caller frames discarded because the server left its socket backed up (Twilio warning 31930). */
  callerFramesDropped: number;
  /** Outbound-track frames discarded the same way. */
  outboundTrackFramesDropped: number;
  stopSent: boolean;
  /** Media frames received and accepted (right streamSid, valid payload), cleared ones included. */
  framesReceived: number;
  /** Decoded bytes of those frames' payloads. */
  bytesReceived: number;
  /** The decoded payloads, in order, as far as the call was told to keep them (--save-audio); else none. */
  receivedAudio: Buffer[];
  /** Frames received but not kept in receivedAudio: past what the call keeps (all of them when it keeps none). */
  receivedFramesNotKept: number;
  marksReceived: number;
  marksEchoed: number;
  /** Marks never echoed: still waiting for playback when the call ended, or their echo still on the wire. */
  marksPendingAtEnd: number;
  /** The network the mark echoes crossed: its one-way delay and the seed its PRNG ran from (null: never dialled). */
  network: { markEchoDelay: string; seed: number } | null;
  /** The bad line the call crossed (latency, jitter, loss), from the same seed; null: a clean line. */
  badLine: BadLine | null;
  /** Caller frames the bad line lost before Twilio had them (never sent; the next timestamp shows the gap). */
  callerFramesLost: number;
  clearsReceived: number;
  /** Audio ms a clear dropped before it was played. */
  audioClearedMs: number;
  /** ms from the first media frame sent (or `start`, if the server spoke first) to the first media received. */
  firstAudioLatencyMs: number | null;
  /** Wall ms between the first and the last frame of the caller's audio (pacing check). */
  audioSendMs: number | null;
  /** Sending stopped at the timeout with the agent still talking (its audio within quietMs, or still playing). */
  tailCappedByTimeout: boolean;
  /** Wall ms from dialling to the socket closing. */
  durationMs: number;
  closeCode: number | null;
  closeReason: string;
  closedBy: 'server' | 'caller' | null;
  serverClosedBeforeStop: boolean;
  /** A WebSocket-level error after the connection opened (bad frame, reset...). */
  socketError: string | null;
  wireErrors: WireErrorSummary[];
  startedAt: string;
  /** What happened when, on one clock (timeline.ts): large, so not part of the summary. */
  timeline: CallTimelineData;
  /** What the conversation's measurements, a recording and a wire trace are read from: large, and on performance.now()'s clock, so not in the summary. */
  detail: CallDetail;
  /** The caller's inbound frames exactly as sent, watermark included; empty unless the call was watermarked. */
  sentAudio: Buffer[];
  /** The 24-bit watermark tag of the caller's audio, or null. */
  watermark: number | null;
  /** What the handset played when (playback.ts), on the epoch-ms clock. */
  playback: PlaybackLog;
}

/** The call as it happened, instant by instant (performance.now() values). */
export interface CallDetail {
  /** When `start` was sent: the zero of the call's schedule; null if it never was. */
  startSentAt: number | null;
  /** When the socket closed; null if it never opened (or has not closed). */
  closedAt: number | null;
  /** What the caller heard of the agent, and when. */
  heard: HeardAudio | null;
  /** Every frame both ways and what the caller said when, if the call kept its tape. */
  tape: CallTape | null;
}

/** Everything the caller recorded except the raw audio (both ways), the timeline and the call's detail. */
export type CallSummary = Omit<CallRecord, 'receivedAudio' | 'timeline' | 'detail' | 'sentAudio'>;

export function toCallSummary(record: CallRecord): CallSummary {
  const { receivedAudio: _audio, timeline: _timeline, detail: _detail, sentAudio: _sent, ...summary } = record;
  return summary;
}

/** What was sent and heard on one call, counted as it happens (performance.now() instants). */
export class CallLedger {
  framesSent = 0;
  audioFramesSent = 0;
  outboundTrackFramesSent = 0;
  callerFramesDropped = 0;
  callerFramesLost = 0;
  outboundTrackFramesDropped = 0;
  dtmfDigitsSent = '';
  startSentAt: number | null = null;
  firstMediaSentAt: number | null = null;
  firstAudioFrameAt: number | null = null;
  lastAudioFrameAt: number | null = null;
  framesReceived = 0;
  bytesReceived = 0;
  readonly receivedAudio: Buffer[] = [];
  receivedFramesNotKept = 0;
  private keptAudioBytes = 0;
  /** Inbound frames as sent, kept only for a watermarked call (the witness compares them with what the model heard). */
  readonly sentAudio: Buffer[] = [];
  lastServerMediaAt: number | null = null;
  firstAudioLatencyMs: number | null = null;
  marksReceived = 0;
  marksEchoed = 0;
  marksPendingAtEnd = 0;
  clearsReceived = 0;
  tailCappedByTimeout = false;
  private readonly wireErrors = new Map<WireErrorKind, WireErrorSummary>();

  /**
   * `keepAudioBytes`: how much of what the agent sends is kept, for --save-audio. Only that: a
   * server that floods media must cost the caller counters, not memory.
   */
  constructor(private readonly keepAudioBytes = 0) {}

  /** An inbound frame went out; `kept`: the frame as sent, for a watermarked call. */
  mediaSent(now: number, isAudio: boolean, kept: Buffer | null = null): void {
    this.framesSent += 1;
    if (kept !== null) this.sentAudio.push(kept);
    this.firstMediaSentAt ??= now;
    if (isAudio) {
      this.audioFramesSent += 1;
      this.firstAudioFrameAt ??= now;
      this.lastAudioFrameAt = now;
    }
  }

  /** A media frame for `track` the line discarded under congestion. */
  mediaDropped(track: MediaTrack): void {
    if (track === 'inbound') this.callerFramesDropped += 1;
    else this.outboundTrackFramesDropped += 1;
  }

  audioReceived(audio: Buffer, now: number): void {
    this.framesReceived += 1;
    this.bytesReceived += audio.length;
    if (this.keptAudioBytes + audio.length <= this.keepAudioBytes) {
      this.receivedAudio.push(audio);
      this.keptAudioBytes += audio.length;
    } else {
      this.receivedFramesNotKept += 1;
    }
    this.lastServerMediaAt = now;
    if (this.firstAudioLatencyMs === null) {
      const reference = this.firstMediaSentAt ?? this.startSentAt ?? now;
      this.firstAudioLatencyMs = Math.max(0, now - reference);
    }
  }

  wireError(kind: WireErrorKind, example: string): void {
    const existing = this.wireErrors.get(kind);
    if (existing) existing.count += 1;
    else this.wireErrors.set(kind, { kind, count: 1, example: printableExcerpt(example, EXAMPLE_CHARS) });
  }

  wireErrorSummaries(): WireErrorSummary[] {
    return [...this.wireErrors.values()];
  }
}

/** How the line itself went: the facts a CallRecord adds to the ledger's counts. */
export interface LineOutcome {
  url: string;
  direction: CallDirection;
  ids: Readonly<StreamIds>;
  customParameters: Record<string, string>;
  streamKind: CallRecord['streamKind'];
  tracks: readonly MediaTrack[];
  network: CallRecord['network'];
  badLine: BadLine | null;
  detail: CallDetail;
  connected: boolean;
  connectError: string | null;
  ending: CallEnding;
  stopSent: boolean;
  closedBy: 'server' | 'caller' | null;
  closeCode: number | null;
  closeReason: string;
  socketError: string | null;
  durationMs: number;
  audioClearedMs: number;
  startedAt: string;
  watermark: number | null;
  playback: PlaybackLog;
}

const roundOrNull = (ms: number | null): number | null => (ms === null ? null : Math.round(ms));

export function toCallRecord(ledger: CallLedger, timeline: CallTimelineData, line: LineOutcome): CallRecord {
  const { audioFramesSent } = ledger;
  return {
    url: line.url,
    direction: line.direction,
    accountSid: line.ids.accountSid,
    callSid: line.ids.callSid,
    streamSid: line.ids.streamSid,
    customParameters: { ...line.customParameters },
    streamKind: line.streamKind,
    tracks: [...line.tracks],
    connected: line.connected,
    connectError: line.connectError,
    ending: line.ending,
    framesSent: ledger.framesSent,
    audioFramesSent,
    silenceFramesSent: ledger.framesSent - audioFramesSent,
    dtmfDigitsSent: ledger.dtmfDigitsSent,
    outboundTrackFramesSent: ledger.outboundTrackFramesSent,
    callerFramesDropped: ledger.callerFramesDropped,
    outboundTrackFramesDropped: ledger.outboundTrackFramesDropped,
    stopSent: line.stopSent,
    framesReceived: ledger.framesReceived,
    bytesReceived: ledger.bytesReceived,
    receivedAudio: ledger.receivedAudio,
    receivedFramesNotKept: ledger.receivedFramesNotKept,
    marksReceived: ledger.marksReceived,
    marksEchoed: ledger.marksEchoed,
    marksPendingAtEnd: ledger.marksPendingAtEnd,
    network: line.network,
    badLine: line.badLine,
    callerFramesLost: ledger.callerFramesLost,
    clearsReceived: ledger.clearsReceived,
    audioClearedMs: Math.round(line.audioClearedMs),
    firstAudioLatencyMs: roundOrNull(ledger.firstAudioLatencyMs),
    audioSendMs:
      ledger.firstAudioFrameAt === null || ledger.lastAudioFrameAt === null
        ? null
        : Math.round(ledger.lastAudioFrameAt - ledger.firstAudioFrameAt),
    tailCappedByTimeout: ledger.tailCappedByTimeout,
    durationMs: Math.round(line.durationMs),
    closeCode: line.closeCode,
    closeReason: line.closeReason,
    closedBy: line.closedBy,
    serverClosedBeforeStop: line.closedBy === 'server' && !line.stopSent,
    socketError: line.socketError,
    wireErrors: ledger.wireErrorSummaries(),
    startedAt: line.startedAt,
    timeline,
    detail: line.detail,
    sentAudio: ledger.sentAudio,
    watermark: line.watermark,
    playback: line.playback,
  };
}

/** The record of a call whose stream was never dialled (its webhook or TwiML ended it first). */
export function notDialledRecord(call: { ids: Readonly<StreamIds>; direction: CallDirection; url: string; reason: string }): CallRecord {
  // Nothing happened on a line that was never dialled: an empty timeline.
  return toCallRecord(new CallLedger(), new CallTimeline(performance.now()).data(), {
    url: call.url,
    direction: call.direction,
    ids: call.ids,
    customParameters: {},
    streamKind: 'bidirectional',
    tracks: [],
    network: null,
    badLine: null,
    detail: { startSentAt: null, closedAt: null, heard: null, tape: null },
    connected: false,
    connectError: call.reason,
    ending: 'not_dialled',
    stopSent: false,
    closedBy: null,
    closeCode: null,
    closeReason: '',
    socketError: null,
    durationMs: 0,
    audioClearedMs: 0,
    startedAt: new Date().toISOString(),
    watermark: null,
    playback: { speed: null, runs: [], runsDropped: 0, clears: [], clearsDropped: 0 },
  });
}
