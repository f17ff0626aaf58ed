// Each answer of the model on its way to the caller, as figures: when the turn it answers ended
// at the model, when the model's first audio left, when the first of it reached the caller. The
// difference splits a response's latency into the model's part and the agent's (issue 14's
// per-turn figures read them from here).
import { MULAW_BYTES_PER_MS } from '../../audio/format.js';
import type { ModelAnswer } from '../../caller/witness.js';
import type { HeardAnswers } from './heard.js';
import type { SessionView } from './session-view.js';

const round1 = (ms: number): number => Math.round(ms * 10) / 10;
const minus = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round1(a - b));

export function modelAnswers(sessions: readonly SessionView[], heard: HeardAnswers): ModelAnswer[] {
  const sessionOf = new Map<string, SessionView>(sessions.flatMap((s) => s.responses.map((r) => [r.id, s] as const)));
  const spans = new Map(heard.spans.map((span) => [span.response.id, span]));
  return sessions
    .flatMap((s) => s.responses.filter((r) => r.outOfBand !== true))
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((r) => {
      const session = sessionOf.get(r.id)!;
      // The turn it answers: its session's last commit before it began and after the answer
      // before it began (a greeting, or an answer to a key press, has none).
      const previous = session.responses.filter((p) => p.createdAt < r.createdAt).at(-1)?.createdAt ?? Number.NEGATIVE_INFINITY;
      const turn = session.commits.filter((c) => c.at <= r.createdAt && c.at > previous).at(-1);
      const turnEndedAt = turn?.at ?? null;
      const span = spans.get(r.id);
      const firstReceivedAt = span === undefined ? null : heard.firstReceivedAt(span);
      return {
        responseId: r.id, itemId: r.itemIds[0] ?? null, trigger: r.trigger, turnEndedAt, createdAt: r.createdAt, firstDeltaAt: r.firstDeltaAt, firstReceivedAt,
        producedMs: r.audioMs, receivedMs: heard.audioGap !== null ? null : span === undefined ? 0 : span.bytes / MULAW_BYTES_PER_MS,
        modelMs: minus(r.firstDeltaAt, turnEndedAt), agentMs: minus(firstReceivedAt, r.firstDeltaAt),
      };
    });
}
