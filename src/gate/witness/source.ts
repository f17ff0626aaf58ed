// Where the witness reads model sessions from: a simulator in this process (the gate's own, or
// the built-in server's embedded one), or a `callsim simulator` elsewhere, over its read-only
// GET /v1/callsim/sessions. A remote simulator keeps time on its own clock; each read estimates
// the offset from the `now` it answers with (half the round trip is the uncertainty) and moves
// its records onto ours, so both legs of a call are compared on one clock.
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { SESSIONS_PATH, type RunningSimulator } from '../../model/simulator/simulator.js';
import { printable } from '../../text/printable.js';
import { sessionViewSchema, shiftedView, viewOf, type SessionView } from './session-view.js';

export interface SessionRead {
  sessions: SessionView[];
  /** The remote clock minus ours (ms); 0 in this process; null when the simulator did not say. */
  offsetMs: number | null;
  /** How far off that estimate may be (half the request's round trip). */
  uncertaintyMs: number;
}

export interface SessionSource {
  /** For the report: "the gate's simulator", the sessions URL. */
  label: string;
  /** Sessions open at `since` (epoch ms, our clock) or opened or closed after it. */
  read(since: number): Promise<SessionRead>;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** A simulator in this process: its records as they are, on the same clock. */
export function localSource(simulator: Pick<RunningSimulator, 'sessions'>, label: string): SessionSource {
  return {
    label,
    read: async (since) => ({
      sessions: simulator.sessions().filter((s) => s.open || s.openedAt >= since || (s.closedAt ?? 0) >= since).map(viewOf),
      offsetMs: 0,
      uncertaintyMs: 0,
    }),
  };
}

/** Why a remote simulator could not be read. */
export class SessionSourceError extends Error {
  override readonly name = 'SessionSourceError';
}

/** Its sessions URL from what a user gives: the simulator's baseURL, its origin, or the sessions URL itself. */
export function sessionsUrlOf(simulatorUrl: string): string {
  let url: URL;
  try {
    url = new URL(simulatorUrl);
  } catch {
    throw new SessionSourceError(`${simulatorUrl}: not a URL (give the simulator's baseURL, e.g. http://127.0.0.1:8089/v1)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SessionSourceError(`${simulatorUrl}: expected the simulator's http(s) baseURL (e.g. http://127.0.0.1:8089/v1)`);
  return new URL(SESSIONS_PATH, url.origin).toString();
}

const answerSchema = z.object({ now: z.number().finite().optional(), sessions: z.array(z.unknown()) });
const READ_TIMEOUT_MS = 5000;
/** Records that fail the schema are left out and counted, not allowed to stop the run. */
const MAX_REASON_CHARS = 200;

/** A `callsim simulator` elsewhere, read over HTTP. */
export function remoteSource(simulatorUrl: string): SessionSource & { readonly rejected: number } {
  const sessionsUrl = sessionsUrlOf(simulatorUrl);
  let rejected = 0;
  return {
    label: sessionsUrl,
    get rejected() {
      return rejected;
    },
    read: async (since) => {
      const url = `${sessionsUrl}?since=${Math.floor(since)}`;
      const sentAt = nowMs();
      let body: unknown;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
        if (!response.ok) {
          await response.body?.cancel();
          throw new SessionSourceError(`${sessionsUrl} answered HTTP ${response.status}: is it a callsim simulator?`);
        }
        body = await response.json();
      } catch (err) {
        if (err instanceof SessionSourceError) throw err;
        const inner = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
        const cause = inner?.code ?? inner?.message ?? (err instanceof Error ? err.message : String(err));
        throw new SessionSourceError(`cannot read the simulator's sessions at ${sessionsUrl}: ${printable(cause).slice(0, MAX_REASON_CHARS)}`);
      }
      const receivedAt = nowMs();
      const answer = answerSchema.safeParse(body);
      if (!answer.success) throw new SessionSourceError(`${sessionsUrl} did not answer with session records: is it a callsim simulator?`);
      const offsetMs = answer.data.now === undefined ? null : answer.data.now - (sentAt + receivedAt) / 2;
      const sessions: SessionView[] = [];
      for (const raw of answer.data.sessions) {
        const parsed = sessionViewSchema.safeParse(raw);
        if (parsed.success) sessions.push(shiftedView(parsed.data, -(offsetMs ?? 0)));
        else rejected += 1;
      }
      return { sessions, offsetMs, uncertaintyMs: (receivedAt - sentAt) / 2 };
    },
  };
}
