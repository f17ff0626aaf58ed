// A call's lifecycle as named phases, with every legal move in one table. A call ends exactly
// once, in one of two ways the snapshot tells apart: Twilio's `stop` (stopped), or anything else:
// the socket closing, a fault, the idle sweep, shutdown (closed). Between deciding to end and
// having ended, the call drains: the last caller audio goes to the model, the model session and
// the socket are closed, the final record is logged.
import type { CallState } from '../call-snapshot.js';

export type CallPhase =
  | 'awaiting-start' // socket open, no valid `start` yet
  | 'live' //           started: media flows both ways
  | 'stopping' //       draining after Twilio's stop
  | 'closing' //        draining after any other end
  | 'stopped'
  | 'closed';

/** Every legal move. Anything else is a bug in the call, recorded on it as an internal error. */
const MOVES: Readonly<Record<CallPhase, readonly CallPhase[]>> = {
  'awaiting-start': ['live', 'stopping', 'closing'],
  live: ['stopping', 'closing'],
  stopping: ['stopped'],
  closing: ['closed'],
  stopped: [],
  closed: [],
};

/** The phase as GET /calls reports it (its contract predates the phases). */
const REPORTED: Readonly<Record<CallPhase, CallState>> = {
  'awaiting-start': 'connected',
  live: 'started',
  stopping: 'stopped',
  closing: 'closed',
  stopped: 'stopped',
  closed: 'closed',
};

export class CallLifecycle {
  private current: CallPhase;

  /** `bugs`: where an illegal move is reported (the call record, as an internal error). */
  constructor(private readonly bugs: { internalError(err: unknown): void }) {
    this.current = 'awaiting-start';
  }

  get phase(): CallPhase {
    return this.current;
  }

  get reported(): CallState {
    return REPORTED[this.current];
  }

  /** Neither ending nor ended: a stop or a close still means something. */
  get isOpen(): boolean {
    return this.current === 'awaiting-start' || this.current === 'live';
  }

  /** Over, parts released and the final record reported. */
  get hasEnded(): boolean {
    return this.current === 'stopped' || this.current === 'closed';
  }

  /** Moves to `next` if the table allows it; an illegal move is reported and refused. */
  move(next: CallPhase): boolean {
    if (!MOVES[this.current].includes(next)) {
      this.bugs.internalError(new Error(`illegal call move ${this.current} -> ${next}`));
      return false;
    }
    this.current = next;
    return true;
  }
}
