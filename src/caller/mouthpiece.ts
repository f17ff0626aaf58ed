// The caller's phone, the sending half: each 20 ms frame on every track the stream carries, as
// Twilio stamps it (timestamp in stream ms, whatever the replay speed), the DTMF digits due before
// it, and the two ways a frame never reaches the server: lost on a bad line before Twilio had it,
// or discarded because the server left its socket backed up (31930). Counted in the call's ledger.
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../audio/format.js';
import { watermarkFrame } from '../audio/watermark.js';
import type { MediaTrack } from '../twilio/codec.js';
import type { MediaLine } from './line.js';
import type { CallNetwork } from './network.js';
import { DTMF_DIGIT_SPACING_MS, type ResolvedOptions } from './options.js';
import type { CallLedger } from './record.js';
import type { CallTape } from './tape.js';
import type { CallTimeline } from './timeline.js';
import type { CallWire } from './wire.js';

const SILENCE_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

function padFrame(frame: Buffer): Buffer {
  if (frame.length === FRAME_BYTES) return frame;
  const padded = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  frame.copy(padded);
  return padded;
}

/** Caller frame `n` as it goes on the wire: padded, and watermarked when the call is. */
function callerPayload(options: ResolvedOptions, n: number, frame: Buffer): Buffer {
  const padded = padFrame(frame);
  return options.watermark === null ? padded : watermarkFrame(padded, options.watermark, n);
}

/** Each digit of the call's DTMF plan with the media frame it goes out before. */
function dtmfSchedule(options: ResolvedOptions): Array<{ frameIndex: number; digit: string }> {
  const firstFrame = options.dtmfAtMs === null ? options.frames.length : Math.ceil(options.dtmfAtMs / FRAME_MS);
  const spacingFrames = Math.round(DTMF_DIGIT_SPACING_MS / FRAME_MS);
  return [...options.dtmfDigits].map((digit, i) => ({ frameIndex: firstFrame + i * spacingFrames, digit }));
}

export interface MouthpieceParts {
  options: ResolvedOptions;
  tracks: readonly MediaTrack[];
  network: CallNetwork;
  line: MediaLine;
  wire: CallWire;
  ledger: CallLedger;
  tape: CallTape | null;
  timeline: CallTimeline;
}

export class Mouthpiece {
  private dtmfQueue: Array<{ frameIndex: number; digit: string }> = [];

  constructor(private readonly parts: MouthpieceParts) {}

  /** `start` has gone: the plain replay's DTMF plan begins to count frames. */
  planDtmf(): void {
    this.dtmfQueue = dtmfSchedule(this.parts.options);
  }

  /** Digits of the plan still to press. */
  get dtmfPending(): boolean {
    return this.dtmfQueue.length > 0;
  }

  sendDigit(digit: string, scheduledAt: number): void {
    if (!this.parts.wire.send({ type: 'dtmf', digit }, scheduledAt)) return;
    this.parts.ledger.dtmfDigitsSent += digit;
    this.parts.timeline.event(performance.now(), 'caller', 'dtmf', digit);
  }

  /**
   * Media frame `n` of the whole call, due at `dueAt`, on every track; the plan's DTMF due at or
   * before it goes first. A frame the bad line loses, or the line discards, is never built (it
   * takes no sequence number). False once the line is closed.
   */
  sendFrame(n: number, frame: Buffer, isAudio: boolean, dueAt: number): boolean {
    const { options, tracks, network, line, wire, ledger, tape, timeline } = this.parts;
    while (this.dtmfQueue.length > 0 && this.dtmfQueue[0]!.frameIndex <= n) this.sendDigit(this.dtmfQueue.shift()!.digit, dueAt);
    const startDelayMs = options.earlyMedia ? 0 : options.startDelayMs;
    // Audio time since start, as Twilio stamps it: independent of how fast we replay.
    const timestampMs = startDelayMs + n * FRAME_MS;
    for (const track of tracks) {
      const audio = track === 'inbound' ? callerPayload(options, n, frame) : padFrame(options.agentFrames[n] ?? SILENCE_FRAME);
      // Lost between the phone and Twilio: one draw per caller frame, in order, whatever the server does.
      if (track === 'inbound' && network.loses()) {
        ledger.callerFramesLost += 1;
        tape?.frame(dueAt, audio, true);
        continue;
      }
      const now = performance.now();
      const admitted = line.admitMedia(now);
      if (admitted === 'closed') return false;
      if (admitted === 'dropped') {
        ledger.mediaDropped(track);
        continue;
      }
      if (!wire.send({ type: 'audio', payload: audio.toString('base64'), timestampMs, track }, dueAt)) return false;
      if (track === 'inbound') {
        ledger.mediaSent(now, isAudio, options.watermark === null ? null : audio);
        timeline.callerFrame(now, audio);
        tape?.frame(dueAt, audio, false);
      } else ledger.outboundTrackFramesSent += 1;
    }
    return true;
  }
}
