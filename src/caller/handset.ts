// The caller's phone, the receiving half: the agent's audio, marks and clears as Twilio's side of
// a bidirectional stream handles them (playback.ts plays and echoes marks, one network delay
// later), and what the caller heard of it (heard.ts), which a scripted caller listens through.
// Counted in the call's ledger. Once the caller hangs up nothing more plays, is heard or echoes.
import type { AgentEvent } from '../twilio/codec.js';
import { HeardAudio, type CallerEar } from './heard.js';
import { DelayedSender, type OneWayDelay } from './network.js';
import { PlaybackQueue, type PlaybackLog } from './playback.js';
import type { CallLedger } from './record.js';
import type { CallTimeline } from './timeline.js';

export class Handset {
  readonly heard: HeardAudio;
  private readonly playback: PlaybackQueue;
  /** Mark echoes on their way back to the server. */
  private readonly echoes: DelayedSender;
  private ended = false;

  /**
   * `speed`: how fast it plays (null: at once, a burst replay's handset); `markDelay`: the one-way
   * delay of each mark echo; `echo`: sends one (the call's wire); `keepHeardBytes`: how much of
   * what the caller heard is kept as audio (a recording's), not only timed.
   */
  constructor(
    speed: number | null,
    markDelay: OneWayDelay,
    private readonly ledger: CallLedger,
    private readonly timeline: CallTimeline,
    echo: (name: string) => void,
    now: () => number,
    keepHeardBytes = 0,
  ) {
    this.echoes = new DelayedSender(markDelay, now);
    this.playback = new PlaybackQueue(speed, (name) => void this.echoes.send(() => echo(name)), now);
    this.heard = new HeardAudio(speed ?? 1, keepHeardBytes);
  }

  /** An agent event that reached the phone at `now` (after the line's delay), off the socket at `socketAt`. */
  receive(event: AgentEvent, now: number, socketAt: number = now): void {
    switch (event.type) {
      case 'audio': {
        const audio = Buffer.from(event.payload, 'base64');
        this.ledger.audioReceived(audio, now);
        this.timeline.agentFrame(now, audio);
        this.playback.addAudio(audio.length, now);
        if (!this.ended) this.heard.add(audio, now, socketAt);
        break;
      }
      case 'mark':
        this.ledger.marksReceived += 1;
        this.timeline.event(now, 'agent', 'mark-received', event.name);
        this.playback.addMark(event.name, now);
        break;
      case 'clear': {
        this.ledger.clearsReceived += 1;
        const clearedBefore = this.playback.audioClearedMs;
        this.playback.clear(now);
        if (!this.ended) this.heard.clear(now);
        this.timeline.event(now, 'agent', 'clear', '', this.playback.audioClearedMs - clearedBefore);
        break;
      }
    }
  }

  /** Played and heard of: nothing left to play, no echo still on its way back. */
  isDrained(now: number): boolean {
    return this.playback.isDrained(now) && this.echoes.inFlight === 0;
  }

  /** The agent sent audio within `quietMs`, or what it sent is still playing (or a mark echo still on the wire). */
  agentTalking(now: number, quietMs: number): boolean {
    const last = this.ledger.lastServerMediaAt;
    if (last !== null && now - last < quietMs) return true;
    // Played is not yet heard of: a mark echo still on the wire keeps the caller on the line.
    return !this.isDrained(now);
  }

  /** What a scripted caller hears. */
  ear(): CallerEar {
    const heard = this.heard;
    return {
      audibleAt: (now) => heard.audibleAt(now),
      speakingSince: (now) => heard.speakingSince(now),
      lastHeardAt: (now) => heard.lastHeardAt(now),
      settled: (now) => heard.drained(now) && this.isDrained(now),
    };
  }

  get audioClearedMs(): number {
    return this.playback.audioClearedMs;
  }

  /** What played when (playback.ts), on the epoch-ms clock, for the model-side witness. */
  playbackLog(): PlaybackLog {
    return this.playback.log();
  }

  /** The caller hung up (or the line went): nothing more plays or echoes; marks never echoed are counted once. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.ledger.marksPendingAtEnd = this.playback.stop() + this.echoes.stop();
  }
}
