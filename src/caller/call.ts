// One fake-Twilio stream: dials a Media Streams WebSocket and behaves like Twilio's side of it.
// A bidirectional <Connect><Stream>: connected, start, paced inbound media, optional DTMF, a tail
// of line silence while the agent answers, then stop; the agent's audio goes to the handset
// (playback.ts), which echoes marks (one network delay later, network.ts) and honours clear. A
// <Start><Stream> fork: the same pacing on the tracks it asked for, and nothing taken back.
// Everything is counted in the call's ledger (record.ts). It speaks carrier-neutral call events
// through a CarrierSerializer (the Twilio one), never Twilio JSON. It never rejects for network
// trouble and never hangs: connection failures and timeouts come back as fields of the CallRecord.
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../audio/format.js';
import { watermarkFrame } from '../audio/watermark.js';
import { TwilioCarrierSerializer, newStreamIds, type AgentEvent, type CallerEvent, type CarrierSerializer, type MediaTrack, type StreamIds } from '../twilio/codec.js';
import { FrameClock, REALTIME, sleep } from './clock.js';
import { MediaLine } from './line.js';
import { CallNetwork, DelayedSender, describeNetworkDelay, seedFrom } from './network.js';
import { DTMF_DIGIT_SPACING_MS, EARLY_MEDIA_FRAMES, resolveOptions, type CallProgress, type PlaceCallOptions, type ResolvedOptions } from './options.js';
import { PlaybackQueue } from './playback.js';
import { CallLedger, toCallRecord, type CallEnding, type CallRecord } from './record.js';
import { CallTimeline } from './timeline.js';

// The names this module has always exported stay importable from here.
export {
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_QUIET_MS,
  DEFAULT_TAIL_MS,
  DEFAULT_TIMEOUT_MS,
  DTMF_DIGITS,
  DTMF_DIGIT_SPACING_MS,
  EARLY_MEDIA_FRAMES,
  type CallProgress,
  type DtmfPlan,
  type PlaceCallOptions,
  type StreamShape,
} from './options.js';
export type { CallEnding, CallRecord, WireErrorKind, WireErrorSummary } from './record.js';
export { newSid } from '../twilio/codec.js';

/** WebSocket close code 1000 (RFC 6455 §7.4.1): the caller hangs up cleanly. */
const NORMAL_CLOSURE = 1000;
/** At most this share of timeoutMs is kept back from the tail so stop and close still fit. */
const CLOSE_RESERVE_SHARE = 1 / 4;

const SILENCE_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

function padFrame(frame: Buffer): Buffer {
  if (frame.length === FRAME_BYTES) return frame;
  const padded = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  frame.copy(padded);
  return padded;
}

/** Caller frame `n` as it goes on the wire: padded, and watermarked when the call is. */
function callerPayload(options: ResolvedOptions, n: number, frame: Buffer): Buffer {
  const padded = padFrame(frame);
  return options.watermark === null ? padded : watermarkFrame(padded, options.watermark, n);
}

/** Each digit of the call's DTMF plan with the media frame it goes out before. */
function dtmfSchedule(options: ResolvedOptions): Array<{ frameIndex: number; digit: string }> {
  const firstFrame = options.dtmfAtMs === null ? options.frames.length : Math.ceil(options.dtmfAtMs / FRAME_MS);
  const spacingFrames = Math.round(DTMF_DIGIT_SPACING_MS / FRAME_MS);
  return [...options.dtmfDigits].map((digit, i) => ({ frameIndex: firstFrame + i * spacingFrames, digit }));
}

class SimulatedCall {
  private readonly ids: Readonly<StreamIds>;
  private readonly tracks: readonly MediaTrack[];
  private readonly carrier: CarrierSerializer;
  private readonly network: CallNetwork;
  /** Mark echoes on their way back to the server. */
  private readonly echoes: DelayedSender;
  private readonly ledger = new CallLedger();
  private readonly dialledAt = performance.now();
  private readonly timeline = new CallTimeline(this.dialledAt);
  private readonly startedAtIso = new Date().toISOString();
  /** Sending stops here so stop + close still fit inside timeoutMs. */
  private readonly tailCutoff: number;
  private readonly audioClock: FrameClock;
  private readonly playback: PlaybackQueue;
  /** Aborted when the call must stop sending: socket closed, deadline, or the caller's signal. */
  private readonly hangUp = new AbortController();
  /** Aborted once the socket has closed: cancels grace-period timers so nothing outlives the call. */
  private readonly socketClosed = new AbortController();
  private readonly line: MediaLine;
  private phase: CallProgress['phase'] = 'connecting';
  private stopSent = false;
  private playbackEnded = false;
  private dtmfQueue: Array<{ frameIndex: number; digit: string }> = [];
  private endingOverride: CallEnding | null = null;

