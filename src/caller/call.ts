// One fake-Twilio stream: dials a Media Streams WebSocket and behaves like Twilio's side of it.
// A bidirectional <Connect><Stream>: connected, start, paced inbound media, optional DTMF, a tail
// of line silence while the agent answers, then stop; or, with a voice (voice.ts: a scenario),
// whatever the caller says frame by frame until it hangs up. The agent's audio goes to the
// handset (playback.ts), which echoes marks (one network delay later, network.ts) and honours
// clear, and to the caller's ear (heard.ts). A <Start><Stream> fork: the same pacing on the
// tracks it asked for, and nothing taken back. Both directions cross the bad line when there is
// one (wire.ts). Everything is counted in the call's ledger (record.ts). It speaks carrier-neutral
// call events through a CarrierSerializer (the Twilio one), never Twilio JSON. It never rejects
// for network trouble and never hangs: connection failures and timeouts come back as fields of
// the CallRecord.
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES, FRAME_MS, MULAW_BYTES_PER_MS, MULAW_SILENCE } from '../audio/format.js';
import { TwilioCarrierSerializer, newStreamIds, type CarrierSerializer, type MediaTrack, type StreamIds } from '../twilio/codec.js';
import { FrameClock, REALTIME, sleep, yieldToEventLoop } from './clock.js';
import { Handset } from './handset.js';
import { MediaLine } from './line.js';
import { seedFrom } from '../random.js';
import { CallNetwork, describeNetworkDelay, isCleanLine } from './network.js';
import { Mouthpiece } from './mouthpiece.js';
import { EARLY_MEDIA_FRAMES, resolveOptions, type CallProgress, type PlaceCallOptions, type ResolvedOptions } from './options.js';
import { CallLedger, toCallRecord, type CallEnding, type CallRecord } from './record.js';
import { MAX_RECORDING_MS } from './recording.js';
import { CallTape } from './tape.js';
import { CallTimeline } from './timeline.js';
import type { CallerVoice, VoiceFrame } from './voice.js';
import { CallWire } from './wire.js';

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

/** A burst call's voice hands the event loop a turn this often, so the server's replies are read. */
const BURST_YIELD_EVERY_FRAMES = 16;
const SILENCE_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

class SimulatedCall {
  private readonly ids: Readonly<StreamIds>;
  private readonly tracks: readonly MediaTrack[];
  private readonly carrier: CarrierSerializer;
  private readonly network: CallNetwork;
  private readonly wire: CallWire;
  /** The receiving half of the phone: plays the agent, echoes marks, honours clear; the caller's ear. */
  private readonly handset: Handset;
  /** The sending half: frames, DTMF, loss and congestion. */
  private readonly mouthpiece: Mouthpiece;
  private readonly tape: CallTape | null;
  /** The scripted caller, when there is one (a scenario); null for a plain replay. */
  private readonly voice: CallerVoice | null;
  private readonly ledger: CallLedger;
  private readonly dialledAt = performance.now();
  /** What happened when, on the epoch-ms clock, for the reports' timeline. */
  private readonly timeline = new CallTimeline(this.dialledAt);
  private readonly startedAtIso = new Date().toISOString();
  /** Sending stops here so stop + close still fit inside timeoutMs. */
  private readonly tailCutoff: number;
  private readonly audioClock: FrameClock;
  /** Aborted when the call must stop sending: socket closed, deadline, or the caller's signal. */
  private readonly hangUp = new AbortController();
  /** Aborted once the socket has closed: cancels grace-period timers so nothing outlives the call. */
  private readonly socketClosed = new AbortController();
  private readonly line: MediaLine;
  private phase: CallProgress['phase'] = 'connecting';
  private stopSent = false;
  /** When the caller's own plan hung up (its tail over, its voice done): stop is due then, not when the event loop got to it. */
  private hangUpDueAt: number | null = null;
  /** The voice's last frame held speech (a burst sends the next one at once). */
  private lastVoiceFrameWasSpeech = false;
  /** The voice hung up during the early-media frames. */
  private voiceHungUp = false;
  private endingOverride: CallEnding | null = null;

