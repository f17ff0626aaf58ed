// One call: the coordinator of the parts in this folder, each with one job.
//
//   lifecycle.ts   the call's phases and the table of legal moves
//   inbound.ts     Twilio frames: parse, validate, route
//   uplink.ts      caller audio -> model: direct append, early-media queue, batching, overflow
//   model-link.ts  the model session: connect, reconnect with backoff, give up (its own states)
//   playout.ts     model audio -> Twilio: frames, marks, paced send, backpressure, stall guard
//   barge-in.ts    the caller talks over an answer: clear + truncate, late deltas dropped
//   record.ts      counters, bounded errors, the snapshot (the contract is ../call-snapshot.ts)
//
// Everything a call owns is created in the constructor and released when it ends; nothing about
// a call lives anywhere else. The parts may import audio/, twilio/, the model bridge interface,
// log and ticker; never caller/, gate/, report/ or cli/.
import type { RawData } from 'ws';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import type { ModelBridgeFactory } from '../../model/bridge.js';
import type { CallSnapshot } from '../call-snapshot.js';
import { CLOSE_CODE } from '../close-code.js';
import type { AdmitStart, StartRefusal, StartRequest } from './admission.js';
import type { CallMetrics } from '../metrics.js';
import { BargeIn } from './barge-in.js';
import type { CallBoundary, CallEnding } from './boundary.js';
import type { CallConfig } from './config.js';
import { TwilioInbound, type AcceptedStart, type InboundRoutes } from './inbound.js';
import { CallLifecycle, type CallPhase } from './lifecycle.js';
import { ModelLink, type ModelLinkEvents } from './model-link.js';
import { Playout, type PlayoutSocket, type PlayoutTicker } from './playout.js';
import { CallRecord } from './record.js';
import { Uplink } from './uplink.js';

/** A close frame's reason must fit in 123 bytes; ours are short ASCII, cut well before that. */
const MAX_CLOSE_REASON_CHARS = 100;

/** The Twilio socket as a call uses it: a ws WebSocket (or a fake one in unit tests). */
export interface CallSocket extends PlayoutSocket {
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(code: number, reason: string): void;
}

export interface CallDeps {
  socket: CallSocket;
  modelFactory: ModelBridgeFactory;
  modelBackend: string;
  ticker: PlayoutTicker;
  logger: Logger;
  config: CallConfig;
  /** The server's say on a valid start (stream token, a callSid already live, capacity). */
  admitStart: AdmitStart;
  /**
   * Called when the call is over, with its final snapshot; called again (rarely, bounded) if a
   * frame still in flight after the end adds an error to the record.
   */
  onFinished(call: Call): void;
  /** The server's metrics; none in unit tests of the parts. */
  metrics?: CallMetrics;
}

/**
 * The coordinator. Besides its own API (close, snapshot, and what the registry reads) it is the
 * handler of its parts' events, InboundRoutes and ModelLinkEvents: each runs inside the boundary.
 */
export class Call implements CallBoundary, CallEnding, InboundRoutes, ModelLinkEvents {
  private readonly record: CallRecord;
  private readonly lifecycle: CallLifecycle;
  private readonly inbound: TwilioInbound;
  private readonly link: ModelLink;
  private readonly uplink: Uplink;
  private readonly playout: Playout;
  private readonly bargeIn: BargeIn;
  /** performance.now() the socket was accepted: the start deadline runs from here. */
  readonly openedAt: number;

  constructor(private readonly deps: CallDeps) {
    this.openedAt = performance.now();
    const { socket, config, logger } = deps;
    this.record = new CallRecord(logger, deps.modelBackend, config.backlogWarnIntervalMs, deps.metrics);
    this.lifecycle = new CallLifecycle(this.record);
    this.link = new ModelLink(deps.modelFactory, config, this.record, logger, this, this);
    this.uplink = new Uplink(config, this.link, this.record, logger, this);
    this.playout = new Playout(socket, deps.ticker, config, this.record, logger, this);
    this.bargeIn = new BargeIn(this.playout, this.link, this.record, logger, config.bargeInMinSpeechMs);
    this.inbound = new TwilioInbound(this.lifecycle, this.record, logger, this);
    const inbound = this.inbound;
    socket.on('message', (data, isBinary) => this.run(inbound, inbound.dispatch, data as Buffer, isBinary));
    socket.on('close', (code) => this.run(this, this.socketClosed, code, undefined));
    socket.on('error', (err) => this.run(inbound, inbound.socketError, err, undefined));
  }

  get serial(): number {
    return this.record.serial;
  }

  get callSid(): string | null {
    return this.record.callSid;
  }

  /** performance.now() of the start or the last audio from Twilio (the registry's idle sweep reads it). */
  get lastInboundAt(): number {
    return this.inbound.lastMediaAt;
  }

  get phase(): CallPhase {
    return this.lifecycle.phase;
  }

