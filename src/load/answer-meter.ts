// What the caller hears of the agent, measured on one call without knowing anything of the
// server: its audio is cut into answers by the caller's own turns and by the modelled playout
// buffer, never by the server's mark names, so any Media Streams server is judged the same way.
//
//   - An answer is the agent's audio after the caller's speech ended. Its first frame is the one
//     that finds nothing playing; the response latency is from the end of the caller's speech to
//     that frame.
//   - Jitter: each later frame's lateness after the one before it, inter-arrival minus the audio
//     length of that one (20 ms after a 20 ms frame, 100 ms after a 100 ms one).
//   - A gap: a frame of the same turn that found the playout buffer empty. The buffer starts
//     playing an answer `jitterBufferMs` after its first frame (Twilio does not document its
//     own; see LOAD_DEFAULTS.jitterBufferMs), and again after each gap.
import { newHistogram } from './histogram.js';

/** One worker's accumulators over a measurement window; every call of the worker feeds them. */
export class AgentAudioWindow {
  readonly jitter = newHistogram('jitter');
  readonly latency = newHistogram('responseLatency');
  open = false;
  frames = 0;
  gaps = 0;
  gapMs = 0;
  /** Caller turns whose speech ended inside the window. */
  turns = 0;
  /** Of those, the turns an answer began after (before the next turn ended). */
  answered = 0;

  start(): void {
    this.jitter.reset();
    this.latency.reset();
    this.frames = 0;
    this.gaps = 0;
    this.gapMs = 0;
    this.turns = 0;
    this.answered = 0;
    this.open = true;
  }

  stop(): void {
    this.open = false;
  }
}

export class AnswerMeter {
  /** Caller turns ended so far; the agent's audio after the k-th one belongs to turn k. */
  private turn = 0;
  private lastTurn = -1;
  private lastArrival = 0;
  private lastDurationMs = 0;
  /** When the caller's playout buffer runs dry (performance.now() ms). */
  private playoutEnd = 0;
  private turnEndedAt = 0;
  private turnAnswered = true;
  /** The current turn ended while the window was open: its answer (or none) counts. */
  private turnCounted = false;

  constructor(
    private readonly window: AgentAudioWindow,
    private readonly jitterBufferMs: number,
  ) {}

  /** When what the caller has been sent finishes playing. */
  get playsUntil(): number {
    return this.playoutEnd;
  }

  /** The caller's speech of a turn has ended, at `at`. */
  turnEnded(at: number): void {
    this.turn += 1;
    this.turnEndedAt = at;
    this.turnAnswered = false;
    this.turnCounted = this.window.open;
    if (this.turnCounted) this.window.turns += 1;
  }

  /** An agent frame of `durationMs` of audio arrived at `now`. */
  media(now: number, durationMs: number): void {
    const w = this.window;
    const playing = now < this.playoutEnd;
    if (w.open) w.frames += 1;
    if (playing || (this.lastTurn === this.turn && this.lastArrival > 0)) {
      // The same answer goes on (or stalled: nothing was left to play).
      if (w.open) w.jitter.record(now - this.lastArrival - this.lastDurationMs);
      if (!playing) {
        if (w.open) {
          w.gaps += 1;
          w.gapMs += now - this.playoutEnd;
        }
        this.playoutEnd = now + this.jitterBufferMs;
      }
    } else {
      // A new answer: the silence before it was the caller's turn, not jitter.
      if (!this.turnAnswered) {
        this.turnAnswered = true;
        if (this.turnCounted && w.open) {
          w.answered += 1;
          w.latency.record(now - this.turnEndedAt);
        }
      }
      this.playoutEnd = now + this.jitterBufferMs;
    }
    this.playoutEnd += durationMs;
    this.lastArrival = now;
    this.lastDurationMs = durationMs;
    this.lastTurn = this.turn;
  }

  /** Twilio's `clear`: what was buffered is dropped; the next frame starts a new answer. */
  clear(now: number): void {
    this.playoutEnd = now;
    this.lastArrival = 0;
    this.lastTurn = -1;
  }
}
