// Which model sessions are a call's. Three ways, strongest first: the session's upgrade named the
// call (x-callsim-call-sid, which callsim's own bridge sends); its first (or last) appended audio
// carries the call's watermark (audio/watermark.ts: it survives an agent that forwards Twilio's
// mu-law untouched); or it opened while this call, and no other, was running. A session that could be
// this call's or another's is said to be ambiguous and is left out, never guessed.
import { FRAME_BYTES } from '../../audio/format.js';
import { findWatermarks } from '../../audio/watermark.js';
import type { CorrelationMethod } from '../../caller/witness.js';
import type { SessionView } from './session-view.js';

/** One call as the registry knows it: when it ran, and what it can be recognised by. */
export interface CallWindow {
  callSid: string | null;
  watermark: number | null;
  placedAt: number;
  /** When its stream stopped or dropped; null while it runs. */
  endedAt: number | null;
}

export interface TiedSession {
  session: SessionView;
  tiedBy: Exclude<CorrelationMethod, 'none'>;
}

export interface Correlation {
  sessions: TiedSession[];
  /** Sessions that opened while this call ran but could be another's (or carry no mark): not judged. */
  ambiguous: Array<{ session: SessionView; rivals: number }>;
  method: CorrelationMethod;
}

/**
 * The watermark tag a session's first appended audio carries, else its last, or null. A tag
 * counts once two frames of one stretch agree on it and on where they sit (their indexes as far
 * apart as their offsets): one frame of natural audio passes a code's checks about once in
 * 65,536; two that agree, never. The last audio is read too: an agent that lost the caller's
 * first words can leave a head of loud speech, which has no room for the mark.
 */
export function sessionWatermark(session: SessionView): number | null {
  return stretchWatermark(session.audioIn.head) ?? stretchWatermark(session.audioIn.tail ?? '');
}

function stretchWatermark(base64: string): number | null {
  if (base64.length === 0) return null;
  const hits = findWatermarks(Buffer.from(base64, 'base64'));
  const votes = new Map<number, number>();
  for (let i = 0; i < hits.length; i++) {
    for (let j = i + 1; j < hits.length; j++) {
      const [a, b] = [hits[i]!, hits[j]!];
      if (a.tag === b.tag && ((b.index - a.index) & 0xffff) * FRAME_BYTES === b.offset - a.offset) votes.set(a.tag, (votes.get(a.tag) ?? 0) + 1);
    }
  }
  if (votes.size === 0) return null;
  return [...votes.entries()].sort((x, y) => y[1] - x[1])[0]![0];
}

/**
 * The calls of one run (ended ones stay: a session that opened while two calls ran is ambiguous
 * whichever is judged first), and the sessions already tied to one of them by time.
 */
export class CallRegistry {
  private readonly windows = new Set<CallWindow>();
  private readonly claimedByTime = new Map<string, CallWindow>();

  open(window: CallWindow): void {
    this.windows.add(window);
  }

  /** A call that was never placed. */
  forget(window: CallWindow): void {
    this.windows.delete(window);
  }

  /** Calls opened so far. */
  get size(): number {
    return this.windows.size;
  }

  /** Other calls running at `at` (ms), counting `slackMs` of clock uncertainty either way. */
  private rivalsAt(call: CallWindow, at: number, slackMs: number): number {
    let rivals = 0;
    for (const other of this.windows) {
      if (other === call) continue;
      if (at >= other.placedAt - slackMs && at <= (other.endedAt ?? Number.POSITIVE_INFINITY) + slackMs) rivals += 1;
    }
    return rivals;
  }

  /**
   * The sessions of `call` among `sessions` (read after the call's stream ended). `slackMs`: how
   * far the session's clock may be from ours.
   */
  correlate(call: CallWindow, sessions: readonly SessionView[], slackMs: number): Correlation {
    const tied: TiedSession[] = [];
    const ambiguous: Correlation['ambiguous'] = [];
    const endedAt = call.endedAt ?? Number.POSITIVE_INFINITY;
    for (const session of sessions) {
      if (session.callSid !== null) {
        if (session.callSid === call.callSid) tied.push({ session, tiedBy: 'call-sid-header' });
        continue;
      }
      const mark = sessionWatermark(session);
      if (mark !== null) {
        if (mark === call.watermark) tied.push({ session, tiedBy: 'watermark' });
        continue;
      }
      if (session.openedAt < call.placedAt - slackMs || session.openedAt > endedAt + slackMs) continue;
      const owner = this.claimedByTime.get(session.id);
      if (owner !== undefined && owner !== call) continue;
      const rivals = this.rivalsAt(call, session.openedAt, slackMs);
      if (rivals > 0) {
        ambiguous.push({ session, rivals });
        continue;
      }
      this.claimedByTime.set(session.id, call);
      tied.push({ session, tiedBy: 'time' });
    }
    const methods = new Set(tied.map((t) => t.tiedBy));
    const method: CorrelationMethod = methods.has('call-sid-header') ? 'call-sid-header' : methods.has('watermark') ? 'watermark' : methods.has('time') ? 'time' : 'none';
    return { sessions: tied, ambiguous, method };
  }
}
