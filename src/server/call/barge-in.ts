// Barge-in, as the public samples do it: when the model hears the caller start speaking over an
// answer the caller may still be hearing, Twilio is told to drop the audio it buffered (`clear`)
// and the model's item is cut at what the caller actually heard (`conversation.item.truncate`
// with audio_end_ms, the playout's last confirmed mark), so the model's record of the
// conversation matches what was heard. Deltas of the cut answer that were already on their way
// are dropped, never played after the clear.
import type { Logger } from '../../log.js';
import type { Playout } from './playout.js';
import type { CallRecord } from './record.js';

/** Where the cut goes on the model side. */
export interface TruncateTarget {
  truncate(itemId: string, audioEndMs: number): void;
}

export class BargeIn {
  /** The answer last cut off; its late deltas are dropped. */
  private cutAnswerId: string | null;

  constructor(
    private readonly playout: Pick<Playout, 'playingAnswer' | 'clear'>,
    private readonly model: TruncateTarget,
    private readonly record: CallRecord,
    private readonly logger: Logger,
  ) {
    this.cutAnswerId = null;
  }

  /** A delta of an answer the caller already cut off: it must not play. */
  isCutOff(itemId: string): boolean {
    return itemId === this.cutAnswerId;
  }

  /** The model's VAD heard the caller start speaking (input_audio_buffer.speech_started). */
  onSpeechStarted(): void {
    const answer = this.playout.playingAnswer();
    if (answer === null) return;
    const { id, playedMs } = answer;
    this.playout.clear();
    this.cutAnswerId = id;
    this.record.counters.bargeIns += 1;
    this.model.truncate(id, playedMs);
    this.logger.info('barge-in', { callSid: this.record.callSid, itemId: id, playedMs });
  }
}
