// One call, one object, one life. Everything a call owns (counters, queues, guards, timers, its
// model session) is created in the constructor and released in close(); nothing about a call
// lives anywhere else. Every field exists from construction and is incremented directly, so a
// code path that forgot to set one cannot hide behind `?? 0`.
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { ModelBridge, ModelBridgeFactory } from '../model/bridge.js';
import type { SharedTicker, Tickable } from '../ticker.js';
import { FRAME_BYTES } from '../audio/format.js';
import {
  MAX_MESSAGE_BYTES,
  OutboundFrameBuilder,
  base64DecodedLength,
  parseTwilioMessage,
  type CallDirection,
  type MediaMessage,
  type StartMessage,
} from '../twilio/codec.js';
import { formatPlayoutMark } from './playout-mark.js';
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
  /** How far ahead of real time audio goes to Twilio (its jitter buffer absorbs late ticks). */
  sendLeadMs: number;
  /** Stop writing to the model socket (queue instead) while it buffers more than this. */
  modelHighWaterBytes: number;
  /** Caller audio queued for the model beyond this ends the call: the model is not coming back. */
  maxPendingModelChunks: number;
  /** End the call when Twilio has read nothing for this long while audio waits (0 = never). */
  twilioStallMs: number;
  /**
   * Caller frames per `input_audio_buffer.append`. 1 forwards each frame unchanged (lowest
   * latency); N > 1 decodes N frames into one append: fewer, larger socket writes (measured: about
   * a third less server CPU per frame at 3) for (N - 1) × 20 ms more latency to the model.
   * Twilio streams media continuously, so a batch fills every N × 20 ms.
   */
  modelAppendFrames: number;
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
  sendLeadMs: 60,
  modelHighWaterBytes: 1024 * 1024,
  // 60 s of 20 ms frames: far beyond any reconnect schedule, small enough to bound a flood.
  maxPendingModelChunks: 3000,
  twilioStallMs: 30_000,
  modelAppendFrames: 1,
};

export interface CallHandlerDeps {
  socket: WebSocket;
  modelFactory: ModelBridgeFactory;
  modelBackend: string;
  ticker: SharedTicker;
  logger: Logger;
  config: CallConfig;
  /**
   * Called when the call is over, with its final snapshot; called again (rarely, bounded) if a
   * frame still in flight after the end adds an error to the record.
   */
  onFinished(handler: CallHandler): void;
}

/** A playback mark every this many frames lets barge-in truncate where the caller stopped hearing. */
const FRAMES_PER_MARK = 10;
const MAX_ERRORS_KEPT = 50;
/** Error texts can quote attacker input (an unknown event name); a record never grows past this. */
const MAX_ERROR_TEXT = 200;
/** Twilio SIDs are 34 characters; anything much longer is not a SID and is not kept. */
const MAX_SID_LENGTH = 64;
let nextSerial = 1;

/** ws receiver errors by code: the call error recorded, the close code ws sent, the end reason. */
const WS_FRAME_ERRORS: Record<string, [string, number, string]> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: ['frame_too_large', 1009, 'frame too large'],
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: ['frame_too_large', 1009, 'frame too large'],
  WS_ERR_TOO_MANY_BUFFERED_PARTS: ['too_many_fragments', 1008, 'too many fragments'],
  WS_ERR_INVALID_UTF8: ['invalid_utf8', 1007, 'invalid UTF-8'],
};

interface PlayingItem {
  id: string;
  seq: number;
  queuedMs: number;
  /** Audio time of the last mark queued for this item. */
  markedMs: number;
  playedMs: number;
}

export class CallHandler implements Tickable {
  /** Unique within the process: the registry's key for this call, before and after it ends. */
  readonly serial: number;
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
  /** Bumped per model connection; callbacks from an older connection are ignored. */
  private modelSessionSeq: number;
  private reconnectAttempt: number;
  private reconnectTimer: NodeJS.Timeout | null;
  /** Caller audio waiting for the model (while it connects, reconnects or lags); never dropped. */
  private pendingModelAudio: string[];
  private pendingHead: number;
  /** Caller audio still waiting for the model when the call ended (reported, not hidden). */
  private unsentModelAudio: number;
  /** With modelAppendFrames > 1: caller audio being gathered into one append. */
  private readonly appendBatch: Buffer | null;
  private batchBytes: number;
  private batchFrames: number;

