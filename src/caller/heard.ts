// What the caller heard of the agent, and when: each chunk of agent audio as the handset played
// it (one after another from when it arrived, at the call's speed), cut where a `clear` dropped
// what had not played yet. A scripted caller listens through it (CallerEar: is the agent
// talking now, since when, when was it last heard), and the conversation's measurements and the
// stereo recording are read from its chunks afterwards. Times are performance.now() instants.
import { MULAW_BYTES_PER_MS, mulawMs } from '../audio/format.js';

/** Agent audio closer than this to the audio before it is heard as one stretch: no one hears a 60 ms underrun as a pause. */
export const JOIN_GAP_MS = 200;

/**
 * Pieces kept per call, 30 minutes of 20 ms payloads: past it, a payload within JOIN_GAP_MS of the
 * last piece is folded into it (a server flooding payloads must cost the caller counters, not memory).
 */
export const MAX_HEARD_CHUNKS = 90_000;
/** Clears kept: a server that floods clears must not grow the caller without bound. */
export const MAX_HEARD_CLEARS = 10_000;

/** One piece of agent audio as the handset played it. */
export interface HeardChunk {
  /** When it came off the socket (what the agent sent, as Twilio got it). */
  socketAt: number;
  /** When it reached the handset (after the bad line's downlink delay, if any). */
  arrivedAt: number;
  /** When it began and stopped playing; a clear may have cut `endAt` short. */
  startAt: number;
  endAt: number;
  /**
   * The mu-law that played, as it arrived (one payload; several once folded), fewer bytes than
   * arrived when a clear cut it; empty unless the call keeps the agent's audio (for a recording).
   */
  audio: Buffer[];
  /** Bytes that played (fewer than arrived when a clear cut it), whether or not `audio` keeps them. */
  bytes: number;
  /** Audio ms that arrived, before any cut. */
  sentMs: number;
  /** Where the stretch it belongs to began (chunks closer than JOIN_GAP_MS are one stretch). */
  stretchStartAt: number;
}

export interface HeardClear {
  at: number;
  /** Wall ms of queued audio it dropped before it played. */
  cutMs: number;
}

/** What a scripted caller can tell of the agent at `now`. */
export interface CallerEar {
  /** The agent is audible now. */
  audibleAt(now: number): boolean;
  /** When the agent's current stretch of talk began (a gap under JOIN_GAP_MS does not end it); null when it is silent. */
  speakingSince(now: number): number | null;
  /** When the agent was last heard (the end of the last audio played by `now`); null: never yet. */
  lastHeardAt(now: number): number | null;
  /** Nothing of the agent's is left to play, and no mark echo is on its way back: the line is quiet. */
  settled(now: number): boolean;
}

/** The first `n` bytes of `pieces`, as pieces. */
function firstBytes(pieces: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let left = n;
  for (const piece of pieces) {
    if (left <= 0) break;
    out.push(piece.length <= left ? piece : piece.subarray(0, left));
    left -= piece.length;
  }
  return out;
}

export class HeardAudio {
  readonly chunks: HeardChunk[] = [];
  /** Chunks a clear dropped before any of them played (what the agent sent and no one heard). */
  readonly dropped: HeardChunk[] = [];
  /** The first MAX_HEARD_CLEARS clears; past them a cut still ends its chunk, so the audio is seen to stop. */
  readonly clears: HeardClear[] = [];
  /** Clears past MAX_HEARD_CLEARS, not kept (each still cut what was playing). */
  clearsDropped = 0;
  /** Where the next chunk may start: the end of the last one queued. */
  private playheadFreeAt = 0;
  /** Index of the first chunk that may still be playing at a later `now` (queries go forward in time). */
  private cursor = 0;
  /** Bytes of audio `keepAudioBytes` still lets the chunks keep. */
  private audioBudget: number;
  /** Payloads folded into the piece before them, past MAX_HEARD_CHUNKS. */
  folded = 0;

