// The fake Twilio: dials a Media Streams WebSocket and behaves like Twilio's side of a
// bidirectional <Connect><Stream> call: connected, start, paced inbound media, optional DTMF,
// a tail of line silence while the agent answers, then stop. It "plays" what the server sends
// (20 ms per 160 bytes), echoes marks when playback reaches them and honours clear, and records
// everything a test needs to judge the call. It never rejects for network trouble and never
// hangs: connection failures and timeouts come back as fields of the CallRecord.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from '../audio/format.js';
import {
  parseServerMessage,
  type CallDirection,
  type ConnectedMessage,
  type DtmfMessage,
  type MarkMessage,
  type MediaMessage,
  type ProtocolErrorCode,
  type StartMessage,
  type StopMessage,
  type TwilioInboundMessage,
} from '../twilio/codec.js';
import { FrameClock, REALTIME, sleep, validateTiming, type CallTiming } from './clock.js';

export const DEFAULT_TAIL_MS = 1500;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** The tail keeps going until the server has sent no audio for this long. */
export const DEFAULT_QUIET_MS = 500;
/** After `stop`, how long the server gets to close the socket before the caller closes it. */
export const DEFAULT_CLOSE_GRACE_MS = 1000;
/** With earlyMedia, this many frames go out in the same tick as `start`. */
export const EARLY_MEDIA_FRAMES = 5;
/** Gap between DTMF digits: Twilio reports one event per detected tone, not a burst. */
export const DTMF_DIGIT_SPACING_MS = 200;
export const DTMF_DIGITS = /^[0-9*#]+$/;

export interface DtmfPlan {
  /** Digits to press, e.g. "12#". */
  digits: string;
  /** Audio time (ms from the first media frame) of the first digit; default: right after the audio. */
  atMs?: number;
}

export interface CallProgress {
  phase: 'connecting' | 'audio' | 'tail' | 'hanging-up';
  elapsedMs: number;
  framesSent: number;
  audioFramesSent: number;
  audioFrames: number;
  framesReceived: number;
}

export interface PlaceCallOptions {
  /** ws:// or wss:// Media Streams URL. */
  url: string;
  /** The caller's audio: 160-byte 8 kHz mu-law frames (a short last frame is padded with silence). */
  frames: readonly Buffer[];
  direction?: CallDirection;
  /** Extra <Parameter>s; they arrive in start.customParameters next to `direction`. */
  params?: Readonly<Record<string, string>>;
  timing?: CallTiming;
  /** Send the first frames in the same tick as `start`, so a server that is not ready yet races. */
  earlyMedia?: boolean;
  /** Wall-clock pause between `start` and the first media frame. */
  startDelayMs?: number;
  dtmf?: DtmfPlan;
  /** Audio time of line silence after the caller's audio (extended while the server talks). */
  tailMs?: number;
  quietMs?: number;
  /** Bounds the whole call, connecting included. */
  timeoutMs?: number;
  closeGraceMs?: number;
  /** Aborting hangs up now: `stop`, then close. */
  signal?: AbortSignal;
  onProgress?: (progress: CallProgress) => void;
}

export type WireErrorKind = ProtocolErrorCode | 'wrong_stream_sid';

export interface WireErrorSummary {
  kind: WireErrorKind;
  count: number;
  /** The first occurrence, as text. */
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
  | 'connect_failed';

export interface CallRecord {
  url: string;
  direction: CallDirection;
  accountSid: string;
  callSid: string;
  streamSid: string;
  customParameters: Record<string, string>;
  connected: boolean;
  /** Why the WebSocket never opened (ECONNREFUSED, HTTP 404 on upgrade, handshake timeout...). */
  connectError: string | null;
  ending: CallEnding;
  /** All media frames sent: the caller's audio plus tail silence. */
  framesSent: number;
  audioFramesSent: number;
  silenceFramesSent: number;
  dtmfDigitsSent: string;
  stopSent: boolean;
  /** Media frames received and accepted (right streamSid, valid payload), cleared ones included. */
  framesReceived: number;
  /** Decoded bytes of those frames' payloads. */
  bytesReceived: number;
  /** The decoded payloads, in order (for --save-audio). */
  receivedAudio: Buffer[];
  marksReceived: number;
  marksEchoed: number;
  /** Marks still waiting for playback when the call ended (never echoed). */
  marksPendingAtEnd: number;
  clearsReceived: number;
  /** Audio ms a clear dropped before it was played. */
  audioClearedMs: number;
  /** ms from the first media frame sent (or `start`, if the server spoke first) to the first media received. */
  firstAudioLatencyMs: number | null;
  /** Wall ms between the first and the last frame of the caller's audio (pacing check). */
  audioSendMs: number | null;
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
}

interface ResolvedOptions {
  url: string;
  frames: readonly Buffer[];
  direction: CallDirection;
  customParameters: Record<string, string>;
  timing: CallTiming;
  earlyMedia: boolean;
  startDelayMs: number;
  dtmfDigits: string;
  dtmfAtMs: number | null;
  tailMs: number;
  quietMs: number;
  timeoutMs: number;
  closeGraceMs: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: CallProgress) => void) | undefined;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0 (got ${value})`);
  return value;
}

function resolveOptions(options: PlaceCallOptions): ResolvedOptions {
  const timing = options.timing ?? REALTIME;
  validateTiming(timing);
  const dtmfDigits = options.dtmf?.digits ?? '';
  if (dtmfDigits !== '' && !DTMF_DIGITS.test(dtmfDigits)) {
    throw new RangeError(`DTMF digits must be 0-9, * or # (got ${JSON.stringify(dtmfDigits)})`);
  }
  const timeoutMs = nonNegative('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
  if (timeoutMs === 0) throw new RangeError('timeoutMs must be > 0');
  for (const frame of options.frames) {
    if (frame.length > FRAME_BYTES) throw new RangeError(`audio frames must be at most ${FRAME_BYTES} bytes`);
  }
  return {
    url: options.url,
    frames: options.frames,
    direction: options.direction ?? 'inbound',
    customParameters: { direction: options.direction ?? 'inbound', ...options.params },
    timing,
    earlyMedia: options.earlyMedia ?? false,
    startDelayMs: nonNegative('startDelayMs', options.startDelayMs, 0),
    dtmfDigits,
    dtmfAtMs: options.dtmf?.atMs === undefined ? null : nonNegative('dtmf.atMs', options.dtmf.atMs, 0),
    tailMs: nonNegative('tailMs', options.tailMs, DEFAULT_TAIL_MS),
    quietMs: nonNegative('quietMs', options.quietMs, DEFAULT_QUIET_MS),
    timeoutMs,
    closeGraceMs: nonNegative('closeGraceMs', options.closeGraceMs, DEFAULT_CLOSE_GRACE_MS),
    signal: options.signal,
    onProgress: options.onProgress,
  };
}

