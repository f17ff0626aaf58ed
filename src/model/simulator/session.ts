// One realtime session on one WebSocket: reads client events, dispatches them to the input
// buffer, the conversation and the responses, stamps and sends server events, and keeps the
// session record. Everything a peer sends is checked first; a bad event gets the real API's
// error (with the offending event's event_id) and the session goes on.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { SharedTicker } from '../../ticker.js';
import { readClientEvent, decodedBase64Length, type ClientEvent } from './client-events.js';
import { defaultSession, mergeSession, turnDetection, type EffectiveSession } from './config.js';
import { Conversation } from './conversation.js';
import { errors, type ErrorBody } from './errors.js';
import type { OutgoingEvent } from './events.js';
import { MALFORMED_FRAME, appendFault, type SimulatorFaults } from './faults.js';
import { IdleTimeout } from './idle.js';
import { InputAudio } from './input.js';
import { createItem, deleteItem, retrieveItem, truncateItem } from './items.js';
import { nowMs, SessionRecorder, type ClosedBy, type SessionTransport } from './record.js';
import type { ActiveResponse } from './response.js';
import { ResponseManager, type ResponseSettings, type ResponsesHost } from './responses.js';
import type { ScriptFault } from './script.js';
import type { TranscriptIndex } from './transcripts.js';

/** Docs (InputAudioBufferAppendEvent): "up to a maximum of 15 MiB" per append. */
const MAX_APPEND_BYTES = 15 * 1024 * 1024;
const RATE_LIMIT_TOKENS = 15_000_000;

export interface SessionSettings extends ResponseSettings {
  ticker: SharedTicker;
  faults: SimulatorFaults;
  vadBaseRms: number;
  transcripts: TranscriptIndex | null;
  onAppend: ((callSid: string | null, audio: Buffer) => void) | null;
}

export interface SessionIdentity {
  callSid: string | null;
  model: string;
  transport: SessionTransport;
  /** Whether the drop-after-appends fault applies to this session. */
  dropApplies: boolean;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
}

export class SimulatorSession implements ResponsesHost {
  readonly recorder: SessionRecorder;
  readonly conversation = new Conversation();
  readonly input: InputAudio;
  readonly responses: ResponseManager;
  readonly transcripts: TranscriptIndex | null;
  private config: EffectiveSession;
  private eventSeq = 0;
  private readonly eventPrefix: string;
  private current: { type: string | null; id: string | null } = { type: null, id: null };
  private readonly timers = new Set<NodeJS.Timeout>();
  private voiceLocked = false;
  private tokensUsed = 0;
  private closing: ClosedBy | null = null;
  private readonly idle = new IdleTimeout(() => this.input.timeoutTriggered(this.idleSinceMs));
  private idleSinceMs = 0;

  constructor(private readonly ws: WebSocket, private readonly rawSocket: Duplex, private readonly identity: SessionIdentity, private readonly settings: SessionSettings) {
    const id = newId('sess');
    this.recorder = new SessionRecorder(id, identity.callSid, identity.model, identity.transport);
    this.config = defaultSession(id, identity.model);
    this.eventPrefix = `event_${id.slice(5)}_`;
    this.transcripts = settings.transcripts;
    this.input = new InputAudio(this, settings.vadBaseRms);
    this.responses = new ResponseManager(this, settings);
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', (code, reason) => this.closed(code, reason.toString()));
    this.send({ type: 'session.created', session: this.config });
  }

  get ticker(): SharedTicker {
    return this.settings.ticker;
  }

  get answerDelayMs(): number {
    return this.settings.faults.answerDelayMs ?? 0;
  }

  session(): EffectiveSession {
    return this.config;
  }

  isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  newId(prefix: string): string {
    return newId(prefix);
  }