  /** Outbound queue: Buffer = one frame of audio, string = a mark name. */
  private outQueue: Array<Buffer | string>;
  private outHead: number;
  private outFrames: number;
  private playheadMs: number;
  private carry: Buffer | null;
  private frames: OutboundFrameBuilder | null;
  private item: PlayingItem | null;
  /** The answer last cut off by barge-in; its late deltas are dropped, not played. */
  private truncatedItemId: string | null;
  private itemSeq: number;
  /** performance.now() of the last frame from Twilio: the server closes calls that go silent. */
  lastInboundAt: number;
  /** performance.now() since when the Twilio socket has been above high water; 0 = it is not. */
  private twilioBlockedSince: number;

  private readonly errors: CallErrorRecord[];
  private errorCount: number;
  private suppressedErrors: number;
  private readonly connectedAt: Date;
  private startedAt: Date | null;
  private endedAt: Date | null;

  constructor(private readonly deps: CallHandlerDeps) {
    this.serial = nextSerial;
    nextSerial += 1;
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
    this.modelSessionSeq = 0;
    this.reconnectAttempt = 0;
    this.reconnectTimer = null;
    this.pendingModelAudio = [];
    this.pendingHead = 0;
    this.unsentModelAudio = 0;
    this.appendBatch = deps.config.modelAppendFrames > 1 ? Buffer.alloc(FRAME_BYTES * deps.config.modelAppendFrames) : null;
    this.batchBytes = 0;
    this.batchFrames = 0;

    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    this.playheadMs = 0;
    this.carry = null;
    this.frames = null;
    this.item = null;
    this.truncatedItemId = null;
    this.itemSeq = 0;
    this.lastInboundAt = performance.now();
    this.twilioBlockedSince = 0;

    this.errors = [];
    this.errorCount = 0;
    this.suppressedErrors = 0;
    this.connectedAt = new Date();
    this.startedAt = null;
    this.endedAt = null;

    const socket = deps.socket;
    socket.on('message', (data, isBinary) => this.boundary(() => this.onSocketMessage(data as Buffer, isBinary)));
    socket.on('close', (code) => this.boundary(() => this.close(`socket closed (${code})`)));
    socket.on('error', (err) => this.boundary(() => this.onSocketError(err)));
  }

  /**
   * The call boundary: every event that reaches this call (a socket frame, a close, a model event,
   * a timer) runs here, so nothing it throws escapes into the socket loop or the process. An error
   * recorded after the end (a late second stop) still reaches the finished call's record.
   */
  private boundary(fn: () => unknown): void {
    const endedBefore = this.endedAt !== null;
    const errorsBefore = this.errorCount;
    try {
      fn();
    } catch (err) {
      this.internalError(err);
    } finally {
      if (endedBefore && this.errorCount !== errorsBefore) this.deps.onFinished(this);
    }
  }

  // ---- Twilio side --------------------------------------------------------------------------

