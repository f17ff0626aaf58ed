// What the caller heard of the model's answers, and when. The agent's audio reaches the caller as
// one stream of media payloads; each payload is tied to the model response whose first delta
// came last before it arrived (one response speaks at a time in a conversation, and audio cannot
// reach the caller before the model produced it). The agent's own forwarding delay can carry the
// last frames of an answer past the first delta of the next (an interrupted greeting, then the
// answer to the interruption): audio beyond what a response produced cannot be that response's,
// so such frames go back to the one before, while it is short of what it produced. The handset's
// playback log (caller/playback.ts) then says, for any instant, how much of each answer had
// played: a run plays at the call's speed from its start, until a clear or the hang-up cut it.
import { MULAW_BYTES_PER_MS } from '../../audio/format.js';
import type { CallRecord } from '../../caller/record.js';
import type { CallClock } from './call-clock.js';
import type { ResponseView } from './session-view.js';

/** One model answer as the caller received it: a contiguous stretch of the agent's audio. */
export interface AnswerSpan {
  response: ResponseView;
  sessionId: string;
  /** When audio from this answer can first have arrived (its first delta, less the clock's slack). */
  from: number;
  /** When the next answer's window opens (Infinity for the last). */
  until: number;
  fromByte: number;
  bytes: number;
  /** Indexes of its payloads in the received audio. */
  frames: number[];
}

export class HeardAnswers {
  readonly spans: AnswerSpan[];
  /** Audio that arrived before the model's first answer: the agent's own (a canned greeting, say). */
  readonly ownBytes: number;
  private readonly offsets: number[] = [];

  private readonly receivedAt: number[];

  constructor(
    private readonly record: Pick<CallRecord, 'receivedAudio' | 'receivedFramesNotKept' | 'playback'>,
    private readonly clock: CallClock,
    answers: ReadonlyArray<{ response: ResponseView; sessionId: string }>,
    slackMs: number,
  ) {
    this.receivedAt = clock.receivedAt;
    let offset = 0;
    for (const frame of record.receivedAudio) {
      this.offsets.push(offset);
      offset += frame.length;
    }
    const ordered = [...answers].filter((a) => a.response.firstDeltaAt !== null).sort((a, b) => a.response.firstDeltaAt! - b.response.firstDeltaAt!);
    this.spans = ordered.map((a, k) => ({
      ...a,
      from: a.response.firstDeltaAt! - slackMs,
      until: k + 1 < ordered.length ? ordered[k + 1]!.response.firstDeltaAt! - slackMs : Number.POSITIVE_INFINITY,
      fromByte: 0,
      bytes: 0,
      frames: [],
    }));
    let own = 0;
    let k = -1;
    // Only payloads both kept and timed can be placed; audioGap says when that is not all of them.
    this.receivedAt.slice(0, record.receivedAudio.length).forEach((at, i) => {
      while (k + 1 < this.spans.length && this.spans[k + 1]!.from <= at) k += 1;
      const bytes = record.receivedAudio[i]!.length;
      if (k < 0) {
        own += bytes;
        return;
      }
      const span = this.spans[k]!;
      if (span.frames.length === 0) span.fromByte = this.offsets[i]!;
      span.frames.push(i);
      span.bytes += bytes;
    });
    this.giveBackOverflow();
    for (let i = 0; i < this.spans.length; i++) {
      const span = this.spans[i]!;
      // An answer nothing arrived for starts where the one before it ends: an empty range there.
      if (span.frames.length === 0) span.fromByte = this.spans.slice(0, i).reduce((end, s) => Math.max(end, s.fromByte + s.bytes), own);
    }
    this.ownBytes = own;
  }

