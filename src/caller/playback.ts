// What the caller's handset does with the agent's audio, as Twilio's side of a bidirectional
// stream does it ("Media Streams - WebSocket Messages", mark and clear): audio plays at 20 ms per
// 160 bytes (scaled by speed; at once when `speed` is null, for burst calls), a mark is echoed once
// the audio queued before it has played, and clear "empties all buffered audio and causes any
// mark messages to be sent back". No socket here: the call feeds it and sends what it echoes.
import { performance } from 'node:perf_hooks';
import { mulawMs } from '../audio/format.js';

export class PlaybackQueue {
  /** The instant (on `now`'s clock) the audio queued so far finishes playing. */
  private playheadFreeAt = 0;
  private readonly pendingMarks: Array<{ name: string; dueAt: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Audio ms a clear dropped before it was played. */
  audioClearedMs = 0;

  constructor(
    private readonly speed: number | null,
    private readonly onMarkPlayed: (name: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  addAudio(bytes: number, now: number): void {
    if (this.speed === null || this.stopped) return;
    const wallMs = mulawMs(bytes) / this.speed;
    this.playheadFreeAt = Math.max(this.playheadFreeAt, now) + wallMs;
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