  private onSocketMessage(data: Buffer, isBinary: boolean): void {
    this.lastInboundAt = performance.now();
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
        // Bounded like errors: a flood of key presses must not become a flood of log lines.
        if (this.dtmfReceived <= MAX_ERRORS_KEPT || this.dtmfReceived % 1000 === 0) {
          this.deps.logger.info('dtmf', { callSid: this.callSid, digit: message.dtmf.digit.slice(0, 8), dtmfReceived: this.dtmfReceived });
        }
        return;
      case 'stop':
        return this.onStop();
    }
  }

  private onSocketError(err: Error & { code?: string }): void {
    const code = err.code ?? '';
    if (code.startsWith('WS_ERR_')) {
      // A frame ws refused (too large, invalid UTF-8, bad framing). ws has already sent its close
      // and stops reading, so the socket's own close event would only say 1006: end the call
      // here, with the code the peer actually got.
      const [errorCode, closeCode, what] = WS_FRAME_ERRORS[code] ?? ['invalid_frame', 1002, 'invalid frame'];
      const detail = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? `frame over ${MAX_MESSAGE_BYTES} bytes` : err.message;
      this.protocolError(errorCode, `${detail}; socket closed with ${closeCode}`);
      this.close(`${what} (${closeCode})`, closeCode);
      return;
    }
    this.recordError('socket_error', err.message);
  }

  /** Something threw inside the call: recorded on this call, never let out into the process. */
  private internalError(err: unknown): void {
    this.recordError('internal_error', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    this.deps.logger.error('call handler error', { callSid: this.callSid, error: err });
  }

  private onStart(message: StartMessage): void {
    if (this.state !== 'connected') {
      this.protocolError('duplicate_start', `start received while the call is ${this.state}; ignored`);
      return;
    }
    const start = message.start;
    if (start.callSid.length > MAX_SID_LENGTH || start.streamSid.length > MAX_SID_LENGTH) {
      this.protocolError('invalid_sid', `start with a callSid/streamSid of ${start.callSid.length}/${start.streamSid.length} characters; ignored`);
      return;
    }
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
      tracks: start.tracks.slice(0, 4).map((t) => t.slice(0, 32)),
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
      const code = this.state === 'connected' ? 'media_before_start' : this.state === 'stopped' ? 'media_after_stop' : 'media_after_end';
      this.protocolError(code, `media while the call is ${this.state}; ignored`);
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
    this.forwardToModel(payload, bytes);
  }

  private onMark(name: string): void {
    this.marksReceived += 1;
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
    this.modelSessionSeq += 1;
    const session = this.modelSessionSeq;
    // Model events arrive from the SDK's socket loop: each is a call boundary of its own, and one
    // from a connection this call has already replaced is ignored.
    const live = (): boolean => session === this.modelSessionSeq && this.endedAt === null;
    try {
      const bridge = this.deps.modelFactory(
        { callSid: this.callSid ?? 'unknown', instructions: this.deps.config.instructions, voice: this.deps.config.voice },
        {
          onReady: () => this.boundary(() => live() && this.onModelReady()),
          onAudioDelta: (audio, itemId) => this.boundary(() => live() && this.onModelAudio(audio, itemId)),
          onSpeechStarted: () => this.boundary(() => live() && this.onBargeIn()),
          onResponseDone: () => this.boundary(() => live() && this.onModelResponseDone()),
          onError: (code, message) => this.boundary(() => live() && this.recordError(code, message)),
          onClosed: (reason, expected) => this.boundary(() => session === this.modelSessionSeq && this.onModelClosed(reason, expected)),
        },
      );
      if (session === this.modelSessionSeq && bridge.state !== 'closed') this.model = bridge;
    } catch (err) {
      // The SDK can throw while opening (a bad URL): that is a failed connection, not a dead call.
      this.onModelClosed(`model connection failed: ${err instanceof Error ? err.message : String(err)}`, false);
    }
  }

  private pendingModelChunks(): number {
    return this.pendingModelAudio.length - this.pendingHead;
  }

  private forwardToModel(payload: string, bytes: number): void {
    this.modelAudioAppends += 1;
    const batch = this.appendBatch;
    if (batch === null) {
      this.queueForModel(payload);
      return;
    }
    if (this.batchBytes + bytes > batch.length) this.flushAppendBatch();
    if (bytes > batch.length) {
      this.queueForModel(payload);
      return;
    }
    this.batchBytes += batch.write(payload, this.batchBytes, 'base64');
    this.batchFrames += 1;
    if (this.batchFrames >= this.deps.config.modelAppendFrames) this.flushAppendBatch();
  }

  private flushAppendBatch(): void {
    if (this.appendBatch === null || this.batchBytes === 0) return;
    const chunk = this.appendBatch.toString('base64', 0, this.batchBytes);
    this.batchBytes = 0;
    this.batchFrames = 0;
    this.queueForModel(chunk);
  }

  private queueForModel(payload: string): void {
    // The usual case, nothing waiting and the model keeping up: straight through, no queue.
    const model = this.model;
    if (this.pendingHead === this.pendingModelAudio.length && model !== null && model.state === 'ready' && model.bufferedAmount <= this.deps.config.modelHighWaterBytes) {
      if (model.appendAudio(payload)) {
        if (model.bufferedAmount > this.deps.config.modelBacklogBytes) this.warnModelBacklog(`${model.bufferedAmount} bytes buffered on the model socket`);
        return;
      }
    }
    this.pendingModelAudio.push(payload);
    this.flushToModel();
    const waiting = this.pendingModelChunks();
    if (waiting > this.deps.config.maxPendingModelChunks) {
      this.recordError('model_backlog_overflow', `${waiting} chunks of caller audio waiting for the model (limit ${this.deps.config.maxPendingModelChunks})`);
      this.deps.logger.error('model not taking audio; ending call', { callSid: this.callSid, queuedChunks: waiting, modelState: this.model?.state ?? 'none' });
      this.close('model backlog overflow', 1011);
    } else if (waiting > this.deps.config.modelBacklogChunks) {
      this.warnModelBacklog(`${waiting} chunks waiting for the model session`);
    }
  }

  /** Appends queued audio, in order, while the model is ready and its socket is not backed up. */
  private flushToModel(): void {
    const model = this.model;
    if (model === null || model.state !== 'ready') return;
    const queue = this.pendingModelAudio;
    const highWater = this.deps.config.modelHighWaterBytes;
    while (this.pendingHead < queue.length && model.bufferedAmount <= highWater) {
      // A socket already closing takes nothing: the audio stays queued for the next session.
      if (!model.appendAudio(queue[this.pendingHead] as string)) break;
      this.pendingHead += 1;
    }
    if (this.pendingHead >= queue.length) {
      queue.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024) {
      this.pendingModelAudio = queue.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    if (model.bufferedAmount > this.deps.config.modelBacklogBytes) this.warnModelBacklog(`${model.bufferedAmount} bytes buffered on the model socket`);
  }

  private onModelReady(): void {
    const model = this.model;
    if (model === null || this.state !== 'started') return;
    this.reconnectAttempt = 0;
    const queued = this.pendingModelChunks();
    this.flushToModel();
    if (queued > 0) this.deps.logger.debug('model ready; flushed queued audio', { callSid: this.callSid, chunks: queued - this.pendingModelChunks() });
    if (!this.modelGreeted) {
      this.modelGreeted = true;
      if (this.deps.config.firstSpeaker[this.direction] === 'model') model.createResponse();
    }
  }

  private onModelAudio(base64Audio: string, itemId: string): void {
    this.modelAudioDeltas += 1;
    // Deltas of an answer the caller already cut off may still be on the way: never replay them.
    if (this.state !== 'started' || itemId === this.truncatedItemId) return;
    if (this.item === null || this.item.id !== itemId) {
      this.endItem();
      this.itemSeq += 1;
      this.item = { id: itemId, seq: this.itemSeq, queuedMs: 0, markedMs: 0, playedMs: 0 };
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
    if (item.queuedMs - item.markedMs >= FRAMES_PER_MARK * 20) this.enqueueMark(item);
  }

  private enqueueMark(item: PlayingItem): void {
    this.outQueue.push(formatPlayoutMark(item.seq, item.queuedMs));
    item.markedMs = item.queuedMs;
  }

  /** The current answer's audio is complete: send its last partial frame and mark its end. */
  private endItem(): void {
    const item = this.item;
    if (item !== null && this.carry !== null) this.enqueueFrame(this.carry, item);
    this.carry = null;
    // Without an end mark, the last frames would look played before Twilio played them.
    if (item !== null && item.queuedMs !== item.markedMs) this.enqueueMark(item);
  }

  private onModelResponseDone(): void {
    if (this.state !== 'started' || this.item === null) return;
    this.endItem();
    this.scheduleSend();
  }

  /** The caller spoke over the answer: stop what Twilio still has to play and cut the model's item there. */
  private onBargeIn(): void {
    if (this.state !== 'started' || this.item === null || this.frames === null) return;
    const item = this.item;
    // Still queued here, or sent and not yet confirmed by its mark. Derived from the current
    // answer's own marks: the marks Twilio returns for an answer it cleared say nothing about it.
    const playing = this.outHead < this.outQueue.length || item.playedMs < item.queuedMs;
    if (!playing) return;
    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    this.carry = null;
    this.item = null;
    this.truncatedItemId = item.id;
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
      const queued = this.pendingModelChunks();
      this.recordError('model_unavailable', `${reason}; gave up after ${delays.length} reconnect attempts; ${queued} audio chunks never reached the model`);
      this.deps.logger.error('model unavailable; ending call', { callSid: this.callSid, reason, queuedChunks: queued });
      this.close('model unavailable', 1011);
      return;
    }
    const delay = delays[this.reconnectAttempt] ?? 1000;
    this.reconnectAttempt += 1;
    this.modelReconnects += 1;
    this.recordError('model_connection_lost', `${reason}; reconnect ${this.reconnectAttempt}/${delays.length} in ${delay} ms`);
    this.deps.logger.warn('model connection lost; reconnecting', { callSid: this.callSid, reason, attempt: this.reconnectAttempt, delayMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.boundary(() => this.state === 'started' && this.endedAt === null && this.connectModel());
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
    try {
      return this.sendDue(now);
    } catch (err) {
      // The ticker would drop a throwing subscriber; do it here so the loop can be rescheduled.
      this.sendLoopScheduled = false;
      this.internalError(err);
      return false;
    }
  }

  private sendDue(now: number): boolean {
    const socket = this.deps.socket;
    const frames = this.frames;
    if (this.state !== 'started' || frames === null || socket.readyState !== socket.OPEN) {
      this.sendLoopScheduled = false;
      return false;
    }
    if (this.playheadMs < now) this.playheadMs = now;
    const queue = this.outQueue;
    const lead = this.deps.config.sendLeadMs;
    while (this.outHead < queue.length && this.playheadMs < now + lead) {
      if (socket.bufferedAmount > this.deps.config.twilioHighWaterBytes) return this.twilioBackedUp(now);
      this.twilioBlockedSince = 0;
      const item = queue[this.outHead] as Buffer | string;
      this.outHead += 1;
      if (typeof item === 'string') {
        socket.send(frames.mark(item));
        this.marksSent += 1;
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

  /** Twilio is not reading: keep the audio queued and wait; a peer that never reads ends the call. */
  private twilioBackedUp(now: number): boolean {
    const socket = this.deps.socket;
    if (this.twilioBlockedSince === 0) this.twilioBlockedSince = now;
    const stallMs = this.deps.config.twilioStallMs;
    if (stallMs > 0 && now - this.twilioBlockedSince >= stallMs) {
      this.recordError('twilio_stalled', `Twilio read nothing for ${Math.round(now - this.twilioBlockedSince)} ms with ${socket.bufferedAmount} bytes buffered`);
      this.deps.logger.error('Twilio not reading; ending call', { callSid: this.callSid, bufferedBytes: socket.bufferedAmount, queuedFrames: this.outFrames });
      this.close('Twilio not reading', 1011);
      // A close frame would only queue behind what the peer never reads.
      socket.terminate();
      return false;
    }
    this.warnTwilioBacklog(`${socket.bufferedAmount} bytes buffered on the Twilio socket, ${this.outFrames} frames queued`);
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
    this.deps.logger.warn('backlog to model', { callSid: this.callSid, detail, queuedChunks: this.pendingModelChunks() });
  }

  private protocolError(code: string, message: string): void {
    this.protocolErrors += 1;
    this.recordError(code, message);
  }

  private recordError(code: string, message: string): void {
    this.errorCount += 1;
    const text = message.length > MAX_ERROR_TEXT ? `${message.slice(0, MAX_ERROR_TEXT)}...` : message;
    // Keep (and log) the first errors, which carry the cause; a flood of bad frames must not
    // flood memory or the log, so after that one summary record counts the rest and only every
    // 1000th is logged.
    const at = new Date().toISOString();
    if (this.errors.length < MAX_ERRORS_KEPT) {
      this.errors.push({ at, code, message: text });
    } else {
      this.suppressedErrors += 1;
      this.errors[MAX_ERRORS_KEPT] = { at, code: 'errors_suppressed', message: `${this.suppressedErrors} more errors not kept; last: ${code}: ${text}` };
    }
    if (this.errorCount <= MAX_ERRORS_KEPT || this.errorCount % 1000 === 0) {
      this.deps.logger.warn('call error', { callSid: this.callSid, code, message: text, errorCount: this.errorCount });
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
    // A partial batch goes out (or is counted as unsent) like any other caller audio.
    this.flushAppendBatch();
    const model = this.model;
    this.model = null;
    model?.close();
    this.outQueue = [];
    this.outHead = 0;
    this.outFrames = 0;
    const socket = this.deps.socket;
    if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 100));
    // Audio the model never got is released but stays counted (snapshot queues.toModel, log line).
    const unsentModelAudio = this.pendingModelChunks();
    this.unsentModelAudio = unsentModelAudio;
    this.pendingModelAudio = [];
    this.pendingHead = 0;
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
      // After the end, toModel is the caller audio that never reached the model.
      queues: { toTwilio: this.outFrames, toModel: this.endedAt === null ? this.pendingModelChunks() : this.unsentModelAudio },
      model: { backend: this.deps.modelBackend, state: this.model?.state ?? (this.modelSessionStarted ? 'closed' : 'not started') },
      errors: [...this.errors],
      errorCount: this.errorCount,
      connectedAt: this.connectedAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      endedAt: this.endedAt?.toISOString() ?? null,
      endReason: this.endReason,
    };
  }
}