  /**
   * The call boundary: a part's exception is recorded on this call, never let out. An error
   * recorded after the end (a late second stop) still reaches the finished call's record.
   */
  run<T, A, B>(self: T, method: (this: T, a: A, b: B) => void, a: A, b: B): void {
    const endedBefore = this.lifecycle.hasEnded;
    const errorsBefore = this.record.errorCount;
    try {
      method.call(self, a, b);
    } catch (err) {
      this.record.internalError(err);
    } finally {
      if (endedBefore && this.record.errorCount !== errorsBefore) this.deps.onFinished(this);
    }
  }

  /** Ends the call (once; later calls do nothing): closes the model and the socket, reports. */
  close(reason: string, code: number = CLOSE_CODE.normal): void {
    this.end('closing', reason, code);
  }

  snapshot(): CallSnapshot {
    return this.record.snapshot({
      state: this.lifecycle.reported,
      // After the end, toModel is the caller audio that never reached the model, toTwilio the model audio that never went out.
      queues: { toTwilio: this.playout.framesNotSent ?? this.playout.framesQueued, toModel: this.uplink.queuedChunks },
      modelState: this.link.reported,
    });
  }

  // ---- Twilio's events (InboundRoutes) -------------------------------------------------------

  admitStart(request: StartRequest): StartRefusal | null {
    return this.deps.admitStart(request);
  }

  onStart(start: AcceptedStart): void {
    if (!this.lifecycle.move('live')) return;
    const record = this.record;
    record.direction = start.direction;
    record.startedAt = new Date();
    record.startedAtMono = performance.now();
    record.metrics.callStarted(record.direction);
    this.playout.begin(start.streamSid);
    this.deps.logger.info('call started', { callSid: record.callSid, streamSid: record.streamSid, direction: record.direction, tracks: start.tracks, model: this.deps.modelBackend });
    // Both directions take the same path from here on; only who speaks first differs (onOpen).
    this.link.start();
  }

  onMedia(payload: string, bytes: number): void {
    this.uplink.forward(payload, bytes, this.inbound.lastFrameAt);
    this.bargeIn.onCallerAudio(payload);
  }

  onDtmf(digit: string): void {
    // A key press is the caller's turn too: the model is told, and answers it.
    if (this.lifecycle.phase === 'live') this.link.userInput(`The caller pressed ${digit} on the keypad.`);
  }

  onMark(name: string): void {
    this.playout.confirm(name);
  }

  onStop(): void {
    this.end('stopping', 'stop', CLOSE_CODE.normal);
  }

  // ---- the model's events (ModelLinkEvents) --------------------------------------------------

  onOpen(first: boolean): void {
    // The greeting goes before the queued caller audio: asked for after it, it would meet the
    // answer the model's VAD already began for that audio (conversation_already_has_active_response).
    if (first && this.deps.config.firstSpeaker[this.record.direction] === 'model') this.link.createResponse();
    const queued = this.uplink.queuedChunks;
    this.uplink.flush();
    if (queued > 0) this.deps.logger.debug('model ready; flushed queued audio', { callSid: this.record.callSid, chunks: queued - this.uplink.queuedChunks });
  }

  onAudio(base64Audio: string, itemId: string): void {
    this.record.counters.modelAudioDeltas += 1;
    // Deltas of an answer the caller already cut off may still be on the way: never replay them.
    if (this.lifecycle.phase === 'live' && !this.bargeIn.isCutOff(itemId)) this.playout.enqueueAudio(base64Audio, itemId);
  }

  onSpeechStarted(): void {
    if (this.lifecycle.phase === 'live') this.bargeIn.onSpeechStarted();
  }

  onSpeechStopped(): void {
    this.bargeIn.onSpeechStopped();
  }

  onResponseDone(): void {
    if (this.lifecycle.phase === 'live') this.playout.endAnswer();
  }

  onGaveUp(reason: string): void {
    const queued = this.uplink.queuedChunks;
    const attempts = this.deps.config.modelReconnectDelaysMs.length;
    this.record.recordError('model_unavailable', `${reason}; gave up after ${attempts} reconnect attempts; ${queued} audio chunks never reached the model`);
    this.deps.logger.error('model unavailable; ending call', { callSid: this.record.callSid, reason, queuedChunks: queued });
    this.close('model unavailable', CLOSE_CODE.internalError);
  }

  // ---- the end ------------------------------------------------------------------------------

  private socketClosed(code: number): void {
    this.close(`socket closed (${code})`);
  }

  private end(draining: 'stopping' | 'closing', reason: string, code: number): void {
    if (!this.lifecycle.isOpen || !this.lifecycle.move(draining)) return;
    const record = this.record;
    record.endedAt = new Date();
    record.endReason = reason;
    const unsentTwilioAudio = this.playout.release();
    const unsentModelAudio = this.uplink.finish();
    this.link.close();
    const socket = this.deps.socket;
    if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, MAX_CLOSE_REASON_CHARS));
    this.lifecycle.move(draining === 'stopping' ? 'stopped' : 'closed');
    // Audio that never went out, either way, is released but stays counted (snapshot queues, this line).
    this.deps.logger.info('call ended', {
      callSid: record.callSid,
      direction: record.direction,
      reason,
      ...record.counters,
      unsentModelAudio,
      unsentTwilioAudio,
      errors: record.errorCount,
    });
    this.deps.onFinished(this);
  }
}