  constructor(private readonly options: ResolvedOptions) {
    this.ids = options.ids ?? newStreamIds();
    this.tracks = options.stream.kind === 'fork' ? options.stream.tracks : ['inbound'];
    this.carrier = new TwilioCarrierSerializer(this.ids, { tracks: this.tracks });
    this.network = new CallNetwork(options.networkDelay, options.networkSeed ?? seedFrom(this.ids.callSid));
    this.echoes = new DelayedSender(this.network, () => performance.now());
    const closeReserve = Math.min(options.closeGraceMs, options.timeoutMs * CLOSE_RESERVE_SHARE);
    this.tailCutoff = this.dialledAt + options.timeoutMs - closeReserve;
    this.audioClock = new FrameClock(options.timing);
    const playbackSpeed = options.timing.mode === 'burst' ? null : options.timing.speed;
    this.playback = new PlaybackQueue(playbackSpeed, (name) => this.echoMark(name));
    // Twilio never sends faster than real time, so a burst's backlog is the test's own: no drops.
    const congestionLimitMs = options.timing.mode === 'burst' ? null : options.congestionMs / options.timing.speed;
    this.line = new MediaLine(
      {
        onOpen: () => this.sendConnectedAndStart(),
        onMessage: (raw, isBinary) => this.onServerMessage(raw, isBinary),
        onClosed: () => this.onLineClosed(),
      },
      congestionLimitMs,
    );
  }

