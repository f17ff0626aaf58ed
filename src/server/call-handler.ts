// One call, one object, one life. Everything a call owns (counters, queues, guards, timers, its
// model session) is created in the constructor and released in close(); nothing about a call
// lives anywhere else. Every field exists from construction and is incremented directly, so a
// code path that forgot to set one cannot hide behind `?? 0`.
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { ModelBridge, ModelBridgeFactory } from '../model/bridge.js';
import type { SharedTicker, Tickable } from '../ticker.js';
import {
  FRAME_BYTES,
  OutboundFrameBuilder,
  base64DecodedLength,
  parseTwilioMessage,
  type CallDirection,
  type MediaMessage,
  type StartMessage,
} from '../twilio/protocol.js';
import type { CallCounters, CallErrorRecord, CallSnapshot, CallState } from './call-snapshot.js';

export type FirstSpeaker = 'model' | 'caller';

export interface CallConfig {
  instructions: string;
  voice: string;
  firstSpeaker: Record<CallDirection, FirstSpeaker>;
  /** Warn when this many frames wait to go to Twilio. */
  twilioBacklogFrames: number;
  /** Warn when this many chunks wait for the model, or its socket buffers more than modelBacklogBytes. */
  modelBacklogChunks: number;
  modelBacklogBytes: number;
  /** Pause sending (keep the audio queued) while the Twilio socket buffers more than this. */
  twilioHighWaterBytes: number;
  /** At most one backlog warning per queue per this many ms. */
  backlogWarnIntervalMs: number;
  /** Model reconnect delays; the call ends after the last one fails. */
  modelReconnectDelaysMs: number[];
}

export const DEFAULT_CALL_CONFIG: CallConfig = {
  instructions: 'You are a friendly phone assistant. Keep answers short.',
  voice: 'alloy',
  firstSpeaker: { inbound: 'caller', outbound: 'model' },
  twilioBacklogFrames: 500,
  modelBacklogChunks: 50,
  modelBacklogBytes: 64 * 1024,
  twilioHighWaterBytes: 256 * 1024,
  backlogWarnIntervalMs: 5000,
  modelReconnectDelaysMs: [250, 500, 1000],
};

export interface CallHandlerDeps {
  socket: WebSocket;
  modelFactory: ModelBridgeFactory;
  modelBackend: string;
  ticker: SharedTicker;
  logger: Logger;
  config: CallConfig;
  /** Called once when the call is over, with its final snapshot. */
  onFinished(handler: CallHandler): void;
}

/** Audio sent ahead of real time, so a late tick never starves Twilio's jitter buffer. */
const SEND_LEAD_MS = 60;
/** A playback mark every this many frames lets barge-in truncate where the caller stopped hearing. */
const FRAMES_PER_MARK = 10;
const MAX_ERRORS_KEPT = 50;

interface PlayingItem {
  id: string;
  seq: number;
  queuedMs: number;
  playedMs: number;
}

export class CallHandler implements Tickable {
  callSid: string | null;
  streamSid: string | null;
  direction: CallDirection;
  state: CallState;
  endReason: string | null;

  // Counters: created here, incremented directly, visible through snapshot().
  audioInChunks: number;
  audioOutChunks: number;
  modelAudioAppends: number;
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
  lastBacklogWarningAt: number;
  lastModelBacklogWarningAt: number;

  // Guards: a call's send loop and model session each start at most once.
  private sendLoopStarted: boolean;
  private modelSessionStarted: boolean;
  private sendLoopScheduled: boolean;

  private model: ModelBridge | null;
  private modelGreeted: boolean;
  private reconnectAttempt: number;
  private reconnectTimer: NodeJS.Timeout | null;
  /** Caller audio waiting for the model (while it connects or reconnects); never dropped. */
  private pendingModelAudio: string[];

  /** Outbound queue: Buffer = one frame of audio, string = a mark name. */
  private outQueue: Array<Buffer | string>;
  private outHead: number;
  private outFrames: number;
  private playheadMs: number;
  private carry: Buffer | null;
  private frames: OutboundFrameBuilder | null;
  private item: PlayingItem | null;
  private itemSeq: number;
  private outstandingMarks: number;
  private latestMediaTimestamp: number;

  private readonly errors: CallErrorRecord[];
  private errorCount: number;
  private readonly connectedAt: Date;
  private startedAt: Date | null;
  private endedAt: Date | null;

