// The model sessions themselves: which ones are the call's (model-session), were they closed soon
// after the caller's stream ended (model-session-closed: the API documents no bound, 2 s is
// callsim's), did the agent cause error events (model-no-errors; docs, RealtimeErrorEvent: "could
// be a client problem or a server problem. Most errors are recoverable and the session will stay
// open" — so an agent that ignores them goes on none the wiser), and who spoke first
// (model-first-speaker, against what the user expects).
import type { CallDirection } from '../../twilio/codec.js';
import { printable } from '../../text/printable.js';
import { failed, ms, passed, plural, type ModelCheck } from './check.js';
import type { Correlation } from './correlate.js';
import type { SessionView } from './session-view.js';

export const SESSION = 'model-session';
export const SESSION_CLOSED = 'model-session-closed';
export const NO_ERRORS = 'model-no-errors';
export const FIRST_SPEAKER = 'model-first-speaker';

export type Speaker = 'caller' | 'agent';
export type FirstSpeakerExpectation = Partial<Record<CallDirection, Speaker>>;

/** Peer text (error messages, close reasons) as the report quotes it. */
export function quoted(text: string, max = 160): string {
  const safe = printable(text);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

const METHOD_TEXT = { 'call-sid-header': 'the x-callsim-call-sid header of its upgrade', watermark: 'the watermark in its first audio', time: 'time: it opened while only this call ran' } as const;

/** Sessions that could be this call's or another's, said as such. */
export function ambiguousText(correlation: Correlation): string {
  const { ambiguous } = correlation;
  const rivals = Math.max(...ambiguous.map((a) => a.rivals));
  const ids = ambiguous.map((a) => a.session.id).join(', ');
  return `${plural(ambiguous.length, 'session')} (${ids}) opened while this call and ${plural(rivals, 'other call')} ran, and ${ambiguous.length === 1 ? 'carries' : 'carry'} no watermark (the agent transcodes, or appended no audio)`;
}

export function sessionCheck(correlation: Correlation): ModelCheck {
  const tied = correlation.sessions.map((t) => `${t.session.id} (by ${METHOD_TEXT[t.tiedBy]})`);
  const ambiguous = correlation.ambiguous.length > 0 ? `; ${ambiguousText(correlation)}: not judged (ambiguous, not guessed)` : '';
  return passed(SESSION, `${plural(tied.length, 'model session')}: ${tied.join(', ')}${ambiguous}`);
}

/** Each session closed within `boundMs` of the stream ending; one still open then is a leak. */
export function closedCheck(sessions: readonly SessionView[], streamEndedAt: number, boundMs: number, stillOpenAt: number): ModelCheck {
  const problems: string[] = [];
  const fine: string[] = [];
  for (const s of sessions) {
    if (s.closedAt === null) {
      problems.push(`session ${s.id} was still open ${ms(stillOpenAt - streamEndedAt)} after the caller's stream ended (a leak: it stays open until the process dies)`);
      continue;
    }
    const after = s.closedAt - streamEndedAt;
    const by = s.closedBy === 'client' ? 'the agent' : `the simulator (${s.closedBy ?? 'unknown'})`;
    const code = s.closeCode === null ? '' : `, code ${s.closeCode}`;
    if (after > boundMs) problems.push(`session ${s.id} was closed only ${ms(after)} after the caller's stream ended (bound ${ms(boundMs)})`);
    else fine.push(after <= 0 ? `${s.id} closed by ${by} before the stream ended${code}` : `${s.id} closed by ${by} ${ms(after)} after the stream ended${code}`);
  }
  if (problems.length > 0) return failed(SESSION_CLOSED, problems.join('; '), 'every such call keeps a Realtime session (and its cost and rate limit) open after the caller hung up');
  return passed(SESSION_CLOSED, `${fine.join('; ')} (bound ${ms(boundMs)})`);
}

export function errorsCheck(sessions: readonly SessionView[]): ModelCheck {
  const errors = sessions.flatMap((s) => s.errors.filter((e) => e.scripted !== true).map((e) => ({ ...e, session: s.id })));
  const dropped = sessions.reduce((n, s) => n + s.dropped.errors, 0);
  if (errors.length === 0 && dropped === 0) return passed(NO_ERRORS, `no error events in ${plural(sessions.length, 'session')}`);
  const shown = errors.slice(0, 3).map((e) => {
    const cause = e.clientEventType === null ? 'on connecting' : `for ${quoted(e.clientEventType, 60)}${e.clientEventId === null ? '' : ` (event_id ${quoted(e.clientEventId, 60)})`}`;
    return `${quoted(e.code ?? e.type, 60)} ${cause}: ${quoted(e.message)}`;
  });
  const total = errors.length + dropped;
  return failed(NO_ERRORS, `the model sent ${plural(total, 'error event')}: ${shown.join('; ')}${total > shown.length ? '; …' : ''}`, 'the agent asked the model for something it refused, and what it meant to happen did not');
}

/**
 * Who spoke first: the agent when the model began a spoken answer before it heard the caller
 * start to speak (an answer the caller's first words then cut off counts: it was begun first).
 */
export function firstSpeakerCheck(sessions: readonly SessionView[], direction: CallDirection, expected: Speaker): ModelCheck {
  // A record that says the format knows it was to be spoken; an older one, only if audio went out.
  const spoken = (r: SessionView['responses'][number]): boolean => (r.audioFormat === undefined ? r.audioBytes > 0 : r.audioFormat !== null);
  const answers = sessions.flatMap((s) => s.responses).filter((r) => r.outOfBand !== true && spoken(r)).sort((a, b) => a.createdAt - b.createdAt);
  const speech = sessions.flatMap((s) => s.commits.map((c) => c.speechStartedAt ?? c.at)).sort((a, b) => a - b);
  const firstAnswer = answers[0];
  const callerStarted = speech[0];
  const agentFirst = firstAnswer !== undefined && (callerStarted === undefined || firstAnswer.createdAt < callerStarted);
  const actual: Speaker = agentFirst ? 'agent' : 'caller';
  const saw = agentFirst
    ? `the model began its first answer ${callerStarted === undefined ? 'before it heard the caller speak at all' : `${ms(callerStarted - firstAnswer!.createdAt)} before it heard the caller start to speak`}`
    : firstAnswer === undefined
      ? 'the model never began a spoken answer'
      : `the model heard the caller start to speak ${ms(firstAnswer.createdAt - callerStarted!)} before its first answer`;
  if (actual === expected) return passed(FIRST_SPEAKER, `${direction}: the ${actual} spoke first, as expected (${saw})`);
  const consequence = expected === 'caller' ? 'the agent talks over a caller who expects to speak first' : 'the caller hears silence on a call the agent was meant to open';
  return failed(FIRST_SPEAKER, `${direction}: expected the ${expected} to speak first, but ${saw}`, consequence);
}