  /**
   * Audio beyond what a response produced is not that response's: frames at the head of an
   * answer holding too much go back to the one before while it is short, and frames at the tail
   * of one holding too much go on to the next while that is short.
   */
  private giveBackOverflow(): void {
    const produced = (span: AnswerSpan): number => span.response.audioMs * MULAW_BYTES_PER_MS;
    const size = (frame: number): number => this.record.receivedAudio[frame]!.length;
    for (let k = 0; k + 1 < this.spans.length; k++) {
      const before = this.spans[k]!;
      const after = this.spans[k + 1]!;
      while (after.frames.length > 0 && after.bytes > produced(after) && before.bytes + size(after.frames[0]!) <= produced(before)) {
        const first = after.frames.shift()!;
        if (before.frames.length === 0) before.fromByte = this.offsets[first]!;
        before.frames.push(first);
        before.bytes += size(first);
        after.bytes -= size(first);
        after.fromByte += size(first);
      }
      while (before.frames.length > 0 && before.bytes > produced(before) && after.bytes + size(before.frames.at(-1)!) <= produced(after)) {
        const last = before.frames.pop()!;
        after.frames.unshift(last);
        after.fromByte = this.offsets[last]!;
        after.bytes += size(last);
        before.bytes -= size(last);
      }
    }
  }

  /** When the first of an answer's audio reached the caller; null when none did. */
  firstReceivedAt(span: AnswerSpan): number | null {
    const first = span.frames[0];
    return first === undefined ? null : (this.receivedAt[first] ?? null);
  }

  /**
   * Why the answers cannot be told whole from what the call kept: a payload not kept (past the
   * bound on the agent's audio a call keeps) or not timed (past the timeline's cap); null: all were.
   */
  get audioGap(): string | null {
    const { receivedAudio, receivedFramesNotKept } = this.record;
    const payloads = receivedAudio.length + receivedFramesNotKept;
    if (receivedFramesNotKept > 0) return `the call kept ${receivedAudio.length} of the ${payloads} payloads of the agent's audio (the rest past what a call keeps), so its answers cannot be compared whole`;
    if (!this.clock.complete) return `the call's timeline timed ${this.receivedAt.length} of the ${payloads} payloads of the agent's audio (the rest past its cap), so its answers cannot be told apart`;
    return null;
  }

  /** Why playback cannot be replayed exactly (audioGap, or runs past the playback log's cap); null: it can. */
  get playbackGap(): string | null {
    if (this.audioGap !== null) return this.audioGap;
    return this.record.playback.runsDropped === 0 ? null : 'the call played too many separate stretches of audio for its playback to be replayed exactly';
  }

  /** The bytes of an answer as the caller received them. */
  bytesOf(span: AnswerSpan): Buffer {
    return Buffer.concat(span.frames.map((i) => this.record.receivedAudio[i]!));
  }

  spanOfItem(itemId: string): AnswerSpan | null {
    return this.spans.find((s) => s.response.itemIds.includes(itemId)) ?? null;
  }

  /** Bytes of [fromByte, toByte) of the received audio the caller had heard by `at` (epoch ms). */
  heardBytes(at: number, fromByte: number, toByte: number): number {
    let heard = 0;
    for (const [start, end] of this.playedRanges(at)) heard += Math.max(0, Math.min(end, toByte) - Math.max(start, fromByte));
    return heard;
  }

  /** The answer the caller was hearing at `at`, or had heard last; null before any. */
  answerHeardAt(at: number): AnswerSpan | null {
    let last = -1;
    for (const [start, end] of this.playedRanges(at)) if (end > start) last = Math.max(last, end - 1);
    if (last < 0) return null;
    return this.spans.find((s) => last >= s.fromByte && last < s.fromByte + s.bytes) ?? null;
  }

  /** Received-audio byte ranges played by `at`. */
  private playedRanges(at: number): Array<[number, number]> {
    const { playback } = this.record;
    const ranges: Array<[number, number]> = [];
    if (playback.speed === null) {
      // A burst call: audio counts as heard the moment it arrives.
      this.receivedAt.forEach((arrived, i) => {
        if (arrived <= at) ranges.push([this.offsets[i]!, this.offsets[i]! + this.record.receivedAudio[i]!.length]);
      });
      return ranges;
    }
    for (const run of playback.runs) {
      if (run.at > at) continue;
      const played = Math.min(run.bytes, Math.floor((at - run.at) * playback.speed * MULAW_BYTES_PER_MS));
      ranges.push([run.fromByte, run.fromByte + played]);
    }
    return ranges;
  }
}