  constructor(private readonly deps: CallHandlerDeps) {
    this.callSid = null;
    this.streamSid = null;
    this.direction = 'inbound';
    this.state = 'connected';
    this.endReason = null;

    this.audioInChunks = 0;
    this.audioOutChunks = 0;
    this.modelAudioAppends = 0;
    this.modelAudioDeltas = 0;
    this.marksSent = 0;
    this.marksReceived = 0;
    this.clearsSent = 0;
    this.dtmfReceived = 0;
    this.bargeIns = 0;
    this.backlogWarnings = 0;
    this.modelBacklogWarnings = 0;
    this.protocolErrors = 0;
    this.modelReconnects = 0;
    this.lastBacklogWarningAt = 0;
    this.lastModelBacklogWarningAt = 0;

    this.sendLoopStarted = false;
    this.modelSessionStarted = false;
    this.sendLoopScheduled = false;

    this.model = null;
    this.modelGreeted = false;
    this.reconnectAttempt = 0;
    this.reconnectTimer = null;
    this.pendingModelAudio = [];

    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    this.playheadMs = 0;
    this.carry = null;
    this.frames = null;
    this.item = null;
    this.itemSeq = 0;
    this.outstandingMarks = 0;
    this.latestMediaTimestamp = 0;

    this.errors = [];
    this.errorCount = 0;
    this.connectedAt = new Date();
    this.startedAt = null;
    this.endedAt = null;

    const socket = deps.socket;
    socket.on('message', (data, isBinary) => this.onSocketMessage(data as Buffer, isBinary));
    socket.on('close', (code) => this.close(`socket closed (${code})`));
    socket.on('error', (err) => this.recordError('socket_error', err.message));
  }

  // ---- Twilio side --------------------------------------------------------------------------

