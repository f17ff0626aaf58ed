// Barge-in, as the public samples do it, with the one care they skip: when the model hears the
// caller start speaking over an answer the caller may still be hearing, the call listens on; once
// the caller has talked over it for bargeInMinSpeechMs of voiced audio it cuts: Twilio is told
// to drop the audio it buffered (`clear`), the model's item is cut at what the caller actually
// heard (`conversation.item.truncate` with audio_end_ms, the playout's last confirmed mark) and
// the answer the model is still making is cancelled. If the model hears the caller stop first,
// it was a backchannel ("mm-hmm") and the answer goes on. Deltas of a cut answer that were
// already on their way are dropped, never played after the clear. Its states: idle -> hearing
// (speech over an answer, not yet long enough) -> idle (a backchannel) or a cut, then idle.
import { FRAME_MS } from '../../audio/format.js';
import { mulawRms } from '../../audio/g711.js';
import type { Logger } from '../../log.js';
import type { Playout } from './playout.js';
import type { CallRecord } from './record.js';

/** Where the cut goes on the model side. */
export interface TruncateTarget {
  truncate(itemId: string, audioEndMs: number): void;
  /** Stop the answer it is still making; optional for a model that stops by itself. */
  cancelResponse?(): void;
}

export type BargeInState = 'idle' | 'hearing';

/** A caller frame louder than this (RMS, 0..1) is voiced: the simulator's server_vad threshold 0.5 maps here. */
const VOICED_RMS = 0.02;

export class BargeIn {
  /** The answer last cut off; its late deltas are dropped. */
  private cutAnswerId: string | null;
  state: BargeInState;
  /** Voiced caller audio heard over the answer since the model heard speech start, ms. */
  private voicedMs: number;

  constructor(
    private readonly playout: Pick<Playout, 'playingAnswer' | 'clear'>,
    private readonly model: TruncateTarget,
    private readonly record: CallRecord,
    private readonly logger: Logger,
    /** Voiced ms of talk over an answer before it is cut (0: at once). */
    private readonly minSpeechMs: number = 0,
  ) {
    this.cutAnswerId = null;
    this.state = 'idle';
    this.voicedMs = 0;
  }

  /** A delta of an answer the caller already cut off: it must not play. */
  isCutOff(itemId: string): boolean {
    return itemId === this.cutAnswerId;
  }

  /** The model's VAD heard the caller start speaking (input_audio_buffer.speech_started). */
  onSpeechStarted(): void {
    if (this.playout.playingAnswer() === null) return;
    if (this.minSpeechMs <= 0) {
      this.cut();
      return;
    }
    this.state = 'hearing';
    this.voicedMs = 0;
  }

  /** A caller frame (base64 mu-law): while hearing, voiced audio counts toward a cut. Costs nothing otherwise. */
  onCallerAudio(payload: string): void {
    if (this.state !== 'hearing') return;
    if (mulawRms(Buffer.from(payload, 'base64')) >= VOICED_RMS) this.voicedMs += FRAME_MS;
    if (this.voicedMs >= this.minSpeechMs) this.cut();
  }

  /** The model heard the caller stop before the talk was long enough: a backchannel; the answer goes on. */
  onSpeechStopped(): void {
    if (this.state === 'hearing') this.state = 'idle';
  }

  private cut(): void {
    this.state = 'idle';
    const answer = this.playout.playingAnswer();
    if (answer === null) return;
    const { id, playedMs } = answer;
    this.playout.clear();
    this.cutAnswerId = id;
    this.record.counters.bargeIns += 1;
    // Cancel first: a truncate of the item still being made ends its response too, and a cancel after
    // that would find nothing to cancel (response_cancel_not_active).
    this.model.cancelResponse?.();
    this.model.truncate(id, playedMs);
    this.logger.info('barge-in', { callSid: this.record.callSid, itemId: id, playedMs });
  }
}