export function newSid(prefix: 'AC' | 'CA' | 'MZ'): string {
  return prefix + randomBytes(16).toString('hex');
}

/** One line for a socket error; Node's happy-eyeballs AggregateError has an empty message. */
function describeSocketError(err: NodeJS.ErrnoException): string {
  const inner = err instanceof AggregateError ? (err.errors[0] as NodeJS.ErrnoException | undefined) : undefined;
  const message = err.message || inner?.message || '';
  const code = err.code ?? inner?.code;
  if (!message) return code ?? 'connection failed';
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

const SILENCE_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

function padFrame(frame: Buffer): Buffer {
  if (frame.length === FRAME_BYTES) return frame;
  const padded = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  frame.copy(padded);
  return padded;
}

/**
 * What the caller's handset does with the server's audio: plays it at 20 ms per 160 bytes
 * (scaled by speed; instantaneous when `speed` is null), echoes a mark once the audio queued
 * before it has played, and on clear drops unplayed audio and echoes every pending mark at once
 * (Twilio: clear "empties all buffered audio and causes any mark messages to be sent back").
 */
class PlaybackQueue {
  /** performance.now() instant the audio queued so far finishes playing. */
  private playheadFreeAt = 0;
  private readonly pendingMarks: Array<{ name: string; dueAt: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  audioClearedMs = 0;

  constructor(
    private readonly speed: number | null,
    private readonly onMarkPlayed: (name: string) => void,
  ) {}

  addAudio(bytes: number, now: number): void {
    if (this.speed === null || this.stopped) return;
    const wallMs = ((bytes / FRAME_BYTES) * FRAME_MS) / this.speed;
    this.playheadFreeAt = Math.max(this.playheadFreeAt, now) + wallMs;
  }

  addMark(name: string, now: number): void {
    if (this.stopped) return;
    const dueAt = this.speed === null ? now : Math.max(this.playheadFreeAt, now);
    // Marks keep their order: one behind a pending mark waits even if its own audio is done.
    if (dueAt <= now && this.pendingMarks.length === 0) {
      this.onMarkPlayed(name);
      return;
    }
    this.pendingMarks.push({ name, dueAt });
    this.schedule(now);
  }

  clear(now: number): void {
    if (this.stopped) return;
    if (this.speed !== null && this.playheadFreeAt > now) {
      this.audioClearedMs += (this.playheadFreeAt - now) * this.speed;
      this.playheadFreeAt = now;
    }
    this.cancelTimer();
    for (const mark of this.pendingMarks.splice(0)) this.onMarkPlayed(mark.name);
  }

  isDrained(now: number): boolean {
    return this.pendingMarks.length === 0 && this.playheadFreeAt <= now;
  }

  /** The call is over: nothing more plays or echoes. Returns the marks that never played. */
  stop(): number {
    this.stopped = true;
    this.cancelTimer();
    return this.pendingMarks.length;
  }

  private schedule(now: number): void {
    if (this.timer !== null || this.pendingMarks.length === 0) return;
    const head = this.pendingMarks[0]!;
    this.timer = setTimeout(() => this.fireDue(), Math.max(0, head.dueAt - now));
  }

  private fireDue(): void {
    this.timer = null;
    const now = performance.now();
    while (this.pendingMarks.length > 0 && this.pendingMarks[0]!.dueAt <= now) {
      this.onMarkPlayed(this.pendingMarks.shift()!.name);
    }
    this.schedule(now);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

class SimulatedCall {
  private readonly accountSid = newSid('AC');
  private readonly callSid = newSid('CA');
  private readonly streamSid = newSid('MZ');
  private readonly dialledAt = performance.now();
  private readonly startedAtIso = new Date().toISOString();
  private readonly deadline: number;
  /** Sending stops here so stop + close still fit inside timeoutMs. */
  private readonly tailCutoff: number;
  private readonly audioClock: FrameClock;
  private readonly playback: PlaybackQueue;
  /** Aborted when the call must stop sending: socket closed, deadline, or the caller's signal. */
  private readonly hangUp = new AbortController();
  /** Aborted once the socket has closed: cancels grace-period timers so nothing outlives the call. */
  private readonly socketClosed = new AbortController();

  private socket: WebSocket | null = null;
  private sequenceNumber = 0;
  private phase: CallProgress['phase'] = 'connecting';
  private opened = false;
  private closed = false;
  private closeInitiatedByCaller = false;
  private resolveClosed: () => void = () => {};
  private readonly closedPromise = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });
  private dtmfQueue: Array<{ frameIndex: number; digit: string }> = [];
  private endingOverride: CallEnding | null = null;

  private connectError: string | null = null;
  private socketError: string | null = null;
  private framesSent = 0;
  private audioFramesSent = 0;
  private dtmfDigitsSent = '';
  private stopSent = false;
  private startSentAt: number | null = null;
  private firstMediaSentAt: number | null = null;
  private firstAudioFrameAt: number | null = null;
  private lastAudioFrameAt: number | null = null;
  private framesReceived = 0;
  private bytesReceived = 0;
  private readonly receivedAudio: Buffer[] = [];
  private lastServerMediaAt: number | null = null;
  private firstAudioLatencyMs: number | null = null;
  private marksReceived = 0;
  private marksEchoed = 0;
  private marksPendingAtEnd = 0;
  private clearsReceived = 0;
  private tailCappedByTimeout = false;
  private closeCode: number | null = null;
  private closeReason = '';
  private closedAt: number | null = null;
  private readonly wireErrors = new Map<WireErrorKind, WireErrorSummary>();

  constructor(private readonly options: ResolvedOptions) {
    this.deadline = this.dialledAt + options.timeoutMs;
    const closeReserve = Math.min(options.closeGraceMs, options.timeoutMs / 4);
    this.tailCutoff = this.deadline - closeReserve;
    this.audioClock = new FrameClock(options.timing);
    const playbackSpeed = options.timing.mode === 'burst' ? null : options.timing.speed;
    this.playback = new PlaybackQueue(playbackSpeed, (name) => this.echoMark(name));
  }

  async run(): Promise<CallRecord> {
    const deadlineTimer = setTimeout(() => this.onDeadline(), this.options.timeoutMs);
    const onAbort = (): void => this.hangUpNow('aborted');
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.options.signal?.aborted) {
        this.connectError = 'aborted before dialling';
        return this.record();
      }
      const opened = await this.connect();
      if (opened) {
        await this.streamCall();
        await this.finishCall();
      } else {
        await this.closedPromise;
      }
      return this.record();
    } finally {
      clearTimeout(deadlineTimer);
      this.options.signal?.removeEventListener('abort', onAbort);
      this.playback.stop();
    }
  }

  // ---- connection ------------------------------------------------------------------------

  private connect(): Promise<boolean> {
    return new Promise((resolve) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(this.options.url, {
          handshakeTimeout: this.options.timeoutMs,
          perMessageDeflate: false,
        });
      } catch (err) {
        // Invalid URL and the like are thrown synchronously by the constructor.
        this.connectError = (err as Error).message;
        this.markClosed(null, '');
        resolve(false);
        return;
      }
      this.socket = socket;
      socket.on('open', () => {
        this.opened = true;
        this.sendConnectedAndStart();
        resolve(true);
      });
      socket.on('message', (data, isBinary) => this.onServerMessage(data, isBinary));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!this.opened) {
          // ECONNREFUSED, "Unexpected server response: 404", handshake timeout, DNS failure...
          this.connectError ??= describeSocketError(err);
        } else {
          this.socketError ??= err.message;
        }
      });
      socket.on('close', (code, reason) => {
        this.markClosed(code, reason.toString('utf8'));
        if (!this.opened) {
          this.connectError ??= 'connection closed before the WebSocket opened';
          resolve(false);
        }
      });
    });
  }

  private markClosed(code: number | null, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = performance.now();
    this.closeCode = code;
    this.closeReason = reason;
    this.hangUp.abort();
    this.socketClosed.abort();
    this.marksPendingAtEnd = this.playback.stop();
    this.resolveClosed();
  }

  // ---- sending -----------------------------------------------------------------------------

  private send(message: TwilioInboundMessage): boolean {
    const socket = this.socket;
    if (!socket || this.closed || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  private nextSequenceNumber(): string {
    this.sequenceNumber += 1;
    return String(this.sequenceNumber);
  }

  private sendConnectedAndStart(): void {
    const connected: ConnectedMessage = { event: 'connected', protocol: 'Call', version: '1.0.0' };
    this.send(connected);
    const start: StartMessage = {
      event: 'start',
      sequenceNumber: this.nextSequenceNumber(),
      streamSid: this.streamSid,
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: ['inbound'],
        customParameters: this.options.customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
      },
    };
    this.send(start);
    this.startSentAt = performance.now();
    this.scheduleDtmf();
    if (this.options.earlyMedia) {
      // Same tick as start: these frames reach the server back to back with it.
      this.phase = 'audio';
      this.audioClock.start(this.startSentAt);
      const early = Math.min(EARLY_MEDIA_FRAMES, this.options.frames.length);
      for (let n = 0; n < early; n += 1) this.sendFrame(n, this.options.frames[n]!, true);
    }
  }

  private scheduleDtmf(): void {
    const digits = this.options.dtmfDigits;
    if (digits === '') return;
    const firstFrame =
      this.options.dtmfAtMs === null ? this.options.frames.length : Math.ceil(this.options.dtmfAtMs / FRAME_MS);
    const spacingFrames = Math.round(DTMF_DIGIT_SPACING_MS / FRAME_MS);
    this.dtmfQueue = [...digits].map((digit, i) => ({ frameIndex: firstFrame + i * spacingFrames, digit }));
  }

  /** Media frame `n` of the whole call (audio then tail); DTMF due at or before it goes first. */
  private sendFrame(n: number, frame: Buffer, isAudio: boolean): void {
    while (this.dtmfQueue.length > 0 && this.dtmfQueue[0]!.frameIndex <= n) {
      const { digit } = this.dtmfQueue.shift()!;
      const dtmf: DtmfMessage = {
        event: 'dtmf',
        sequenceNumber: this.nextSequenceNumber(),
        streamSid: this.streamSid,
        dtmf: { track: 'inbound_track', digit },
      };
      if (this.send(dtmf)) this.dtmfDigitsSent += digit;
    }
    const startDelayMs = this.options.earlyMedia ? 0 : this.options.startDelayMs;
    const media: MediaMessage = {
      event: 'media',
      sequenceNumber: this.nextSequenceNumber(),
      streamSid: this.streamSid,
      media: {
        track: 'inbound',
        chunk: String(n + 1),
        // Audio time since start, as Twilio stamps it: independent of how fast we replay.
        timestamp: String(Math.round(startDelayMs + n * FRAME_MS)),
        payload: padFrame(frame).toString('base64'),
      },
    };
    if (!this.send(media)) return;
    const now = performance.now();
    this.framesSent += 1;
    this.firstMediaSentAt ??= now;
    if (isAudio) {
      this.audioFramesSent += 1;
      this.firstAudioFrameAt ??= now;
      this.lastAudioFrameAt = now;
    }
    this.reportProgress();
  }

  private reportProgress(): void {
    this.options.onProgress?.({
      phase: this.phase,
      elapsedMs: performance.now() - this.dialledAt,
      framesSent: this.framesSent,
      audioFramesSent: this.audioFramesSent,
      audioFrames: this.options.frames.length,
      framesReceived: this.framesReceived,
    });
  }

  private get sendingStopped(): boolean {
    return this.hangUp.signal.aborted;
  }

  private async streamCall(): Promise<void> {
    const { frames, timing } = this.options;
    const signal = this.hangUp.signal;
    let n = 0;
    if (this.options.earlyMedia) {
      n = Math.min(EARLY_MEDIA_FRAMES, frames.length);
    } else {
      // "start, then wait": the first frame goes out on a later tick (or after startDelayMs).
      await sleep(this.options.startDelayMs, signal);
      this.phase = 'audio';
      this.audioClock.start();
    }
    for (; n < frames.length; n += 1) {
      await this.audioClock.waitForFrame(n, signal);
      if (this.sendingStopped) return;
      this.sendFrame(n, frames[n]!, true);
    }

    // Tail: the caller waits on the line, sending silence, while the agent answers. It is paced
    // in real time even in burst mode: a server's turn detection may run on the wall clock.
    this.phase = 'tail';
    const tailClock = timing.mode === 'burst' ? new FrameClock(REALTIME) : this.audioClock;
    const tailFrameOffset = timing.mode === 'burst' ? frames.length : 0;
    if (timing.mode === 'burst') tailClock.start();
    for (; ; n += 1) {
      await tailClock.waitForFrame(n - tailFrameOffset, signal);
      if (this.sendingStopped) return;
      const now = performance.now();
      if (this.tailIsOver(n, now)) return;
      if (now >= this.tailCutoff) {
        this.tailCappedByTimeout = true;
        return;
      }
      this.sendFrame(n, SILENCE_FRAME, false);
    }
  }

  private tailIsOver(frameIndex: number, now: number): boolean {
    const tailAudioMs = (frameIndex - this.options.frames.length) * FRAME_MS;
    if (tailAudioMs < this.options.tailMs) return false;
    if (this.dtmfQueue.length > 0) return false;
    if (this.lastServerMediaAt !== null && now - this.lastServerMediaAt < this.options.quietMs) return false;
    return this.playback.isDrained(now);
  }

  private async finishCall(): Promise<void> {
    this.phase = 'hanging-up';
    if (!this.closed && !this.stopSent) this.sendStop();
    // Twilio's side is done; a well-behaved server closes the socket once it has seen stop.
    await sleep(this.options.closeGraceMs, this.socketClosed.signal);
    if (!this.closed) this.closeFromCaller(1000, 'stream stopped');
    await sleep(this.options.closeGraceMs, this.socketClosed.signal);
    if (!this.closed) {
      this.socket?.terminate();
      await this.closedPromise;
    }
  }

  private sendStop(): void {
    // Audio not yet played when the caller hangs up is never played, and its marks never echo.
    this.marksPendingAtEnd = this.playback.stop();
    const stop: StopMessage = {
      event: 'stop',
      sequenceNumber: this.nextSequenceNumber(),
      streamSid: this.streamSid,
      stop: { accountSid: this.accountSid, callSid: this.callSid },
    };
    if (this.send(stop)) this.stopSent = true;
  }

  private closeFromCaller(code: number, reason: string): void {
    if (this.closed || !this.socket) return;
    this.closeInitiatedByCaller = true;
    this.socket.close(code, reason);
  }

  /** Deadline or abort: stop sending, send stop if not yet, close, and terminate if that stalls. */
  private hangUpNow(ending: CallEnding): void {
    if (this.closed) return;
    if (!this.stopSent) this.endingOverride ??= ending;
    this.hangUp.abort();
    if (!this.opened) {
      this.connectError ??= ending === 'timeout' ? `timed out after ${this.options.timeoutMs} ms` : 'aborted';
      this.closeInitiatedByCaller = true;
      this.socket?.terminate();
      return;
    }
    if (!this.stopSent) this.sendStop();
    this.closeFromCaller(1000, ending === 'timeout' ? 'call timed out' : 'caller hung up');
    const terminateTimer = setTimeout(() => this.socket?.terminate(), this.options.closeGraceMs);
    void this.closedPromise.then(() => clearTimeout(terminateTimer));
  }

  private onDeadline(): void {
    this.hangUpNow('timeout');
  }

  // ---- receiving ---------------------------------------------------------------------------

  private noteWireError(kind: WireErrorKind, example: string): void {
    const existing = this.wireErrors.get(kind);
    if (existing) existing.count += 1;
    else this.wireErrors.set(kind, { kind, count: 1, example });
  }

  private onServerMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const raw = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const parsed = parseServerMessage(raw, isBinary);
    if (!parsed.ok) {
      this.noteWireError(parsed.error.code, parsed.error.message);
      return;
    }
    const message = parsed.message;
    const now = performance.now();
    if (message.streamSid !== this.streamSid) {
      // Twilio drops messages for another stream (warning 31951); so does the caller's phone.
      this.noteWireError(
        'wrong_stream_sid',
        `${message.event} message with streamSid ${JSON.stringify(message.streamSid)}; this stream is ${this.streamSid}`,
      );
      return;
    }
    switch (message.event) {
      case 'media': {
        const audio = Buffer.from(message.media.payload, 'base64');
        this.framesReceived += 1;
        this.bytesReceived += audio.length;
        this.receivedAudio.push(audio);
        this.lastServerMediaAt = now;
        if (this.firstAudioLatencyMs === null) {
          const reference = this.firstMediaSentAt ?? this.startSentAt ?? now;
          this.firstAudioLatencyMs = Math.max(0, now - reference);
        }
        this.playback.addAudio(audio.length, now);
        break;
      }
      case 'mark':
        this.marksReceived += 1;
        this.playback.addMark(message.mark.name, now);
        break;
      case 'clear':
        this.clearsReceived += 1;
        this.playback.clear(now);
        break;
    }
  }

  private echoMark(name: string): void {
    if (this.stopSent) return;
    const mark: MarkMessage = {
      event: 'mark',
      sequenceNumber: this.nextSequenceNumber(),
      streamSid: this.streamSid,
      mark: { name },
    };
    if (this.send(mark)) this.marksEchoed += 1;
  }

  // ---- result ------------------------------------------------------------------------------

  private ending(): CallEnding {
    if (!this.opened) return 'connect_failed';
    if (this.endingOverride) return this.endingOverride;
    if (!this.stopSent) return 'server_closed';
    return 'completed';
  }

  private record(): CallRecord {
    const closedBy = !this.opened ? null : this.closeInitiatedByCaller ? 'caller' : 'server';
    const { audioFramesSent } = this;
    return {
      url: this.options.url,
      direction: this.options.direction,
      accountSid: this.accountSid,
      callSid: this.callSid,
      streamSid: this.streamSid,
      customParameters: { ...this.options.customParameters },
      connected: this.opened,
      connectError: this.connectError,
      ending: this.ending(),
      framesSent: this.framesSent,
      audioFramesSent,
      silenceFramesSent: this.framesSent - audioFramesSent,
      dtmfDigitsSent: this.dtmfDigitsSent,
      stopSent: this.stopSent,
      framesReceived: this.framesReceived,
      bytesReceived: this.bytesReceived,
      receivedAudio: this.receivedAudio,
      marksReceived: this.marksReceived,
      marksEchoed: this.marksEchoed,
      marksPendingAtEnd: this.marksPendingAtEnd,
      clearsReceived: this.clearsReceived,
      audioClearedMs: Math.round(this.playback.audioClearedMs),
      firstAudioLatencyMs: this.firstAudioLatencyMs === null ? null : Math.round(this.firstAudioLatencyMs),
      audioSendMs:
        this.firstAudioFrameAt === null || this.lastAudioFrameAt === null
          ? null
          : Math.round(this.lastAudioFrameAt - this.firstAudioFrameAt),
      tailCappedByTimeout: this.tailCappedByTimeout,
      durationMs: Math.round((this.closedAt ?? performance.now()) - this.dialledAt),
      closeCode: this.closeCode,
      closeReason: this.closeReason,
      closedBy,
      serverClosedBeforeStop: closedBy === 'server' && !this.stopSent,
      socketError: this.socketError,
      wireErrors: [...this.wireErrors.values()],
      startedAt: this.startedAtIso,
    };
  }
}

/** Dial `url` as Twilio would and run one call to the end. Rejects only for invalid options. */
export async function placeCall(options: PlaceCallOptions): Promise<CallRecord> {
  const call = new SimulatedCall(resolveOptions(options));
  return call.run();
}