  constructor(private readonly options: ResolvedOptions) {
    this.ids = options.ids ?? newStreamIds();
    this.tracks = options.stream.kind === 'fork' ? options.stream.tracks : ['inbound'];
    this.carrier = new TwilioCarrierSerializer(this.ids, { tracks: this.tracks });
    this.network = new CallNetwork(options.networkDelay, options.networkSeed ?? seedFrom(this.ids.callSid), options.badLine);
    this.ledger = new CallLedger(options.keepAudioBytes);
    const closeReserve = Math.min(options.closeGraceMs, options.timeoutMs * CLOSE_RESERVE_SHARE);
    this.tailCutoff = this.dialledAt + options.timeoutMs - closeReserve;
    this.audioClock = new FrameClock(options.timing);
    // A scripted caller listens, so its handset plays in real time even when its words go in a burst.
    const listening = options.voice !== null;
    const playbackSpeed = options.timing.mode === 'burst' ? (listening ? 1 : null) : options.timing.speed;
    // Only a recording plays back what the caller heard, and at most MAX_RECORDING_MS of it.
    const keepHeardBytes = options.keepTape ? MAX_RECORDING_MS * MULAW_BYTES_PER_MS : 0;
    this.handset = new Handset(playbackSpeed, this.network, this.ledger, this.timeline, (name) => this.echoMark(name), () => performance.now(), keepHeardBytes);
    this.tape = options.keepTape ? new CallTape(this.dialledAt) : null;
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
    this.wire = new CallWire(this.line, this.carrier, this.network, this.tape, () => performance.now());
    this.mouthpiece = new Mouthpiece({ options, tracks: this.tracks, network: this.network, line: this.line, wire: this.wire, ledger: this.ledger, tape: this.tape, timeline: this.timeline });
    this.voice = options.voice?.(this.handset.ear()) ?? null;
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
    this.wire.stop();
    this.endPlayback();
    const { opened, closedByCaller, closeCode, closeReason } = this.line;
    const how = `${closedByCaller ? 'caller' : 'server'} closed, code ${closeCode ?? 'none'}${closeReason ? ` "${closeReason}"` : ''}`;
    this.timeline.event(performance.now(), 'call', 'close', opened ? how : 'the stream never opened');
  }

  /** Nothing more plays or echoes; the marks never echoed (unplayed, or still on the wire) are counted once. */
  private endPlayback(): void {
    this.handset.end();
  }

  // ---- sending -----------------------------------------------------------------------------

  private sendConnectedAndStart(): void {
    // The schedule's zero: frames are due from here, whatever the event loop does meanwhile.
    const origin = performance.now();
    if (this.tape !== null) this.tape.origin = origin;
    this.timeline.event(origin, 'call', 'connected');
    this.wire.send({ type: 'connected' }, origin);
    this.wire.send({ type: 'start', customParameters: this.options.customParameters }, origin);
    this.ledger.startSentAt = origin;
    this.timeline.event(origin, 'caller', 'start');
    this.mouthpiece.planDtmf();
    if (this.options.earlyMedia) {
      // Same tick as start: these frames reach the server back to back with it.
      this.phase = 'audio';
      this.audioClock.start(origin);
      if (this.voice !== null) {
        for (let n = 0; n < EARLY_MEDIA_FRAMES && !this.voiceHungUp; n += 1) this.voiceHungUp = !this.sendVoiceFrame(n, origin);
        return;
      }
      const early = Math.min(EARLY_MEDIA_FRAMES, this.options.frames.length);
      for (let n = 0; n < early; n += 1) this.sendFrame(n, this.options.frames[n]!, true, origin);
    }
  }

  private sendFrame(n: number, frame: Buffer, isAudio: boolean, dueAt: number): void {
    if (!this.mouthpiece.sendFrame(n, frame, isAudio, dueAt) || this.options.onProgress === undefined) return;
    const { framesSent, audioFramesSent, framesReceived } = this.ledger;
    this.options.onProgress({ phase: this.phase, elapsedMs: performance.now() - this.dialledAt, framesSent, audioFramesSent, audioFrames: this.options.frames.length, framesReceived });
  }

