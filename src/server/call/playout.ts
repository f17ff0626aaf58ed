// Playout: the model's answers on their way to Twilio. Audio is cut into 20 ms frames with a
// mark every 200 ms of each answer and at its end (Twilio echoes a mark once the audio before it
// has played: "Media Streams - WebSocket Messages", mark), and sent as it arrives up to sendLeadMs
// ahead of real time, then paced from the one shared ticker, up to playoutChunkFrames frames to a
// media message. While the Twilio socket is backed up, sending pauses and the audio stays queued;
// a peer that never reads again ends the call.
import type { Logger } from '../../log.js';
import type { SharedTicker, Tickable } from '../../ticker.js';
import { FRAME_BYTES, FRAME_MS, mulawMs } from '../../audio/format.js';
import { OutboundFrameBuilder, base64DecodedLength } from '../../twilio/codec.js';
import { formatPlayoutMark, parsePlayoutMark } from '../playout-mark.js';
import { CLOSE_CODE } from '../close-code.js';
import type { CallEnding } from './boundary.js';
import type { CallConfig } from './config.js';
import { Fifo } from './fifo.js';
import type { CallRecord } from './record.js';

/** A mark every this many frames lets barge-in truncate close to where the caller stopped hearing. */
export const FRAMES_PER_MARK = 10;
const MARK_EVERY_MS = FRAMES_PER_MARK * FRAME_MS;

/** A socket whose writes can be held and sent as one (net.Socket's cork/uncork). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** ws keeps its net.Socket as `_socket` and has no public way to batch sends; a fake socket has none. */
function wireOf(socket: PlayoutSocket): Corkable | null {
  const raw = (socket as { _socket?: Partial<Corkable> })._socket;
  return raw !== undefined && raw !== null && typeof raw.cork === 'function' && typeof raw.uncork === 'function' ? (raw as Corkable) : null;
}

/** The shared ticker, as far as playout subscribes to it. */
export type PlayoutTicker = Pick<SharedTicker, 'subscribe' | 'unsubscribe' | 'now'>;

/** The Twilio socket, as far as playout writes to it (a ws WebSocket). */
export interface PlayoutSocket {
  send(data: string): void;
  terminate(): void;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly OPEN: number;
}

/** One answer of the model as it plays out. */
export interface PlayingAnswer {
  /** The model's item id. */
  readonly id: string;
  /** Its number within the call, as its mark names carry it. */
  readonly seq: number;
  /** Audio queued so far, in ms. */
  queuedMs: number;
  /** Audio time of the last mark queued. */
  markedMs: number;
  /** Audio Twilio confirmed played (by echoing a mark). */
  playedMs: number;
}

type PlayoutState =
  | 'not-started' // no stream yet: nothing can be sent
  | 'idle' //        nothing queued; off the ticker
  | 'scheduled' //   audio or marks queued; on the ticker
  | 'released'; //   the call is over

export type PlayoutConfig = Pick<CallConfig, 'sendLeadMs' | 'playoutChunkFrames' | 'twilioHighWaterBytes' | 'twilioStallMs' | 'twilioBacklogFrames' | 'maxPendingTwilioFrames'>;

export class Playout implements Tickable {
  private state: PlayoutState;
  /** Buffer = one frame of audio, string = a mark name. */
  private readonly queue: Fifo<Buffer | string>;
  private queuedFrames: number;
  private frames: OutboundFrameBuilder | null;
  /** Audio time up to which frames have been sent (performance.now() clock). */
  private playheadMs: number;
  /** The tail of a delta shorter than a frame, waiting for the next delta. */
  private carry: Buffer | null;
  private answer: PlayingAnswer | null;
  private answers: number;
  /** performance.now() since when the socket has been above high water; null while it is not. */
  private blockedSince: number | null;
  /** Frames refused for overflow (never queued) or whose write threw: counted as not sent. */
  private refusedFrames: number;
  /** Frames that never went to Twilio, once released; null while the call runs. */
  private unsent: number | null;
  /** The socket under the WebSocket, corked for each tick's sends; null when there is none to reach. */
  private readonly wire: Corkable | null;

  constructor(
    private readonly socket: PlayoutSocket,
    private readonly ticker: PlayoutTicker,
    private readonly config: PlayoutConfig,
    private readonly record: CallRecord,
    private readonly logger: Logger,
    /** Ended when Twilio reads nothing for twilioStallMs (the socket is then dropped), or when the model runs away. */
    private readonly call: CallEnding,
  ) {
    this.state = 'not-started';
    this.queue = new Fifo();
    this.queuedFrames = 0;
    this.frames = null;
    this.playheadMs = 0;
    this.carry = null;
    this.answer = null;
    this.answers = 0;
    this.blockedSince = null;
    this.refusedFrames = 0;
    this.unsent = null;
    this.wire = wireOf(socket);
  }

  /** Frames waiting to go to Twilio (none once released). */
  get framesQueued(): number {
    return this.queuedFrames;
  }

  /** Once released: the frames that never went to Twilio (queued, or refused for overflow); null before. */
  get framesNotSent(): number | null {
    return this.unsent;
  }