  /** The call boundary: nothing a message does may escape into the socket loop or the process. */
  private onSocketMessage(data: Buffer, isBinary: boolean): void {
    try {
      const parsed = parseTwilioMessage(data, isBinary);
      if (!parsed.ok) {
        this.protocolError(parsed.error.code, parsed.error.message);
        return;
      }
      const message = parsed.message;
      switch (message.event) {
        case 'connected':
          return;
        case 'start':
          return this.onStart(message);
        case 'media':
          return this.onMedia(message);
        case 'mark':
          return this.onMark(message.mark.name);
        case 'dtmf':
          this.dtmfReceived += 1;
          this.deps.logger.info('dtmf', { callSid: this.callSid, digit: message.dtmf.digit });
          return;
        case 'stop':
          return this.onStop();
      }
    } catch (err) {
      this.recordError('internal_error', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      this.deps.logger.error('call handler error', { callSid: this.callSid, error: err });
    }
  }

  private onStart(message: StartMessage): void {
    if (this.state !== 'connected') {
      this.protocolError('duplicate_start', `start received while the call is ${this.state}; ignored`);
      return;
    }
    const start = message.start;
    this.callSid = start.callSid;
    this.streamSid = start.streamSid;
    const direction = start.customParameters.direction;
    if (direction === 'inbound' || direction === 'outbound') {
      this.direction = direction;
    } else if (direction !== undefined) {
      this.protocolError('invalid_direction', `customParameters.direction "${direction}" is not inbound|outbound; using inbound`);
    }
    this.state = 'started';
    this.startedAt = new Date();
    this.frames = new OutboundFrameBuilder(this.streamSid);
    this.deps.logger.info('call started', {
      callSid: this.callSid,
      streamSid: this.streamSid,
      direction: this.direction,
      tracks: start.tracks,
      model: this.deps.modelBackend,
    });
    // Both directions take the same path from here on.
    this.startModelSession();
    this.startSendLoop();
  }

  /** Returns false when the session was already started: a second start must not open a second one. */
  startModelSession(): boolean {
    if (this.modelSessionStarted || this.callSid === null) return false;
    this.modelSessionStarted = true;
    this.connectModel();
    return true;
  }

  /** Returns false when already started. The loop itself runs on the shared ticker while audio is queued. */
  startSendLoop(): boolean {
    if (this.sendLoopStarted) return false;
    this.sendLoopStarted = true;
    this.scheduleSend();
    return true;
  }

  private onMedia(message: MediaMessage): void {
    if (this.state !== 'started') {
      this.protocolError(this.state === 'connected' ? 'media_before_start' : 'media_after_stop', `media while the call is ${this.state}; ignored`);
      return;
    }
    if (message.streamSid !== '' && message.streamSid !== this.streamSid) {
      this.protocolError('wrong_stream_sid', `media for stream ${message.streamSid}, this call is ${this.streamSid}; ignored`);
      return;
    }
    const payload = message.media.payload;
    const bytes = base64DecodedLength(payload);
    if (bytes === 0) {
      this.protocolError('empty_payload', 'media with an empty payload; ignored');
      return;
    }
    if (bytes !== FRAME_BYTES) {
      // Odd-sized audio is still audio: note it once in a while, forward it anyway.
      this.protocolError('unexpected_payload_length', `media payload of ${bytes} bytes, expected ${FRAME_BYTES}`);
    }
    this.audioInChunks += 1;
    const timestamp = Number(message.media.timestamp);
    if (Number.isFinite(timestamp)) this.latestMediaTimestamp = timestamp;
    this.forwardToModel(payload);
  }

  private onMark(name: string): void {
    this.marksReceived += 1;
    if (this.outstandingMarks > 0) this.outstandingMarks -= 1;
    const sep = name.indexOf(':');
    const seq = Number(name.slice(0, sep));
    const playedMs = Number(name.slice(sep + 1));
    if (this.item && seq === this.item.seq && Number.isFinite(playedMs) && playedMs > this.item.playedMs) {
      this.item.playedMs = playedMs;
    }
  }

  private onStop(): void {
    if (this.state === 'stopped' || this.state === 'closed') {
      this.protocolError('duplicate_stop', `stop received while the call is ${this.state}; ignored`);
      return;
    }
    if (this.state === 'connected') this.protocolError('stop_before_start', 'stop before start');
    this.state = 'stopped';
    this.close('stop');
  }

  // ---- model side ---------------------------------------------------------------------------

  private connectModel(): void {
    const callSid = this.callSid ?? 'unknown';
    this.model = this.deps.modelFactory(
      { callSid, instructions: this.deps.config.instructions, voice: this.deps.config.voice },
      {
        onReady: () => this.onModelReady(),
        onAudioDelta: (audio, itemId) => this.onModelAudio(audio, itemId),
        onSpeechStarted: () => this.onBargeIn(),
        onResponseDone: () => this.onModelResponseDone(),
        onError: (code, message) => this.recordError(code, message),
        onClosed: (reason, expected) => this.onModelClosed(reason, expected),
      },
    );
  }

  private forwardToModel(payload: string): void {
    this.modelAudioAppends += 1;
    const model = this.model;
    if (model !== null && model.state === 'ready' && this.pendingModelAudio.length === 0) {
      model.appendAudio(payload);
      if (model.bufferedAmount > this.deps.config.modelBacklogBytes) this.warnModelBacklog(`${model.bufferedAmount} bytes buffered on the model socket`);
      return;
    }
    this.pendingModelAudio.push(payload);
    if (this.pendingModelAudio.length > this.deps.config.modelBacklogChunks) {
      this.warnModelBacklog(`${this.pendingModelAudio.length} chunks waiting for the model session`);
    }
  }

  private onModelReady(): void {
    const model = this.model;
    if (model === null || this.state !== 'started') return;
    this.reconnectAttempt = 0;
    const pending = this.pendingModelAudio;
    this.pendingModelAudio = [];
    for (const payload of pending) model.appendAudio(payload);
    if (pending.length > 0) this.deps.logger.debug('model ready; flushed queued audio', { callSid: this.callSid, chunks: pending.length });
    if (!this.modelGreeted) {
      this.modelGreeted = true;
      if (this.deps.config.firstSpeaker[this.direction] === 'model') model.createResponse();
    }
  }

  private onModelAudio(base64Audio: string, itemId: string): void {
    this.modelAudioDeltas += 1;
    if (this.state !== 'started') return;
    if (this.item === null || this.item.id !== itemId) {
      this.flushCarry();
      this.itemSeq += 1;
      this.item = { id: itemId, seq: this.itemSeq, queuedMs: 0, playedMs: 0 };
    }
    const item = this.item;
    let audio = Buffer.from(base64Audio, 'base64');
    if (this.carry !== null) {
      audio = Buffer.concat([this.carry, audio]);
      this.carry = null;
    }
    let offset = 0;
    while (audio.length - offset >= FRAME_BYTES) {
      this.enqueueFrame(audio.subarray(offset, offset + FRAME_BYTES), item);
      offset += FRAME_BYTES;
    }
    if (offset < audio.length) this.carry = audio.subarray(offset);
    if (this.outFrames > this.deps.config.twilioBacklogFrames) this.warnTwilioBacklog(`${this.outFrames} frames queued for Twilio`);
    this.scheduleSend();
  }

  private enqueueFrame(frame: Buffer, item: PlayingItem): void {
    this.outQueue.push(frame);
    this.outFrames += 1;
    item.queuedMs += frame.length / 8;
    if (Math.round(item.queuedMs / 20) % FRAMES_PER_MARK === 0) this.outQueue.push(`${item.seq}:${item.queuedMs}`);
  }

  private flushCarry(): void {
    if (this.carry !== null && this.item !== null) {
      this.enqueueFrame(this.carry, this.item);
      this.outQueue.push(`${this.item.seq}:${this.item.queuedMs}`);
    }
    this.carry = null;
  }

  private onModelResponseDone(): void {
    if (this.state !== 'started' || this.item === null) return;
    this.flushCarry();
    this.scheduleSend();
  }

  /** The caller spoke over the answer: stop what Twilio still has to play and cut the model's item there. */
  private onBargeIn(): void {
    if (this.state !== 'started' || this.item === null || this.frames === null) return;
    const playing = this.outHead < this.outQueue.length || this.outstandingMarks > 0;
    if (!playing) return;
    const item = this.item;
    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    this.carry = null;
    this.outstandingMarks = 0;
    this.item = null;
    this.bargeIns += 1;
    this.deps.socket.send(this.frames.clear());
    this.clearsSent += 1;
    this.model?.truncate(item.id, item.playedMs);
    this.deps.logger.info('barge-in', { callSid: this.callSid, itemId: item.id, playedMs: item.playedMs });
  }

  private onModelClosed(reason: string, expected: boolean): void {
    this.model = null;
    if (expected || this.state !== 'started') return;
    const delays = this.deps.config.modelReconnectDelaysMs;
    if (this.reconnectAttempt >= delays.length) {
      this.recordError('model_unavailable', `${reason}; gave up after ${delays.length} reconnect attempts`);
      this.deps.logger.error('model unavailable; ending call', { callSid: this.callSid, reason, queuedChunks: this.pendingModelAudio.length });
      this.close('model unavailable', 1011);
      return;
    }
    const delay = delays[this.reconnectAttempt] ?? 1000;
    this.reconnectAttempt += 1;
    this.modelReconnects += 1;
    this.deps.logger.warn('model connection lost; reconnecting', { callSid: this.callSid, reason, attempt: this.reconnectAttempt, delayMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'started') this.connectModel();
    }, delay);
  }

