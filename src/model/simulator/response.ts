// One response of the simulated model, from response.created to response.done, as a small
// state machine driven by the shared ticker: waiting (its latency to first output) -> streaming
// (audio with its transcript, or text, or a function call's arguments) -> ended; or hung (a
// scripted fault that never finishes). Event order follows the live API (captured 2026-09):
// response.created, output_item.added, conversation.item.added, content_part.added, deltas,
// *.done, content_part.done, conversation.item.done, output_item.done, response.done,
// rate_limits.updated.
import { createHash } from 'node:crypto';
import type { RealtimeResponse, RealtimeResponseStatus } from 'openai/resources/realtime/realtime';
import type { SharedTicker, Tickable } from '../../ticker.js';
import { bytesPerMs, formatObject, type AudioFormatType } from './audio-formats.js';
import type { Conversation, StoredItem } from './conversation.js';
import { errors, type ErrorBody } from './errors.js';
import { estimateUsage, type AssistantMessage, type FunctionCallItem, type OutgoingEvent } from './events.js';
import { nowMs, type ResponseRecord, type SessionRecorder } from './record.js';
import type { ScriptFault } from './script.js';

export type ResponseState = 'waiting' | 'streaming' | 'hung' | 'ended';
type EndStatus = 'completed' | 'cancelled' | 'failed';

export interface ResponseHost {
  send(event: OutgoingEvent): void;
  /** `scripted`: the model script's fault, not the client's doing. */
  sendError(error: ErrorBody, scripted?: boolean): void;
  readonly conversation: Conversation;
  readonly recorder: SessionRecorder;
  readonly ticker: SharedTicker;
  newId(prefix: string): string;
  /** Audio and text the response's context holds, for its usage figures. */
  contextSize(): { audioMs: number; textChars: number };
  /** Socket-level faults (drop, close, stall) mid-answer. */
  socketFault(fault: Extract<ScriptFault, { type: 'drop' | 'close' | 'stall' }>): void;
  ended(response: ActiveResponse): void;
}

export interface ResponsePlan {
  trigger: 'vad' | 'client' | 'idle';
  /** False: out of band (conversation "none"), nothing is added to the conversation. */
  inConversation: boolean;
  modality: 'audio' | 'text';
  format: AudioFormatType;
  voice: string;
  audio: Buffer | null;
  transcript: string;
  toolCall: { name: string; arguments: string; callId: string } | null;
  latencyMs: number;
  streamSpeed: number;
  deltaMs: number;
  fault: ScriptFault | null;
  scriptTurn: number | null;
  lateDeltasAfterCancel: number;
  metadata: Record<string, string> | null;
}

const TEXT_WORDS_PER_TICK = 3;
/** Audio between transcript deltas: the words keep pace without an event per audio delta. */
const TRANSCRIPT_EVERY_MS = 300;
const ARGUMENT_DELTA_CHARS = 24;

export class ActiveResponse implements Tickable {
  readonly id: string;
  readonly record: ResponseRecord;
  state: ResponseState = 'waiting';
  private readonly startedAt = performance.now();
  private streamStartedAt = 0;
  private item: StoredItem | null = null;
  private offset = 0;
  /** Over the audio sent so far: the record carries its digest after every delta, so a response the socket closed on mid-answer (no response.done) can still be compared byte for byte. */
  private readonly audioHash = createHash('sha256');
  private readonly words: string[];
  private wordsSent = 0;
  private transcriptAtMs = -Infinity;
  private faultDone = false;

  constructor(readonly plan: ResponsePlan, private readonly host: ResponseHost) {
    this.id = host.newId('resp');
    this.words = plan.transcript.split(/(?<=\s)/).filter((w) => w.length > 0);
    this.record = {
      id: this.id, trigger: plan.trigger, outOfBand: !plan.inConversation, audioFormat: plan.audio === null ? null : plan.format, scriptTurn: plan.scriptTurn, outputModalities: [plan.modality], itemIds: [], status: 'in_progress', reason: null,
      createdAt: nowMs(), firstDeltaAt: null, doneAt: null, audioBytes: 0, audioMs: 0, audioSha256: null, transcript: '', functionCall: null,
    };
    host.recorder.push('responses', this.record);
    host.recorder.record.responsesStarted += 1;
  }

  /** The id of the item its audio belongs to, once it has one. */
  get itemId(): string | null {
    return this.item?.item.id ?? null;
  }

  /** Milliseconds of audio sent so far. */
  get audioSentMs(): number {
    return this.offset / bytesPerMs(this.plan.format);
  }

  /** When the audio sent would finish playing at real time from the first delta (performance.now() ms). */
  playbackEndsAt(): number {
    return (this.streamStartedAt || performance.now()) + this.audioSentMs;
  }