  /** Asks the voice for frame `n` and sends it; false once the caller hangs up. */
  private sendVoiceFrame(n: number, dueAt: number): boolean {
    const said: VoiceFrame | 'hangup' = this.voice!.next(n, dueAt);
    if (said === 'hangup') {
      this.hangUpDueAt = dueAt;
      return false;
    }
    if (said.digit !== undefined) this.mouthpiece.sendDigit(said.digit, dueAt);
    this.lastVoiceFrameWasSpeech = said.speech;
    this.sendFrame(n, said.audio, said.speech, dueAt);
    return true;
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
      // Anchored on the schedule, not on when the sleep woke: the same call is due at the same times.
      this.audioClock.start((this.ledger.startSentAt ?? performance.now()) + this.options.startDelayMs);
    }
    if (this.voice !== null) return this.voiceHungUp ? undefined : this.streamVoice(this.options.earlyMedia ? EARLY_MEDIA_FRAMES : 0);
    for (; n < frames.length; n += 1) {
      await this.audioClock.waitForFrame(n, signal);
      if (signal.aborted) return;
      this.sendFrame(n, frames[n]!, true, this.audioClock.dueAt(n));
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
      if (this.tailIsOver(n, now)) {
        this.hangUpDueAt = tailClock.dueAt(n - tailFrameOffset);
        return;
      }
      if (now >= this.tailCutoff) return this.reachedCutoff(now);
      this.sendFrame(n, SILENCE_FRAME, false, tailClock.dueAt(n - tailFrameOffset));
    }
  }

  /**
   * A scripted caller: every frame is what the voice says at its due time, until it hangs up.
   * Paced at the call's speed; in a burst the caller's words go at once and the silence between
   * them in real time (a server's turn detection may run on the wall clock).
   */
  private async streamVoice(first: number): Promise<void> {
    const signal = this.hangUp.signal;
    const burst = this.options.timing.mode === 'burst';
    const clock = burst ? new FrameClock(REALTIME) : this.audioClock;
    if (burst) clock.start(this.audioClock.dueAt(first));
    for (let n = first; ; n += 1) {
      const rushing = burst && this.lastVoiceFrameWasSpeech;
      if (rushing) {
        if (n % BURST_YIELD_EVERY_FRAMES === 0) await yieldToEventLoop();
        // The silence after the words is paced from where the words ended.
        clock.start(performance.now() - n * FRAME_MS);
      } else {
        await clock.waitForFrame(n, signal);
      }
      if (signal.aborted) return;
      if (performance.now() >= this.tailCutoff) return this.reachedCutoff(performance.now());
      if (!this.sendVoiceFrame(n, rushing ? performance.now() : clock.dueAt(n))) return;
    }
  }

  private tailIsOver(frameIndex: number, now: number): boolean {
    const tailAudioMs = (frameIndex - this.options.frames.length) * FRAME_MS;
    if (tailAudioMs < this.options.tailMs) return false;
    if (this.mouthpiece.dtmfPending) return false;
    return !this.handset.agentTalking(now, this.options.quietMs);
  }

  /**
   * Sending reached the cutoff before the call was over: an agent still talking then is its own
   * failure (it never stopped); with the agent quiet, the timeout cut the caller's own plan short
   * (its tail, or a scenario's steps).
   */
  private reachedCutoff(now: number): void {
    if (this.handset.agentTalking(now, this.options.quietMs)) this.ledger.tailCappedByTimeout = true;
    else this.endingOverride ??= 'timeout';
  }

  private async finishCall(): Promise<void> {
    this.phase = 'hanging-up';
    if (this.line.state !== 'closed' && !this.stopSent) this.sendStop();
    // On a bad line, stop is still on its way: the grace starts once it has gone.
    await this.wire.drained();
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
    if (this.wire.send({ type: 'hangup' }, this.hangUpDueAt)) {
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
    this.wire.flushNow();
    this.line.close(NORMAL_CLOSURE, ending === 'timeout' ? 'call timed out' : 'caller hung up');
    const terminateTimer = setTimeout(() => this.line.terminate(), this.options.closeGraceMs);
    void this.line.closed.then(() => clearTimeout(terminateTimer));
  }

  // ---- receiving ---------------------------------------------------------------------------

  private onServerMessage(raw: Buffer, isBinary: boolean): void {
    this.wire.receive(raw, isBinary, (decoded, at, socketAt) => {
      // Twilio drops what it cannot use (warning 31951 for another stream's); so does the phone.
      if (!decoded.ok) {
        this.ledger.wireError(decoded.error.code, decoded.error.message);
        this.timeline.event(at, 'agent', 'wire-error', decoded.error.code);
      }
      // A fork takes nothing back: media, mark or clear on it is Twilio's error 31924.
      else if (this.options.stream.kind === 'fork') this.ledger.wireError('message_on_fork', `a ${decoded.event.type === 'audio' ? 'media' : decoded.event.type} message on a <Start><Stream> fork`);
      else this.handset.receive(decoded.event, at, socketAt);
    });
  }

  /** The mark's audio played one network delay ago: its echo reaches the server now (then the bad line's delay). */
  private echoMark(name: string): void {
    if (!this.stopSent && this.wire.send({ type: 'mark-played', name }, null, true)) {
      this.ledger.marksEchoed += 1;
      this.timeline.event(performance.now(), 'caller', 'mark-echoed', name);
    }
  }

  private record(): CallRecord {
    return recordOf(this.options, this.line, { ids: this.ids, tracks: this.tracks, network: this.network, handset: this.handset, tape: this.tape, ledger: this.ledger, timeline: this.timeline }, {
      ending: endingOf(this.line.opened, this.endingOverride, this.stopSent),
      stopSent: this.stopSent,
      dialledAt: this.dialledAt,
      startedAt: this.startedAtIso,
    });
  }
}