  // ---- send loop ----------------------------------------------------------------------------

  private scheduleSend(): void {
    if (!this.sendLoopStarted || this.sendLoopScheduled || this.outHead >= this.outQueue.length) return;
    this.sendLoopScheduled = true;
    this.deps.ticker.subscribe(this);
  }

  /** Sends what is due, paced at real time; keeps (never drops) audio while the socket is backed up. */
  tick(now: number): boolean {
    const socket = this.deps.socket;
    const frames = this.frames;
    if (this.state !== 'started' || frames === null || socket.readyState !== socket.OPEN) {
      this.sendLoopScheduled = false;
      return false;
    }
    if (this.playheadMs < now) this.playheadMs = now;
    const queue = this.outQueue;
    while (this.outHead < queue.length && this.playheadMs < now + SEND_LEAD_MS) {
      if (socket.bufferedAmount > this.deps.config.twilioHighWaterBytes) {
        this.warnTwilioBacklog(`${socket.bufferedAmount} bytes buffered on the Twilio socket, ${this.outFrames} frames queued`);
        return true;
      }
      const item = queue[this.outHead] as Buffer | string;
      this.outHead += 1;
      if (typeof item === 'string') {
        socket.send(frames.mark(item));
        this.marksSent += 1;
        this.outstandingMarks += 1;
      } else {
        socket.send(frames.media(item.toString('base64')));
        this.audioOutChunks += 1;
        this.outFrames -= 1;
        this.playheadMs += item.length / 8;
      }
    }
    if (this.outHead >= queue.length) {
      this.outQueue = [];
      this.outHead = 0;
      this.sendLoopScheduled = false;
      return false;
    }
    if (this.outHead > 1024) {
      this.outQueue = queue.slice(this.outHead);
      this.outHead = 0;
    }
    return true;
  }