  /** The stream is known: frames can be addressed to it. Once per call. */
  begin(streamSid: string): void {
    if (this.state !== 'not-started') return;
    this.frames = new OutboundFrameBuilder(streamSid);
    this.state = 'idle';
    this.schedule();
  }

  /** A delta of the model's answer `itemId`: framed, marked, queued; past the bound, the call ends. */
  enqueueAudio(base64Audio: string, itemId: string): void {
    // Counted before decoding: a 10 MB delta is refused without ever being decoded.
    const incoming = Math.floor(((this.carry?.length ?? 0) + base64DecodedLength(base64Audio)) / FRAME_BYTES);
    if (this.queuedFrames + incoming > this.config.maxPendingTwilioFrames) {
      this.overflow(incoming);
      return;
    }
    if (this.answer === null || this.answer.id !== itemId) {
      this.endAnswer();
      this.answers += 1;
      this.answer = { id: itemId, seq: this.answers, queuedMs: 0, markedMs: 0, playedMs: 0 };
    }
    const answer = this.answer;
    let audio = Buffer.from(base64Audio, 'base64');
    if (this.carry !== null) {
      audio = Buffer.concat([this.carry, audio]);
      this.carry = null;
    }
    let offset = 0;
    while (audio.length - offset >= FRAME_BYTES) {
      this.enqueueFrame(audio.subarray(offset, offset + FRAME_BYTES), answer);
      offset += FRAME_BYTES;
    }
    if (offset < audio.length) this.carry = audio.subarray(offset);
    if (this.queuedFrames > this.config.twilioBacklogFrames) this.record.warnBacklog('toTwilio', `${this.queuedFrames} frames queued for Twilio`, this.queuedFrames);
    this.schedule();
  }

  /** The current answer is complete: its last partial frame and its end mark go out. */
  endAnswer(): void {
    const answer = this.answer;
    if (answer !== null && this.carry !== null) this.enqueueFrame(this.carry, answer);
    this.carry = null;
    // Without an end mark, the last frames would look played before Twilio played them.
    if (answer !== null && answer.queuedMs !== answer.markedMs) this.enqueueMark(answer);
    this.schedule();
  }

  /** Twilio echoed a mark: that much of the current answer has played. */
  confirm(name: string): void {
    const mark = parsePlayoutMark(name);
    const answer = this.answer;
    if (mark !== null && answer !== null && mark.answer === answer.seq && mark.audioMs > answer.playedMs) answer.playedMs = mark.audioMs;
  }

  /**
   * The current answer while the caller may still be hearing it: queued here, or sent and not yet
   * confirmed by its marks. Derived from that answer's own marks only: the marks Twilio returns
   * for an answer it cleared say nothing about the next one.
   */
  playingAnswer(): Readonly<PlayingAnswer> | null {
    const answer = this.answer;
    if (this.frames === null || answer === null) return null;
    return this.queue.size > 0 || answer.playedMs < answer.queuedMs ? answer : null;
  }

  /** Drops what is queued and tells Twilio to drop what it buffered (Twilio's `clear`). */
  clear(): void {
    const frames = this.frames;
    this.queue.clear();
    this.queuedFrames = 0;
    this.carry = null;
    this.answer = null;
    if (frames === null) return;
    this.socket.send(frames.clear());
    this.record.counters.clearsSent += 1;
  }

  /** The call is over: off the ticker, everything queued let go (and counted). Returns the frames never sent. */
  release(): number {
    this.unsent ??= this.queuedFrames + this.refusedFrames;
    this.state = 'released';
    this.ticker.unsubscribe(this);
    this.queue.clear();
    this.queuedFrames = 0;
    this.carry = null;
    return this.unsent;
  }

  /** Sends what is due at `at` (the tick's grid point), paced at real time; keeps (never drops) audio while backed up. */
  tick(now: number, at: number = now): boolean {
    try {
      return this.sendDue(now, at);
    } catch (err) {
      // The ticker would drop a throwing subscriber; do it here so the loop can be rescheduled.
      if (this.state === 'scheduled') this.state = 'idle';
      this.record.internalError(err);
      return false;
    }
  }

  private overflow(incoming: number): void {
    const limit = this.config.maxPendingTwilioFrames;
    this.refusedFrames += incoming;
    this.record.recordError(
      'model_audio_overflow',
      `${this.queuedFrames} frames of model audio wait for Twilio and a delta of ${incoming} more came (limit ${limit}, ${(limit * FRAME_MS) / 1000} s)`,
    );
    this.logger.error('model audio overflow; ending call', { callSid: this.record.callSid, queuedFrames: this.queuedFrames, refusedFrames: incoming, limit });
    this.call.close('model audio overflow', CLOSE_CODE.internalError);
  }

  /**
   * On the ticker while audio waits, and what is due goes now: a delta that arrives due (the model
   * streaming at real time) must not wait up to a tick for its send, which the caller would hear as
   * that much jitter.
   */
  private schedule(): void {
    if (this.queue.size === 0) return;
    if (this.state === 'idle') {
      this.state = 'scheduled';
      this.ticker.subscribe(this);
    }
    // Done at once (all sent, or the socket closed): off the ticker as a tick would be.
    if (this.state === 'scheduled') {
      const now = this.ticker.now();
      if (!this.tick(now, now)) this.ticker.unsubscribe(this);
    }
  }