  start(): void {
    this.host.send({ type: 'response.created', response: this.resource('in_progress') });
    if (this.plan.fault?.type === 'error') {
      this.fail(this.plan.fault);
      return;
    }
    if (this.plan.fault?.type === 'hang') {
      this.state = 'hung';
      return;
    }
    this.host.ticker.subscribe(this);
  }

  tick(now: number): boolean {
    if (this.state === 'waiting') {
      if (now - this.startedAt < this.plan.latencyMs) return true;
      this.openOutput();
      this.streamStartedAt = now;
      this.state = 'streaming';
    }
    if (this.state !== 'streaming') return false;
    if (this.plan.toolCall) this.streamArguments();
    else if (this.plan.modality === 'text') this.streamText();
    else this.streamAudio(now);
    return this.state === 'streaming';
  }

  /** Ends the response early; false when it had already ended. */
  cancel(reason: 'turn_detected' | 'client_cancelled'): boolean {
    if (this.state === 'ended') return false;
    this.host.ticker.unsubscribe(this);
    const audio = this.plan.audio;
    if (this.item && audio) for (let i = 0; i < this.plan.lateDeltasAfterCancel && this.offset < audio.length; i++) this.sendAudioDelta(audio);
    this.end('cancelled', { type: 'cancelled', reason });
    return true;
  }

  private resource(status: NonNullable<RealtimeResponse['status']>, details?: RealtimeResponseStatus): RealtimeResponse {
    const output = status === 'in_progress' || !this.item ? [] : [this.outputItem(status === 'completed' ? 'completed' : 'incomplete')];
    const resource: RealtimeResponse = {
      object: 'realtime.response', id: this.id, status, output,
      output_modalities: [this.plan.modality], max_output_tokens: 'inf',
      audio: { output: { format: formatObject(this.plan.format), voice: this.plan.voice } },
      metadata: this.plan.metadata,
    };
    if (this.plan.inConversation) resource.conversation_id = `conv_${this.host.recorder.record.id.slice(5)}`;
    if (details) resource.status_details = details;
    if (status !== 'in_progress') {
      const text = this.plan.toolCall ? this.plan.toolCall.arguments.length : this.sentText().length;
      resource.usage = estimateUsage(this.host.contextSize(), { audioMs: this.audioSentMs, textChars: text });
    }
    return resource;
  }

  private outputItem(status: 'in_progress' | 'completed' | 'incomplete'): AssistantMessage | FunctionCallItem {
    const id = this.item!.item.id;
    const call = this.plan.toolCall;
    if (call) return { id, object: 'realtime.item', type: 'function_call', status, call_id: call.callId, name: call.name, arguments: status === 'in_progress' ? '' : call.arguments };
    const content: AssistantMessage['content'] =
      status === 'in_progress' ? [] : this.plan.modality === 'text' ? [{ type: 'output_text', text: this.sentText() }] : [{ type: 'output_audio', transcript: this.sentText() }];
    return { id, object: 'realtime.item', type: 'message', role: 'assistant', status, content };
  }

  private sentText(): string {
    return this.words.slice(0, this.wordsSent).join('');
  }

  private base(): { response_id: string; item_id: string; output_index: number } {
    return { response_id: this.id, item_id: this.item!.item.id, output_index: 0 };
  }

  private openOutput(): void {
    this.item = { item: { id: this.host.newId('item'), type: 'message', role: 'assistant', content: [] }, audio: [], audioBytes: 0, audioFormat: this.plan.modality === 'audio' ? this.plan.format : null, audioMs: 0 };
    const item = this.outputItem('in_progress');
    this.item.item = item;
    this.record.itemIds.push(item.id);
    this.record.firstDeltaAt = nowMs();
    this.host.send({ type: 'response.output_item.added', response_id: this.id, output_index: 0, item });
    if (this.plan.inConversation) {
      const previous = this.host.conversation.add(this.item);
      this.host.recorder.push('items', { id: item.id, type: item.type, role: this.plan.toolCall ? null : 'assistant', by: 'simulator', at: nowMs(), deletedAt: null });
      this.host.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    }
    if (this.plan.toolCall) {
      this.record.functionCall = { name: this.plan.toolCall.name, callId: this.plan.toolCall.callId, arguments: this.plan.toolCall.arguments };
      return;
    }
    const part = this.plan.modality === 'text' ? { type: 'text' as const, text: '' } : { type: 'audio' as const, transcript: '' };
    this.host.send({ type: 'response.content_part.added', ...this.base(), content_index: 0, part });
  }

  private streamAudio(now: number): void {
    const audio = this.plan.audio!;
    const perMs = bytesPerMs(this.plan.format);
    const due = ((now - this.streamStartedAt) * this.plan.streamSpeed + this.plan.deltaMs) * perMs;
    while (this.offset < audio.length && this.offset < due && this.state === 'streaming') {
      this.sendAudioDelta(audio);
      this.maybeFault();
    }
    if (this.state === 'streaming' && this.offset >= audio.length) this.end('completed');
  }