  send(event: OutgoingEvent): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.eventSeq += 1;
    this.ws.send(JSON.stringify({ event_id: this.eventPrefix + this.eventSeq, ...event }));
  }

  /**
   * An error event for the client event being handled (its event_id is carried back, as
   * documented); a scripted one belongs to no client event.
   */
  sendError(error: ErrorBody, scripted = false): void {
    const cause = scripted ? { type: null, id: null } : this.current;
    const body = { ...error, event_id: cause.id };
    this.recorder.record.clientErrors += 1;
    this.recorder.push('errors', { at: nowMs(), type: body.type, code: body.code, message: body.message, clientEventType: cause.type, clientEventId: cause.id, scripted });
    this.send({ type: 'error', error: body });
  }

  later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.isOpen()) fn();
    }, ms);
    this.timers.add(timer);
  }

  contextSize(): { audioMs: number; textChars: number } {
    let audioMs = 0;
    let textChars = (this.config.instructions ?? '').length;
    for (const { item, audioMs: ms } of this.conversation.all()) {
      audioMs += ms;
      if (item.type === 'message') for (const c of item.content) textChars += ('text' in c && c.text ? c.text.length : 0) + ('transcript' in c && c.transcript ? c.transcript.length : 0);
      else if (item.type === 'function_call_output') textChars += item.output.length;
    }
    return { audioMs, textChars };
  }

  speechStarted(): void {
    this.idle.disarm();
    const td = turnDetection(this.config);
    if (td?.interrupt_response !== false) this.responses.interrupt();
  }

  turnCommitted(by: 'vad' | 'idle'): void {
    if (by === 'idle' || turnDetection(this.config)?.create_response !== false) this.responses.create(by);
  }

  audioSent(): void {
    this.voiceLocked = true;
  }

  cancelResponseOf(itemId: string): void {
    this.responses.cancelResponseOf(itemId);
  }

  audioSentOf(itemId: string): number | null {
    return this.responses.audioSentOf(itemId);
  }

  ended(response: ActiveResponse): void {
    this.responses.ended(response);
    const td = turnDetection(this.config);
    if (td?.type === 'server_vad' && typeof td.idle_timeout_ms === 'number' && response.plan.inConversation && this.isOpen()) {
      this.idleSinceMs = this.input.sessionMs;
      this.idle.arm(response.playbackEndsAt() - performance.now() + td.idle_timeout_ms);
    }
    const used = response.record.status === 'in_progress' ? 0 : (response.record.audioMs / 50 + response.record.transcript.length / 4);
    this.tokensUsed += Math.ceil(used);
    // Live capture: rate_limits.updated follows response.done (the docs say it opens a response).
    this.send({ type: 'rate_limits.updated', rate_limits: [{ name: 'tokens', limit: RATE_LIMIT_TOKENS, remaining: Math.max(0, RATE_LIMIT_TOKENS - this.tokensUsed), reset_seconds: 0.001 }] });
  }

  socketFault(fault: Extract<ScriptFault, { type: 'drop' | 'close' | 'stall' }>): void {
    if (fault.type === 'drop') return this.terminate('fault');
    if (fault.type === 'close') {
      this.closing = 'fault';
      this.ws.close(fault.code, fault.reason ?? '');
      return;
    }
    this.rawSocket.pause();
    this.later(fault.ms, () => this.rawSocket.resume());
  }

  /** Drops the socket without a close frame. */
  terminate(by: ClosedBy): void {
    this.closing ??= by;
    this.stop();
    this.ws.terminate();
  }

  private stop(): void {
    this.idle.disarm();
    this.responses.stopAll();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private closed(code: number, reason: string): void {
    this.stop();
    this.recorder.close(this.closing ?? 'client', code, reason.length > 0 ? reason.slice(0, 200) : null);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    this.current = { type: null, id: null };
    if (isBinary) return this.sendError(errors.binaryFrame());
    const read = readClientEvent(data.toString());
    if (read.kind === 'append') {
      this.current = { type: 'input_audio_buffer.append', id: read.eventId };
      return this.append(read.base64);
    }
    if (read.kind === 'error') {
      this.current = { type: read.type, id: read.eventId };
      // A session.update the schema refused is discarded whole, and recorded as such.
      if (read.type === 'session.update') this.recorder.sessionUpdated({ at: nowMs(), eventId: read.eventId, session: this.config, accepted: false });
      return this.sendError(read.error);
    }
    this.current = { type: read.event.type, id: read.event.event_id ?? null };
    this.dispatch(read.event);
  }

  private dispatch(event: ClientEvent): void {
    switch (event.type) {
      case 'session.update':
        return this.update(event);
      case 'input_audio_buffer.append':
        return this.append(event.audio);
      case 'input_audio_buffer.commit':
        this.idle.disarm();
        this.input.commit('client');
        return;
      case 'input_audio_buffer.clear':
        return this.input.clear();
      case 'conversation.item.create':
        return createItem(this, event);
      case 'conversation.item.delete':
        return deleteItem(this, event);
      case 'conversation.item.retrieve':
        return retrieveItem(this, event);
      case 'conversation.item.truncate':
        return truncateItem(this, event);
      case 'response.create':
        this.idle.disarm();
        return this.responses.create('client', event.response);
      case 'response.cancel':
        return this.responses.cancel(event.response_id);
    }
  }

  private update(event: Extract<ClientEvent, { type: 'session.update' }>): void {
    const at = nowMs();
    const reject = (error: ErrorBody): void => {
      this.recorder.sessionUpdated({ at, eventId: this.current.id, session: this.config, accepted: false });
      this.sendError(error);
    };
    const { session } = event;
    if (session.type === 'transcription') return reject(errors.transcriptionSession());
    const voice = session.audio?.output?.voice;
    const voiceName = typeof voice === 'object' ? voice.id : voice;
    // Docs: voice "cannot be changed during the session once the model has responded with audio".
    if (voiceName !== undefined && this.voiceLocked && voiceName !== this.config.audio?.output?.voice) return reject(errors.voiceLocked());
    this.config = mergeSession(this.config, session);
    this.input.vad.configure(turnDetection(this.config));
    this.recorder.sessionUpdated({ at, eventId: this.current.id, session: this.config, accepted: true });
    const effective = this.config;
    this.later(this.settings.faults.sessionReadyDelayMs ?? 0, () => this.send({ type: 'session.updated', session: effective }));
  }

  private append(base64: string): void {
    const expected = decodedBase64Length(base64);
    if (expected > MAX_APPEND_BYTES) return this.sendError(errors.audioTooLarge(expected));
    const bytes = expected < 0 ? null : Buffer.from(base64, 'base64');
    if (bytes === null || bytes.length !== expected) return this.sendError(errors.invalidAudio());
    const faults = this.settings.faults;
    const appends = this.recorder.record.appendsReceived + 1;
    const fault = appendFault(faults, appends, this.identity.dropApplies);
    this.input.append(bytes);
    this.settings.onAppend?.(this.identity.callSid, bytes);
    if (fault === 'drop') return this.terminate('fault');
    if (fault === 'stall') {
      // Read nothing more: the client's writes back up in TCP and then in its own buffer.
      this.rawSocket.pause();
      if (faults.stallMs !== undefined) this.later(faults.stallMs, () => this.rawSocket.resume());
    } else if (fault === 'malformed' && this.isOpen()) {
      this.ws.send(MALFORMED_FRAME);
    }
  }
}