  // ---- warnings, errors, end ----------------------------------------------------------------

  private warnTwilioBacklog(detail: string): void {
    const now = Date.now();
    if (now - this.lastBacklogWarningAt < this.deps.config.backlogWarnIntervalMs) return;
    this.lastBacklogWarningAt = now;
    this.backlogWarnings += 1;
    this.deps.logger.warn('backlog to Twilio', { callSid: this.callSid, detail, queuedFrames: this.outFrames });
  }

  private warnModelBacklog(detail: string): void {
    const now = Date.now();
    if (now - this.lastModelBacklogWarningAt < this.deps.config.backlogWarnIntervalMs) return;
    this.lastModelBacklogWarningAt = now;
    this.modelBacklogWarnings += 1;
    this.deps.logger.warn('backlog to model', { callSid: this.callSid, detail, queuedChunks: this.pendingModelAudio.length });
  }

  private protocolError(code: string, message: string): void {
    this.protocolErrors += 1;
    this.recordError(code, message);
  }

  private recordError(code: string, message: string): void {
    this.errorCount += 1;
    // Keep (and log) the first errors, which carry the cause; a flood of bad frames must not
    // flood memory or the log, so after that only every 1000th is logged.
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push({ at: new Date().toISOString(), code, message });
    if (this.errorCount <= MAX_ERRORS_KEPT || this.errorCount % 1000 === 0) {
      this.deps.logger.warn('call error', { callSid: this.callSid, code, message, errorCount: this.errorCount });
    }
  }

  /** Ends the call once: releases the model, the send loop and timers; closes the socket. */
  close(reason: string, code = 1000): void {
    if (this.endedAt !== null) return;
    this.endedAt = new Date();
    this.endReason = reason;
    if (this.state !== 'stopped') this.state = 'closed';
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.deps.ticker.unsubscribe(this);
    this.sendLoopScheduled = false;
    const model = this.model;
    this.model = null;
    model?.close();
    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    const socket = this.deps.socket;
    if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 100));
    const unsentModelAudio = this.pendingModelAudio.length;
    this.pendingModelAudio = [];
    this.deps.logger.info('call ended', {
      callSid: this.callSid,
      direction: this.direction,
      reason,
      ...this.counters(),
      unsentModelAudio,
      errors: this.errorCount,
    });
    this.deps.onFinished(this);
  }

  get finished(): boolean {
    return this.endedAt !== null;
  }

  counters(): CallCounters {
    return {
      audioInChunks: this.audioInChunks,
      audioOutChunks: this.audioOutChunks,
      modelAudioAppends: this.modelAudioAppends,
      modelAudioDeltas: this.modelAudioDeltas,
      marksSent: this.marksSent,
      marksReceived: this.marksReceived,
      clearsSent: this.clearsSent,
      dtmfReceived: this.dtmfReceived,
      bargeIns: this.bargeIns,
      backlogWarnings: this.backlogWarnings,
      modelBacklogWarnings: this.modelBacklogWarnings,
      protocolErrors: this.protocolErrors,
      modelReconnects: this.modelReconnects,
    };
  }

  snapshot(): CallSnapshot {
    return {
      callSid: this.callSid,
      streamSid: this.streamSid,
      direction: this.direction,
      state: this.state,
      counters: this.counters(),
      lastBacklogWarningAt: this.lastBacklogWarningAt,
      lastModelBacklogWarningAt: this.lastModelBacklogWarningAt,
      queues: { toTwilio: this.outFrames, toModel: this.pendingModelAudio.length },
      model: { backend: this.deps.modelBackend, state: this.model?.state ?? (this.modelSessionStarted ? 'closed' : 'not started') },
      errors: [...this.errors],
      connectedAt: this.connectedAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      endedAt: this.endedAt?.toISOString() ?? null,
      endReason: this.endReason,
    };
  }
}