  private enqueueFrame(frame: Buffer, answer: PlayingAnswer): void {
    this.queue.push(frame);
    this.queuedFrames += 1;
    answer.queuedMs += mulawMs(frame.length);
    if (answer.queuedMs - answer.markedMs >= MARK_EVERY_MS) this.enqueueMark(answer);
  }

  private enqueueMark(answer: PlayingAnswer): void {
    this.queue.push(formatPlayoutMark(answer.seq, answer.queuedMs));
    answer.markedMs = answer.queuedMs;
  }

  /**
   * Pacing reads `at`, records read `now`: a chunk due right at a tick's grid point goes at that
   * tick every time, not at that one or the next as the timer fired a hair early or late (a
   * 10 ms swing the caller would hear as jitter).
   */
  private sendDue(now: number, at: number): boolean {
    const socket = this.socket;
    const frames = this.frames;
    if (this.state !== 'scheduled' || frames === null || socket.readyState !== socket.OPEN) return this.unschedule();
    if (this.playheadMs < at) this.playheadMs = at;
    const queue = this.queue;
    const until = at + this.config.sendLeadMs;
    // Most ticks of a chunked answer have nothing due: they return before touching the socket.
    if (queue.size > 0 && typeof queue.peek() !== 'string' && this.playheadMs >= until) return true;
    const highWater = this.config.twilioHighWaterBytes;
    // Corked, what this tick sends stays in the socket's buffer until the uncork hands it to the
    // kernel: only what was buffered before the tick's first write is Twilio's backlog.
    const backlog = socket.bufferedAmount;
    // One write for the tick: the frames due and the mark behind them leave in one syscall.
    const wire = this.wire;
    wire?.cork();
    try {
      while (queue.size > 0) {
        const item = queue.peek() as Buffer | string;
        // Audio only up to the lead; a mark right behind the last frame takes no audio time and goes with it.
        if (typeof item !== 'string' && this.playheadMs >= until) break;
        if (socket.bufferedAmount > highWater) {
          if (wire === null || backlog > highWater) return this.backedUp(now);
          // The tick's own corked writes reached the mark: the rest goes next tick (one write stays bounded).
          break;
        }
        this.blockedSince = null;
        if (typeof item === 'string') {
          queue.shift();
          socket.send(frames.mark(item));
          this.record.counters.marksSent += 1;
        } else {
          const chunk = this.takeChunk();
          try {
            socket.send(frames.media(chunk.toString('base64')));
          } catch (err) {
            // Taken from the queue and never written: counted with the frames that never went out.
            this.refusedFrames += Math.ceil(chunk.length / FRAME_BYTES);
            throw err;
          }
          if (++this.record.counters.audioOutChunks === 1) this.record.firstAudioSent(now);
          this.playheadMs += mulawMs(chunk.length);
        }
      }
    } finally {
      wire?.uncork();
    }
    return queue.size > 0 && this.state === 'scheduled' ? true : this.unschedule();
  }

  /** The frames at the head of the queue, up to a chunk's worth and never past a mark, as one payload. */
  private takeChunk(): Buffer {
    const queue = this.queue;
    const first = queue.shift() as Buffer;
    this.queuedFrames -= 1;
    const max = this.config.playoutChunkFrames;
    if (max <= 1 || queue.size === 0 || typeof queue.peek() === 'string') return first;
    const parts = [first];
    let bytes = first.length;
    while (parts.length < max && queue.size > 0) {
      const next = queue.peek();
      if (typeof next === 'string') break;
      parts.push(queue.shift() as Buffer);
      bytes += (next as Buffer).length;
      this.queuedFrames -= 1;
    }
    return Buffer.concat(parts, bytes);
  }

  private unschedule(): false {
    if (this.state === 'scheduled') this.state = 'idle';
    return false;
  }

  /** Twilio is not reading: keep the audio queued and wait; a peer that never reads ends the call. */
  private backedUp(now: number): boolean {
    const socket = this.socket;
    this.blockedSince ??= now;
    const stallMs = this.config.twilioStallMs;
    if (stallMs > 0 && now - this.blockedSince >= stallMs) {
      this.record.recordError('twilio_stalled', `Twilio read nothing for ${Math.round(now - this.blockedSince)} ms with ${socket.bufferedAmount} bytes buffered`);
      this.logger.error('Twilio not reading; ending call', { callSid: this.record.callSid, bufferedBytes: socket.bufferedAmount, queuedFrames: this.queuedFrames });
      this.call.close('Twilio not reading', CLOSE_CODE.internalError);
      // A close frame would only queue behind what the peer never reads.
      socket.terminate();
      return false;
    }
    this.record.warnBacklog('toTwilio', `${socket.bufferedAmount} bytes buffered on the Twilio socket, ${this.queuedFrames} frames queued`, this.queuedFrames);
    return true;
  }
}
