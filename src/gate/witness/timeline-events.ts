// The model leg on the call's timeline (caller/timeline.ts): the sessions tied to the call, laid
// on the 'model' lane at the instants the simulator recorded (on the call's clock), so the HTML
// report draws both legs of a call on one axis: a session opening and closing, each
// session.update, the first append, each turn the VAD heard, each answer (as long as it ran), each
// truncation and each error.
import type { CallTimelineData, TimelineEvent } from '../../caller/timeline.js';
import type { SessionView } from './session-view.js';

/** Per session, per kind: the timeline is drawn, not searched, and stays small. */
const MAX_PER_KIND = 200;
const LABEL_CHARS = 80;

export function modelTimelineEvents(sessions: readonly SessionView[], timeline: Pick<CallTimelineData, 'origin'>): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  const add = (at: number | null, kind: string, label: string, durationMs: number | null = null): void => {
    if (at === null) return;
    const cut = label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS)}…` : label;
    events.push({ t: Math.round((at - timeline.origin) * 10) / 10, lane: 'model', kind, label: cut, durationMs: durationMs === null ? null : Math.round(durationMs * 10) / 10 });
  };
  for (const s of sessions) {
    add(s.openedAt, 'session-open', s.id);
    for (const c of s.configs.slice(0, MAX_PER_KIND)) add(c.at, c.accepted ? 'session-update' : 'session-update-refused', c.session.audio?.input?.format?.type ?? '');
    add(s.audioIn.firstAppendAt, 'first-append', s.audioIn.format ?? '');
    for (const c of s.commits.slice(0, MAX_PER_KIND)) add(c.speechStartedAt ?? c.at, 'turn', c.by);
    for (const r of s.responses.slice(0, MAX_PER_KIND)) add(r.createdAt, 'response', `${r.id} ${r.status}`, r.doneAt === null ? null : r.doneAt - r.createdAt);
    for (const t of s.truncations.slice(0, MAX_PER_KIND)) add(t.at, 'truncate', `${t.audioEndMs} ms`);
    for (const e of s.errors.slice(0, MAX_PER_KIND)) add(e.at, 'model-error', e.code ?? e.type);
    add(s.closedAt, 'session-close', s.closeCode === null ? '' : String(s.closeCode));
  }
  return events;
}