  private sendAudioDelta(audio: Buffer): void {
    const chunk = audio.subarray(this.offset, this.offset + Math.max(1, Math.round(this.plan.deltaMs * bytesPerMs(this.plan.format))));
    this.offset += chunk.length;
    const item = this.item!;
    item.audio.push(chunk);
    item.audioBytes += chunk.length;
    if (this.plan.inConversation) this.host.conversation.keptAudio(chunk.length);
    item.audioMs = this.audioSentMs;
    this.record.audioBytes = this.offset;
    this.audioHash.update(chunk);
    this.record.audioSha256 = this.audioHash.copy().digest('hex');
    this.record.audioMs = item.audioMs;
    this.host.recorder.record.audioDeltasSent += 1;
    // The transcript keeps pace with the audio (it runs slightly ahead on the live API).
    const wordsDue = Math.ceil((this.words.length * this.offset) / audio.length);
    const last = this.offset >= audio.length;
    if (wordsDue > this.wordsSent && (last || item.audioMs - this.transcriptAtMs >= TRANSCRIPT_EVERY_MS)) {
      this.transcriptAtMs = item.audioMs;
      const delta = this.words.slice(this.wordsSent, wordsDue).join('');
      this.wordsSent = wordsDue;
      this.host.send({ type: 'response.output_audio_transcript.delta', ...this.base(), content_index: 0, delta });
    }
    this.host.send({ type: 'response.output_audio.delta', ...this.base(), content_index: 0, delta: chunk.toString('base64') });
  }

  private maybeFault(): void {
    const fault = this.plan.fault;
    if (this.faultDone || !fault || (fault.type !== 'drop' && fault.type !== 'close' && fault.type !== 'stall')) return;
    if (this.audioSentMs < (fault.afterMs ?? 0)) return;
    this.faultDone = true;
    this.host.socketFault(fault);
  }

  private streamText(): void {
    this.maybeFault();
    const end = Math.min(this.words.length, this.wordsSent + TEXT_WORDS_PER_TICK);
    if (end > this.wordsSent) {
      const delta = this.words.slice(this.wordsSent, end).join('');
      this.wordsSent = end;
      this.host.send({ type: 'response.output_text.delta', ...this.base(), content_index: 0, delta });
    }
    if (this.wordsSent >= this.words.length && this.state === 'streaming') this.end('completed');
  }

  private streamArguments(): void {
    const call = this.plan.toolCall!;
    for (let at = 0; at < call.arguments.length; at += ARGUMENT_DELTA_CHARS) {
      this.host.send({ type: 'response.function_call_arguments.delta', ...this.base(), call_id: call.callId, delta: call.arguments.slice(at, at + ARGUMENT_DELTA_CHARS) });
    }
    this.end('completed');
  }

  private fail(fault: Extract<ScriptFault, { type: 'error' }>): void {
    const error = { ...errors.server(fault.message, fault.code), type: fault.errorType };
    this.host.sendError(error, true);
    this.end('failed', { type: 'failed', error: { type: fault.errorType, ...(fault.code ? { code: fault.code } : {}) } });
  }

  private end(status: EndStatus, details?: RealtimeResponseStatus): void {
    this.state = 'ended';
    this.host.ticker.unsubscribe(this);
    if (this.item) this.closeOutput(status === 'completed' ? 'completed' : 'incomplete');
    const record = this.host.recorder.record;
    if (status === 'completed') record.responsesCompleted += 1;
    else if (status === 'cancelled') record.responsesCancelled += 1;
    this.record.status = status;
    this.record.reason = details?.reason ?? null;
    this.record.doneAt = nowMs();
    this.record.transcript = this.sentText();
    this.host.send({ type: 'response.done', response: this.resource(status, details) });
    this.host.ended(this);
  }

  private closeOutput(status: 'completed' | 'incomplete'): void {
    const call = this.plan.toolCall;
    const base = this.base();
    if (call) {
      this.host.send({ type: 'response.function_call_arguments.done', ...base, call_id: call.callId, name: call.name, arguments: call.arguments });
    } else if (this.plan.modality === 'text') {
      this.host.send({ type: 'response.output_text.done', ...base, content_index: 0, text: this.sentText() });
      this.host.send({ type: 'response.content_part.done', ...base, content_index: 0, part: { type: 'text', text: this.sentText() } });
    } else {
      this.host.send({ type: 'response.output_audio.done', ...base, content_index: 0 });
      this.host.send({ type: 'response.output_audio_transcript.done', ...base, content_index: 0, transcript: this.sentText() });
      this.host.send({ type: 'response.content_part.done', ...base, content_index: 0, part: { type: 'audio', transcript: this.sentText() } });
    }
    const item = this.outputItem(status);
    this.item!.item = item;
    if (this.plan.inConversation && this.host.conversation.has(item.id)) this.host.send({ type: 'conversation.item.done', item });
    this.host.send({ type: 'response.output_item.done', response_id: this.id, output_index: 0, item });
  }
}
