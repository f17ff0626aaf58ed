// A call's tape, kept when asked for (a recording, a wire trace, a test of the line): every text
// frame on the socket both ways with when it was scheduled and when it went, and every 20 ms the
// caller said with the instant it was said (lost ones too, flagged). The stereo recording and the
// JSONL wire trace are made from it afterwards. Times are performance.now() instants; a frame's
// bytes are referenced, not copied. Bounded: past the caps only a count is kept.

/** 60 minutes of caller frames, and as many wire messages each way with room for marks. */
export const MAX_TAPE_FRAMES = 180_000;
export const MAX_TAPE_MESSAGES = 400_000;
/**
 * The messages' text, in characters: the count's worth of ordinary ones (a 20 ms media message
 * is ~400). A server's messages may each be 64 KiB: the count alone would let it keep 26 GB.
 */
export const MAX_TAPE_CHARS = MAX_TAPE_MESSAGES * 512;

export type WireDirection = 'to-server' | 'from-server';

export interface WireMessage {
  dir: WireDirection;
  /** When it was written to the socket (to-server) or read from it (from-server). */
  at: number;
  /**
   * To-server only: when the call scheduled it to be written (its frame's due instant plus the bad
   * line's delay), independent of the event loop; null for what the caller sent in reaction to
   * the server (mark echoes) and for what came from the server.
   */
  scheduledAt: number | null;
  text: string;
}

export interface SaidFrame {
  /** When the caller said it: the frame's due instant on the caller's clock. */
  at: number;
  audio: Buffer;
  /** Lost before Twilio (the bad line): the server never got it. */
  lost: boolean;
}

export class CallTape {
  readonly wire: WireMessage[] = [];
  readonly said: SaidFrame[] = [];
  droppedMessages = 0;
  droppedFrames = 0;
  private keptChars = 0;

  /** `origin`: the performance.now() instant `start` was sent: the schedule's zero. */
  constructor(public origin: number) {}

  message(dir: WireDirection, at: number, scheduledAt: number | null, text: string): void {
    if (this.wire.length >= MAX_TAPE_MESSAGES || this.keptChars + text.length > MAX_TAPE_CHARS) {
      this.droppedMessages += 1;
      return;
    }
    this.keptChars += text.length;
    this.wire.push({ dir, at, scheduledAt, text });
  }

  frame(at: number, audio: Buffer, lost: boolean): void {
    if (this.said.length >= MAX_TAPE_FRAMES) {
      this.droppedFrames += 1;
      return;
    }
    this.said.push({ at, audio, lost });
  }
}