  /**
   * `speed`: how fast the handset plays (1 real time); it is also how fast the caller's clock runs.
   * `keepAudioBytes`: how much of the agent's audio the chunks keep (a recording's); the rest only timed.
   */
  constructor(
    private readonly speed: number,
    keepAudioBytes = 0,
  ) {
    this.audioBudget = keepAudioBytes;
  }

  /** Agent audio reached the handset at `now` (off the socket at `socketAt`): it plays once what came before it has. */
  add(audio: Buffer, now: number, socketAt: number = now): void {
    if (audio.length === 0) return;
    const startAt = Math.max(this.playheadFreeAt, now);
    const sentMs = mulawMs(audio.length);
    const endAt = startAt + sentMs / this.speed;
    this.playheadFreeAt = endAt;
    // Once past the budget nothing more is kept: a recording never has holes in the middle.
    const kept = audio.length <= this.audioBudget ? [audio] : [];
    this.audioBudget = kept.length > 0 ? this.audioBudget - audio.length : 0;
    const previous = this.chunks.at(-1);
    const joined = previous !== undefined && startAt - previous.endAt < JOIN_GAP_MS;
    if (joined && this.chunks.length >= MAX_HEARD_CHUNKS) {
      previous.endAt = endAt;
      previous.bytes += audio.length;
      previous.sentMs += sentMs;
      previous.audio.push(...kept);
      this.folded += 1;
      // The piece may have ended before a query moved past it: it is playing again.
      this.cursor = Math.min(this.cursor, this.chunks.length - 1);
      return;
    }
    this.chunks.push({ socketAt, arrivedAt: now, startAt, endAt, audio: kept, bytes: audio.length, sentMs, stretchStartAt: joined ? previous.stretchStartAt : startAt });
  }

  /** Twilio's clear at `now`: what has not played is dropped, the chunk playing stops where it is. */
  clear(now: number): void {
    let cutMs = 0;
    while (this.chunks.length > 0) {
      const last = this.chunks.at(-1)!;
      if (last.endAt <= now) break;
      if (last.startAt >= now) {
        cutMs += last.endAt - last.startAt;
        this.dropped.push(this.chunks.pop()!);
        continue;
      }
      cutMs += last.endAt - now;
      const playedBytes = Math.floor((now - last.startAt) * this.speed * MULAW_BYTES_PER_MS);
      last.bytes = Math.min(last.bytes, Math.max(0, playedBytes));
      last.audio = firstBytes(last.audio, last.bytes);
      last.endAt = now;
      break;
    }
    this.playheadFreeAt = Math.min(this.playheadFreeAt, now);
    this.cursor = Math.min(this.cursor, this.chunks.length);
    if (this.clears.length < MAX_HEARD_CLEARS) this.clears.push({ at: now, cutMs });
    else this.clearsDropped += 1;
  }

  /** Nothing queued is still to play at `now`. */
  drained(now: number): boolean {
    return this.playheadFreeAt <= now;
  }

  audibleAt(now: number): boolean {
    const chunk = this.chunkAt(now);
    return chunk !== null && chunk.startAt <= now;
  }

  speakingSince(now: number): number | null {
    const at = this.chunkAt(now);
    if (at !== null && at.startAt <= now) return at.stretchStartAt;
    const ended = this.chunks[this.cursor - 1];
    return ended !== undefined && now - ended.endAt < JOIN_GAP_MS ? ended.stretchStartAt : null;
  }

  lastHeardAt(now: number): number | null {
    const at = this.chunkAt(now);
    if (at !== null && at.startAt <= now) return now;
    // The chunk before the cursor ended by now.
    for (let i = Math.min(this.cursor, this.chunks.length) - 1; i >= 0; i--) {
      const chunk = this.chunks[i]!;
      if (chunk.endAt <= now) return chunk.endAt;
    }
    return null;
  }

  /** The chunk playing at `now`, or the next one to play; null when none is left. Moves the cursor on. */
  private chunkAt(now: number): HeardChunk | null {
    while (this.cursor < this.chunks.length && this.chunks[this.cursor]!.endAt <= now) this.cursor += 1;
    return this.chunks[this.cursor] ?? null;
  }
}