  async run(): Promise<CallRecord> {
    const deadlineTimer = setTimeout(() => this.hangUpNow('timeout'), this.options.timeoutMs);
    const onAbort = (): void => this.hangUpNow('aborted');
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.options.signal?.aborted) {
        this.line.connectError = 'aborted before dialling';
        return this.record();
      }
      const opened = await this.line.dial(this.options.url, this.options.timeoutMs, this.options.headers);
      if (opened) {
        await this.streamCall();
        await this.finishCall();
      } else {
        await this.line.closed;
      }
      return this.record();
    } finally {
      clearTimeout(deadlineTimer);
      this.options.signal?.removeEventListener('abort', onAbort);
      this.endPlayback();
    }
  }

  private onLineClosed(): void {
    this.hangUp.abort();
    this.socketClosed.abort();
    this.endPlayback();
    const { opened, closedByCaller, closeCode, closeReason } = this.line;
    const how = `${closedByCaller ? 'caller' : 'server'} closed, code ${closeCode ?? 'none'}${closeReason ? ` "${closeReason}"` : ''}`;
    this.timeline.event(performance.now(), 'call', 'close', opened ? how : 'the stream never opened');
  }

  /** Nothing more plays or echoes; the marks never echoed (unplayed, or still on the wire) are counted once. */
  private endPlayback(): void {
    if (this.playbackEnded) return;
    this.playbackEnded = true;
    this.ledger.marksPendingAtEnd = this.playback.stop() + this.echoes.stop();
  }

  // ---- sending -----------------------------------------------------------------------------

  private send(event: CallerEvent): boolean {
    // Nothing is built for a line that is not open: a closed line never reopens.
    return this.line.state === 'open' && this.line.send(this.carrier.serialize(event));
  }

  private sendConnectedAndStart(): void {
    this.timeline.event(performance.now(), 'call', 'connected');
    this.send({ type: 'connected' });
    this.send({ type: 'start', customParameters: this.options.customParameters });
    this.ledger.startSentAt = performance.now();
    this.timeline.event(this.ledger.startSentAt, 'caller', 'start');
    this.dtmfQueue = dtmfSchedule(this.options);
    if (this.options.earlyMedia) {
      // Same tick as start: these frames reach the server back to back with it.
      this.phase = 'audio';
      this.audioClock.start(this.ledger.startSentAt);
      const early = Math.min(EARLY_MEDIA_FRAMES, this.options.frames.length);
      for (let n = 0; n < early; n += 1) this.sendFrame(n, this.options.frames[n]!, true);
    }
  }

  /**
   * Media frame `n` of the whole call (audio then tail) on every track the stream carries; DTMF
   * due at or before it goes first. A frame the line discards under congestion is never built.
   */
  private sendFrame(n: number, frame: Buffer, isAudio: boolean): void {
    while (this.dtmfQueue.length > 0 && this.dtmfQueue[0]!.frameIndex <= n) {
      const { digit } = this.dtmfQueue.shift()!;
      if (this.send({ type: 'dtmf', digit })) {
        this.ledger.dtmfDigitsSent += digit;
        this.timeline.event(performance.now(), 'caller', 'dtmf', digit);
      }
    }
    const startDelayMs = this.options.earlyMedia ? 0 : this.options.startDelayMs;
    // Audio time since start, as Twilio stamps it: independent of how fast we replay.
    const timestampMs = startDelayMs + n * FRAME_MS;
    for (const track of this.tracks) {
      const now = performance.now();
      const admitted = this.line.admitMedia(now);
      if (admitted === 'closed') return;
      if (admitted === 'dropped') {
        this.ledger.mediaDropped(track);
        continue;
      }
      const audio = track === 'inbound' ? callerPayload(this.options, n, frame) : padFrame(this.options.agentFrames[n] ?? SILENCE_FRAME);
      if (!this.send({ type: 'audio', payload: audio.toString('base64'), timestampMs, track })) return;
      if (track === 'inbound') {
        this.ledger.mediaSent(now, isAudio, this.options.watermark === null ? null : audio);
        this.timeline.callerFrame(now, audio);
      } else this.ledger.outboundTrackFramesSent += 1;
    }
    this.reportProgress();
  }

  private reportProgress(): void {
    this.options.onProgress?.({
      phase: this.phase,
      elapsedMs: performance.now() - this.dialledAt,
      framesSent: this.ledger.framesSent,
      audioFramesSent: this.ledger.audioFramesSent,
      audioFrames: this.options.frames.length,
      framesReceived: this.ledger.framesReceived,
    });
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
      if (signal.aborted) return;
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
      if (signal.aborted) return;
      const now = performance.now();
      if (this.tailIsOver(n, now)) return;
      if (now >= this.tailCutoff) {
        this.ledger.tailCappedByTimeout = true;
        return;
      }
      this.sendFrame(n, SILENCE_FRAME, false);
    }
  }

  private tailIsOver(frameIndex: number, now: number): boolean {
    const tailAudioMs = (frameIndex - this.options.frames.length) * FRAME_MS;
    if (tailAudioMs < this.options.tailMs) return false;
    if (this.dtmfQueue.length > 0) return false;
    const lastServerMediaAt = this.ledger.lastServerMediaAt;
    if (lastServerMediaAt !== null && now - lastServerMediaAt < this.options.quietMs) return false;
    // Played is not yet heard of: a mark echo still on the wire keeps the caller on the line.
    return this.playback.isDrained(now) && this.echoes.inFlight === 0;
  }

  private async finishCall(): Promise<void> {
    this.phase = 'hanging-up';
    if (this.line.state !== 'closed' && !this.stopSent) this.sendStop();
    // Twilio's side is done; a well-behaved server closes the socket once it has seen stop.
    await sleep(this.options.closeGraceMs, this.socketClosed.signal);
    this.line.close(NORMAL_CLOSURE, 'stream stopped');
    await sleep(this.options.closeGraceMs, this.socketClosed.signal);
    if (this.line.state !== 'closed') {
      this.line.terminate();
      await this.line.closed;
    }
  }

  private sendStop(): void {
    // Audio not yet played when the caller hangs up is never played, and its marks never echo.
    this.endPlayback();
    if (this.send({ type: 'hangup' })) {
      this.stopSent = true;
      this.timeline.event(performance.now(), 'caller', 'stop');
    }
  }

  /** Deadline or abort: stop sending, send stop if not yet, close, and terminate if that stalls. */
  private hangUpNow(ending: CallEnding): void {
    if (this.line.state === 'closed') return;
    if (!this.stopSent) this.endingOverride ??= ending;
    this.hangUp.abort();
    if (this.line.state === 'dialling') {
      this.line.abandonDial(ending === 'timeout' ? `timed out after ${this.options.timeoutMs} ms` : 'aborted');
      return;
    }
    if (!this.stopSent) this.sendStop();
    this.line.close(NORMAL_CLOSURE, ending === 'timeout' ? 'call timed out' : 'caller hung up');
    const terminateTimer = setTimeout(() => this.line.terminate(), this.options.closeGraceMs);
    void this.line.closed.then(() => clearTimeout(terminateTimer));
  }

  // ---- receiving ---------------------------------------------------------------------------

  private onServerMessage(raw: Buffer, isBinary: boolean): void {
    const decoded = this.carrier.deserialize(raw, isBinary);
    // Twilio drops what it cannot use (warning 31951 for another stream's); so does the phone.
    if (!decoded.ok) {
      this.ledger.wireError(decoded.error.code, decoded.error.message);
      this.timeline.event(performance.now(), 'agent', 'wire-error', decoded.error.code);
    }
    // A fork takes nothing back: media, mark or clear on it is Twilio's error 31924.
    else if (this.options.stream.kind === 'fork') this.ledger.wireError('message_on_fork', `a ${decoded.event.type === 'audio' ? 'media' : decoded.event.type} message on a <Start><Stream> fork`);
    else this.onAgentEvent(decoded.event, performance.now());
  }

  private onAgentEvent(event: AgentEvent, now: number): void {
    switch (event.type) {
      case 'audio': {
        const audio = Buffer.from(event.payload, 'base64');
        this.ledger.audioReceived(audio, now);
        this.playback.addAudio(audio.length, now);
        this.timeline.agentFrame(now, audio);
        break;
      }
      case 'mark':
        this.ledger.marksReceived += 1;
        this.timeline.event(now, 'agent', 'mark-received', event.name);
        this.playback.addMark(event.name, now);
        break;
      case 'clear': {
        this.ledger.clearsReceived += 1;
        const clearedBefore = this.playback.audioClearedMs;
        this.playback.clear(now);
        this.timeline.event(now, 'agent', 'clear', '', this.playback.audioClearedMs - clearedBefore);
        break;
      }
    }
  }

  /** The mark's audio has played; its echo reaches the server one network delay later. */
  private echoMark(name: string): void {
    if (this.stopSent) return;
    this.echoes.send(() => {
      if (!this.stopSent && this.send({ type: 'mark-played', name })) {
        this.ledger.marksEchoed += 1;
        this.timeline.event(performance.now(), 'caller', 'mark-echoed', name);
      }
    });
  }

  // ---- result ------------------------------------------------------------------------------

  private ending(): CallEnding {
    if (!this.line.opened) return 'connect_failed';
    if (this.endingOverride) return this.endingOverride;
    if (!this.stopSent) return 'server_closed';
    return 'completed';
  }

  private record(): CallRecord {
    const line = this.line;
    return toCallRecord(this.ledger, this.timeline.data(), {
      url: this.options.url,
      direction: this.options.direction,
      ids: this.ids,
      customParameters: this.options.customParameters,
      streamKind: this.options.stream.kind,
      tracks: this.tracks,
      network: { markEchoDelay: describeNetworkDelay(this.network.delay), seed: this.network.seed },
      connected: line.opened,
      connectError: line.connectError,
      ending: this.ending(),
      stopSent: this.stopSent,
      closedBy: !line.opened ? null : line.closedByCaller ? 'caller' : 'server',
      closeCode: line.closeCode,
      closeReason: line.closeReason,
      socketError: line.socketError,
      durationMs: (line.closedAt ?? performance.now()) - this.dialledAt,
      audioClearedMs: this.playback.audioClearedMs,
      startedAt: this.startedAtIso,
      watermark: this.options.watermark,
      playback: this.playback.log(),
    });
  }
}

/** Dial `url` as Twilio would and run one stream to the end. Rejects only for invalid options. */
export async function placeCall(options: PlaceCallOptions): Promise<CallRecord> {
  const call = new SimulatedCall(resolveOptions(options));
  return call.run();
}
