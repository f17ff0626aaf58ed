// When things happened on the caller's side of a call, read off its timeline (caller/timeline.ts)
// on the epoch-ms clock the simulator's records use: each agent payload's arrival, and when the
// stream stopped (the caller's stop) or dropped (the socket closed).
import type { CallRecord } from '../../caller/record.js';

export interface CallClock {
  /** Epoch ms each received payload arrived, in order; shorter than the payloads when the timeline's cap cut it. */
  receivedAt: number[];
  /** All arrivals are known (the timeline kept every agent frame, whether or not the call kept its audio). */
  complete: boolean;
  stopSentAt: number | null;
  closedAt: number | null;
}

export function callClock(record: Pick<CallRecord, 'timeline'>): CallClock {
  const { timeline } = record;
  const at = (t: number): number => timeline.origin + t;
  const event = (kind: string): number | null => {
    const found = timeline.events.find((e) => e.kind === kind);
    return found === undefined ? null : at(found.t);
  };
  const receivedAt = timeline.agent.t.map(at);
  return { receivedAt, complete: timeline.dropped.agentFrames === 0, stopSentAt: event('stop'), closedAt: event('close') };
}

/** When the caller's stream ended: its stop, or the socket closing, whichever came first. */
export function streamEndedAt(clock: CallClock): number | null {
  const ends = [clock.stopSentAt, clock.closedAt].filter((t): t is number => t !== null);
  return ends.length === 0 ? null : Math.min(...ends);
}
