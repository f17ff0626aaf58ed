// Turn detection on the appended audio, as the session configures it (docs:
// RealtimeAudioInputTurnDetection): server_vad with its threshold, prefix padding and silence
// duration; semantic_vad approximated by silence that depends on eagerness (the real one runs a
// turn model; its documented maximum waits are 8 s / 4 s / 2 s for low / medium / high); null is
// manual turns (no VAD events). A small state machine over 20 ms windows of the audio.
import { chunkRms, windowBytes, bytesPerMs, type AudioFormatType } from './audio-formats.js';
import type { TurnDetection } from './config.js';

export type VadState = 'off' | 'silence' | 'speech';

/** Loud audio needed before speech counts as started (two Twilio frames). */
export const SPEECH_MS_TO_START = 40;
/** Silence that ends a turn under semantic_vad, by eagerness ('auto' is 'medium', as documented). */
const SEMANTIC_SILENCE_MS = { low: 1500, medium: 800, high: 400, auto: 800 } as const;

export interface VadListener {
  speechStarted(audioStartMs: number): void;
  speechStopped(audioEndMs: number): void;
}

export class TurnDetector {
  state: VadState = 'off';
  private rmsThreshold = 0;
  private silenceToStopMs = 0;
  private prefixPaddingMs = 0;
  private loudMs = 0;
  private quietMs = 0;

  /** @param baseRms RMS (0..1) that a server_vad threshold of 0.5 (the default) maps to. */
  constructor(private readonly baseRms: number, private readonly listener: VadListener) {}

  configure(td: TurnDetection | null): void {
    if (td === null) {
      this.state = 'off';
      return;
    }
    if (this.state === 'off') {
      this.state = 'silence';
      this.loudMs = 0;
      this.quietMs = 0;
    }
    if (td.type === 'server_vad') {
      // Threshold 0.5 is the base level; each 0.1 above it asks for 8 dB more (1.0: +40 dB, nothing passes).
      this.rmsThreshold = this.baseRms * 10 ** (((td.threshold ?? 0.5) - 0.5) * 4);
      this.silenceToStopMs = td.silence_duration_ms ?? 200;
      this.prefixPaddingMs = td.prefix_padding_ms ?? 300;
    } else {
      this.rmsThreshold = this.baseRms;
      this.silenceToStopMs = SEMANTIC_SILENCE_MS[td.eagerness ?? 'auto'];
      this.prefixPaddingMs = 300;
    }
  }

  /** Forget any speech in progress (input_audio_buffer.clear, a manual commit). */
  reset(): void {
    if (this.state !== 'off') this.state = 'silence';
    this.loudMs = 0;
    this.quietMs = 0;
  }

  /** Feed one appended chunk that starts `startMs` into the session's audio. */
  push(chunk: Buffer, format: AudioFormatType, startMs: number): void {
    if (this.state === 'off') return;
    const step = windowBytes(format);
    const perMs = bytesPerMs(format);
    for (let offset = 0; offset < chunk.length; offset += step) {
      const window = chunk.length <= step ? chunk : chunk.subarray(offset, offset + step);
      const ms = window.length / perMs;
      const endMs = startMs + (offset + window.length) / perMs;
      this.window(chunkRms(format, window) > this.rmsThreshold, ms, endMs);
    }
  }

  private window(loud: boolean, ms: number, endMs: number): void {
    if (this.state === 'silence') {
      this.loudMs = loud ? this.loudMs + ms : 0;
      if (this.loudMs >= SPEECH_MS_TO_START) {
        this.state = 'speech';
        this.quietMs = 0;
        this.listener.speechStarted(Math.max(0, Math.round(endMs - this.loudMs - this.prefixPaddingMs)));
      }
      return;
    }
    this.quietMs = loud ? 0 : this.quietMs + ms;
    if (this.quietMs >= this.silenceToStopMs) {
      this.state = 'silence';
      this.loudMs = 0;
      // Docs: audio_end_ms "includes the min_silence_duration_ms".
      this.listener.speechStopped(Math.round(endMs));
    }
  }
}
