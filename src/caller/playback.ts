// What the caller's handset does with the agent's audio, as Twilio's side of a bidirectional
// stream does it ("Media Streams - WebSocket Messages", mark and clear): audio plays at 20 ms per
// 160 bytes (scaled by speed; at once when `speed` is null, for burst calls), a mark is echoed once
// the audio queued before it has played, and clear "empties all buffered audio and causes any
// mark messages to be sent back". No socket here: the call feeds it and sends what it echoes.
// It also logs what played when (runs of continuous playback, and the clears), on the epoch-ms
// clock, so a check can ask what the caller had heard of an answer at any instant.
import { performance } from 'node:perf_hooks';
import { MULAW_BYTES_PER_MS, mulawMs } from '../audio/format.js';

/** One stretch of continuous playback: the agent's audio from `fromByte` on, played from `at`. */
export interface PlaybackRun {
  /** Epoch ms (performance.timeOrigin + performance.now()) it began playing. */
  at: number;
  /** Offset of its first byte in the agent's audio as received (every media payload, in order). */
  fromByte: number;
  /** Bytes it played: a clear or the hang-up cuts a run short. */
  bytes: number;
}

/** What the handset played: a run plays `bytes` at `speed` × real time from `at`. */
export interface PlaybackLog {
  /** Playback speed (the call's); null: a burst call, whose audio counts as heard the moment it arrives. */
  speed: number | null;
  runs: PlaybackRun[];
  /** Runs past MAX_PLAYBACK_RUNS, not kept. */
  runsDropped: number;
  /** Epoch ms of each clear, the first MAX_PLAYBACK_CLEARS. */
  clears: number[];
  /** Clears past MAX_PLAYBACK_CLEARS, not kept: a server that floods clears must not grow the caller without bound. */
  clearsDropped: number;
}

/** Runs kept per call: an answer sent slower than real time starts a run per frame. */
export const MAX_PLAYBACK_RUNS = 10_000;
/** Clears kept per call; past it they are counted (and still obeyed). */
export const MAX_PLAYBACK_CLEARS = 10_000;
const EPOCH = performance.timeOrigin;

export class PlaybackQueue {
  /** The instant (on `now`'s clock) the audio queued so far finishes playing. */
  private playheadFreeAt = 0;
  private readonly pendingMarks: Array<{ name: string; dueAt: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Audio ms a clear dropped before it was played. */
  audioClearedMs = 0;
  private receivedBytes = 0;
  private readonly runs: PlaybackRun[] = [];
  private runsDropped = 0;
  /** The run playing now (its `at` still on performance.now()'s clock), or null. */
  private current: PlaybackRun | null = null;
  private readonly clears: number[] = [];
  private clearsDropped = 0;

  constructor(
    private readonly speed: number | null,
    private readonly onMarkPlayed: (name: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  addAudio(bytes: number, now: number): void {
    const fromByte = this.receivedBytes;
    this.receivedBytes += bytes;
    if (this.speed === null || this.stopped) return;
    if (this.current !== null && this.playheadFreeAt > now) this.current.bytes += bytes;
    else this.startRun(now, fromByte, bytes);
    const wallMs = mulawMs(bytes) / this.speed;
    this.playheadFreeAt = Math.max(this.playheadFreeAt, now) + wallMs;
  }

  private startRun(now: number, fromByte: number, bytes: number): void {
    this.current = { at: now, fromByte, bytes };
    if (this.runs.length < MAX_PLAYBACK_RUNS) this.runs.push(this.current);
    else this.runsDropped += 1;
  }

  /** The run playing at `now` stops there: what it had not played yet is never heard. */
  private cutRun(now: number): void {
    const run = this.current;
    if (run === null || this.speed === null || this.playheadFreeAt <= now) return;
    run.bytes = Math.min(run.bytes, Math.max(0, Math.floor((now - run.at) * this.speed * MULAW_BYTES_PER_MS)));
    this.current = null;
  }

  /** What played when, on the epoch-ms clock. */
  log(): PlaybackLog {
    return { speed: this.speed, runs: this.runs.map((r) => ({ ...r, at: EPOCH + r.at })), runsDropped: this.runsDropped, clears: this.clears.map((at) => EPOCH + at), clearsDropped: this.clearsDropped };
  }

  addMark(name: string, now: number): void {
    if (this.stopped) return;
    const dueAt = this.speed === null ? now : Math.max(this.playheadFreeAt, now);
    // Marks keep their order: one behind a pending mark waits even if its own audio is done.
    if (dueAt <= now && this.pendingMarks.length === 0) {
      this.onMarkPlayed(name);
      return;
    }
    this.pendingMarks.push({ name, dueAt });
    this.schedule(now);
  }

  clear(now: number): void {
    if (this.stopped) return;
    if (this.clears.length < MAX_PLAYBACK_CLEARS) this.clears.push(now);
    else this.clearsDropped += 1;
    this.cutRun(now);
    if (this.speed !== null && this.playheadFreeAt > now) {
      this.audioClearedMs += (this.playheadFreeAt - now) * this.speed;
      this.playheadFreeAt = now;
    }
    this.cancelTimer();
    for (const mark of this.pendingMarks.splice(0)) this.onMarkPlayed(mark.name);
  }

  isDrained(now: number): boolean {
    return this.pendingMarks.length === 0 && this.playheadFreeAt <= now;
  }

  /** The call is over: nothing more plays or echoes. Returns the marks that never played. */
  stop(): number {
    if (!this.stopped) this.cutRun(this.now());
    this.stopped = true;
    this.cancelTimer();
    return this.pendingMarks.length;
  }

  private schedule(now: number): void {
    if (this.timer !== null || this.pendingMarks.length === 0) return;
    const head = this.pendingMarks[0]!;
    this.timer = setTimeout(() => this.fireDue(), Math.max(0, head.dueAt - now));
  }

  private fireDue(): void {
    this.timer = null;
    const now = this.now();
    while (this.pendingMarks.length > 0 && this.pendingMarks[0]!.dueAt <= now) {
      this.onMarkPlayed(this.pendingMarks.shift()!.name);
    }
    this.schedule(now);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
