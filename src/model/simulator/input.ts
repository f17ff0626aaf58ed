// The input audio buffer: appends, turn detection over them, and the commit that turns the
// buffered audio into a user item (docs: InputAudioBufferAppendEvent / CommitEvent). One item id
// runs from speech_started through speech_stopped, committed and conversation.item.added, as
// the docs promise ("will also be included in the input_audio_buffer.speech_stopped event").
import { bytesPerMs, type AudioFormatType } from './audio-formats.js';
import { inputFormat, turnDetection, type EffectiveSession } from './config.js';
import { MAX_CONVERSATION_AUDIO_BYTES, type Conversation } from './conversation.js';
import { errors, type ErrorBody } from './errors.js';
import { untranscribedAudioPart, type OutgoingEvent } from './events.js';
import { nowMs, type SessionRecorder } from './record.js';
import { UNRECOGNISED_TRANSCRIPT, type TranscriptIndex } from './transcripts.js';
import { TurnDetector, type VadListener } from './vad.js';

/** Docs: a commit needs at least 100 ms of audio. */
const MIN_COMMIT_MS = 100;
/** The most recent audio of a turn kept for retrieve and recognition (the counts and hash stay exact). */
const MAX_TURN_AUDIO_BYTES = MAX_CONVERSATION_AUDIO_BYTES;
const INITIAL_STORE_BYTES = 8 * 1024;
/** How long after a commit the (asynchronous, on the live API) input transcription arrives. */
const TRANSCRIPTION_DELAY_MS = 150;

export interface InputHost {
  send(event: OutgoingEvent): void;
  sendError(error: ErrorBody): void;
  readonly recorder: SessionRecorder;
  readonly conversation: Conversation;
  readonly transcripts: TranscriptIndex | null;
  session(): EffectiveSession;
  newId(prefix: string): string;
  later(ms: number, fn: () => void): void;
  /** VAD heard speech start: barge-in, if the session interrupts responses. */
  speechStarted(): void;
  /** VAD (or the idle timeout) ended a turn and committed it: answer, if the session creates responses. */
  turnCommitted(by: 'vad' | 'idle'): void;
}

export class InputAudio implements VadListener {
  readonly vad: TurnDetector;
  // The turn's most recent audio, copied into one buffer (grown up to a cap, then shifted):
  // appended chunks die young instead of living until the commit.
  private store: Buffer = Buffer.allocUnsafe(INITIAL_STORE_BYTES);
  private stored = 0;
  private bufferedBytes = 0;
  private bufferedMs = 0;
  /** Session audio position (ms) and byte offset, and the session offset of the store's first byte. */
  private positionMs = 0;
  private positionBytes = 0;
  private storeStartBytes = 0;
  private pendingItemId: string | null = null;
  private speechStartMs: number | null = null;
  private speechStartedAt: number | null = null;

  constructor(private readonly host: InputHost, vadBaseRms: number) {
    this.vad = new TurnDetector(vadBaseRms, this);
    this.vad.configure(turnDetection(host.session()));
  }

  /** Total audio appended this session, in ms (what speech_started/stopped offsets count in). */
  get sessionMs(): number {
    return this.positionMs;
  }

  append(bytes: Buffer): void {
    const format: AudioFormatType = inputFormat(this.host.session());
    const ms = bytes.length / bytesPerMs(format);
    this.host.recorder.append(bytes, format, ms);
    const startMs = this.positionMs;
    this.positionMs += ms;
    this.positionBytes += bytes.length;
    this.keep(bytes);
    this.bufferedBytes += bytes.length;
    this.bufferedMs += ms;
    this.vad.push(bytes, format, startMs);
  }