/** How the call ended, from the caller's side. */
function endingOf(opened: boolean, override: CallEnding | null, stopSent: boolean): CallEnding {
  if (!opened) return 'connect_failed';
  if (override) return override;
  return stopSent ? 'completed' : 'server_closed';
}

interface CallParts {
  ids: Readonly<StreamIds>;
  tracks: readonly MediaTrack[];
  network: CallNetwork;
  handset: Handset;
  tape: CallTape | null;
  ledger: CallLedger;
  timeline: CallTimeline;
}

function recordOf(options: ResolvedOptions, line: MediaLine, parts: CallParts, end: { ending: CallEnding; stopSent: boolean; dialledAt: number; startedAt: string }): CallRecord {
  const { network, ledger } = parts;
  return toCallRecord(ledger, parts.timeline.data(), {
    url: options.url,
    direction: options.direction,
    ids: parts.ids,
    customParameters: options.customParameters,
    streamKind: options.stream.kind,
    tracks: parts.tracks,
    network: { markEchoDelay: describeNetworkDelay(network.delay), seed: network.seed },
    badLine: isCleanLine(network.line) ? null : { ...network.line },
    detail: { startSentAt: ledger.startSentAt, closedAt: line.closedAt, heard: parts.handset.heard, tape: parts.tape },
    connected: line.opened,
    connectError: line.connectError,
    ending: end.ending,
    stopSent: end.stopSent,
    closedBy: !line.opened ? null : line.closedByCaller ? 'caller' : 'server',
    closeCode: line.closeCode,
    closeReason: line.closeReason,
    socketError: line.socketError,
    durationMs: (line.closedAt ?? performance.now()) - end.dialledAt,
    audioClearedMs: parts.handset.audioClearedMs,
    startedAt: end.startedAt,
    watermark: options.watermark,
    playback: parts.handset.playbackLog(),
  });
}

/** Dial `url` as Twilio would and run one stream to the end. Rejects only for invalid options. */
export async function placeCall(options: PlaceCallOptions): Promise<CallRecord> {
  const call = new SimulatedCall(resolveOptions(options));
  return call.run();
}