  private keep(bytes: Buffer): void {
    if (bytes.length >= MAX_TURN_AUDIO_BYTES) {
      this.storeStartBytes += this.stored + bytes.length - MAX_TURN_AUDIO_BYTES;
      this.stored = 0;
      bytes = bytes.subarray(bytes.length - MAX_TURN_AUDIO_BYTES);
    }
    let needed = this.stored + bytes.length;
    if (needed > MAX_TURN_AUDIO_BYTES) {
      // Let the older half go at once: one copy per half-cap of audio, not per append.
      const drop = Math.max(needed - MAX_TURN_AUDIO_BYTES, MAX_TURN_AUDIO_BYTES >> 1);
      this.store.copy(this.store, 0, drop, this.stored);
      this.stored -= drop;
      this.storeStartBytes += drop;
      needed -= drop;
    }
    if (needed > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_TURN_AUDIO_BYTES, Math.max(needed, this.store.length * 2)));
      this.store.copy(grown, 0, 0, this.stored);
      this.store = grown;
    }
    bytes.copy(this.store, this.stored);
    this.stored = needed;
  }

  private turnAudio(): Buffer {
    return this.store.subarray(0, this.stored);
  }

  speechStarted(audioStartMs: number): void {
    this.pendingItemId = this.host.newId('item');
    this.speechStartMs = audioStartMs;
    this.speechStartedAt = nowMs();
    this.host.recorder.record.speechStarted += 1;
    this.host.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: audioStartMs, item_id: this.pendingItemId });
    this.host.speechStarted();
  }

  speechStopped(audioEndMs: number): void {
    const itemId = this.pendingItemId ?? this.host.newId('item');
    this.pendingItemId = itemId;
    this.host.recorder.record.speechStopped += 1;
    this.host.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: audioEndMs, item_id: itemId });
    this.commit('vad', audioEndMs);
    this.host.turnCommitted('vad');
  }

  /** The idle timeout fired: announce it and commit what the buffer holds, however little. */
  timeoutTriggered(sinceMs: number): void {
    const itemId = this.host.newId('item');
    this.pendingItemId = itemId;
    this.host.send({ type: 'input_audio_buffer.timeout_triggered', audio_start_ms: Math.round(sinceMs), audio_end_ms: Math.round(this.positionMs), item_id: itemId });
    this.commit('idle', Math.round(this.positionMs));
    this.host.turnCommitted('idle');
  }

  /** Commits the buffer as a user item; a client commit of under 100 ms is refused. */
  commit(by: 'vad' | 'client' | 'idle', audioEndMs: number | null = null): boolean {
    if (by === 'client' && this.bufferedMs < MIN_COMMIT_MS) {
      this.host.sendError(errors.commitEmpty(this.bufferedMs));
      return false;
    }
    const itemId = this.pendingItemId ?? this.host.newId('item');
    const format = inputFormat(this.host.session());
    const stored = {
      item: { id: itemId, object: 'realtime.item' as const, type: 'message' as const, status: 'completed' as const, role: 'user' as const, content: [untranscribedAudioPart()] },
      // An exact copy for the item; the store is reused for the next turn.
      audio: this.stored > 0 ? [Buffer.from(this.turnAudio())] : [], audioBytes: this.stored, audioFormat: format, audioMs: this.bufferedMs,
    };
    const previous = this.host.conversation.add(stored);
    const transcription = this.host.session().audio?.input?.transcription;
    const transcript = this.recognise(format);
    const at = nowMs();
    this.host.recorder.push('commits', {
      at, itemId, by, speechStartedAt: this.speechStartedAt, speechStoppedAt: by === 'vad' ? at : null,
      audioStartMs: this.speechStartMs, audioEndMs, bytes: this.bufferedBytes, transcript: transcription ? transcript : null,
    });
    this.host.recorder.push('items', { id: itemId, type: 'message', role: 'user', by: 'simulator', at: nowMs(), deletedAt: null });
    this.host.send({ type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: itemId });
    this.host.send({ type: 'conversation.item.added', previous_item_id: previous, item: stored.item });
    this.host.send({ type: 'conversation.item.done', previous_item_id: previous, item: stored.item });
    if (transcription) this.transcribe(itemId, transcript, this.bufferedMs);
    this.startNewBuffer();
    if (by === 'client') this.vad.reset();
    return true;
  }

  clear(): void {
    this.startNewBuffer();
    this.vad.reset();
    this.host.send({ type: 'input_audio_buffer.cleared' });
  }

  private startNewBuffer(): void {
    this.stored = 0;
    this.bufferedBytes = 0;
    this.bufferedMs = 0;
    this.storeStartBytes = this.positionBytes;
    this.pendingItemId = null;
    this.speechStartMs = null;
    this.speechStartedAt = null;
  }

  private recognise(format: AudioFormatType): string {
    if (this.host.transcripts === null || format !== 'audio/pcmu') return UNRECOGNISED_TRANSCRIPT;
    return this.host.transcripts.recognise(this.turnAudio(), this.storeStartBytes) ?? UNRECOGNISED_TRANSCRIPT;
  }

  private transcribe(itemId: string, transcript: string, audioMs: number): void {
    this.host.later(TRANSCRIPTION_DELAY_MS, () => {
      const stored = this.host.conversation.get(itemId);
      if (stored?.item.type === 'message') stored.item.content = [{ type: 'input_audio', transcript }];
      const words = transcript.split(/(?<=\s)/);
      for (const delta of words) this.host.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta });
      const audioTokens = Math.ceil(audioMs / 100);
      const textTokens = Math.ceil(transcript.length / 4);
      this.host.send({
        type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript,
        usage: { type: 'tokens', total_tokens: audioTokens + textTokens, input_tokens: audioTokens, input_token_details: { text_tokens: 0, audio_tokens: audioTokens }, output_tokens: textTokens },
      });
    });
  }
}
