// The server's own account of a call: GET /calls/:callSid, polled until the server reports the
// call ended (or the wait runs out), and its counters read as numbers or null. A server without
// the endpoint is no failure here: the replay then judges the wire alone.
import { performance } from 'node:perf_hooks';
import type { CallState } from '../server/call-snapshot.js';
import { printable, printableExcerpt } from '../text/printable.js';
import { readLimited } from './bounded-body.js';
import { sleep } from './clock.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ServerStats {
  /** The URL asked (null when the call never connected). */
  url: string | null;
  available: boolean;
  /** Why stats are missing or may be incomplete; null when all is well. */
  note: string | null;
  /** The snapshot's counters; a counter the server reported as NaN/undefined/non-number is null. */
  counters: Record<string, number | null> | null;
}

export interface FetchedSnapshot {
  snapshot: JsonObject | null;
  available: boolean;
  note: string | null;
}

/** How long to wait for the server to report the call as stopped/closed. */
export const DEFAULT_STATS_WAIT_MS = 2000;
const STATS_POLL_MS = 100;
const STATS_REQUEST_TIMEOUT_MS = 1500;
/**
 * One call's snapshot is a few kB (its error records are bounded); an answer past this is not a
 * snapshot, and is not read on: a server whose answer never ends must not grow the replay.
 */
export const MAX_STATS_BODY_BYTES = 1024 * 1024;

/**
 * The stats URL for a call. Explicit `statsUrl`: a `{callSid}` / `:callSid` placeholder is
 * filled in, a path ending in /calls gets the SID appended, any other base gets /calls/<sid>.
 * Default: the WebSocket URL's host and port over http(s), path /calls/<sid>.
 */
export function statsUrlFor(wsUrl: string, callSid: string, statsUrl?: string): string {
  const sid = encodeURIComponent(callSid);
  if (statsUrl !== undefined) {
    if (statsUrl.includes('{callSid}')) return statsUrl.replace('{callSid}', sid);
    if (statsUrl.includes(':callSid')) return statsUrl.replace(':callSid', sid);
    const url = new URL(statsUrl);
    const path = url.pathname.replace(/\/+$/, '');
    url.pathname = path.endsWith('/calls') ? `${path}/${sid}` : `${path}/calls/${sid}`;
    return url.toString();
  }
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = `/calls/${sid}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer';
  return err instanceof Error ? err.message : String(err);
}

const ENDED_STATES: ReadonlySet<string> = new Set<CallState>(['stopped', 'closed']);

/** `token`: sent as `Authorization: Bearer` (a server that guards /calls, as callsim serve's --calls-token). */
export async function fetchServerSnapshot(
  url: string,
  waitMs: number,
  token: string | null = null,
): Promise<FetchedSnapshot> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const giveUpAt = performance.now() + waitMs;
  // A snapshot already read is not thrown away because a later poll failed.
  let lastGood: JsonObject | null = null;
  const without = (problem: string): FetchedSnapshot =>
    lastGood !== null
      ? { snapshot: lastGood, available: true, note: `the stats endpoint stopped answering (${problem}) while the call was still ${quotedState(lastGood.state)}; counters may be incomplete` }
      : { snapshot: null, available: false, note: `${problem}; only wire-level checks apply` };
  for (;;) {
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(STATS_REQUEST_TIMEOUT_MS) });
    } catch (err) {
      return without(`server has no stats endpoint (${describeFetchError(err)} at ${url})`);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return without(`server has no stats endpoint (HTTP 404 at ${url})`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const hint = response.status === 401 || response.status === 403 ? (token === null ? ' (a guarded /calls: set CALLSIM_CALLS_TOKEN)' : ' (the token was refused)') : '';
      return without(`stats endpoint answered HTTP ${response.status} at ${url}${hint}`);
    }
    let body: unknown;
    try {
      const text = await readLimited(response, MAX_STATS_BODY_BYTES);
      if (text === null) return without(`stats endpoint at ${url} answered more than ${MAX_STATS_BODY_BYTES} bytes for one call; not read further`);
      body = JSON.parse(text);
    } catch (err) {
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return without(`stats endpoint at ${url} did not finish its answer within ${STATS_REQUEST_TIMEOUT_MS} ms`);
      return without(`stats endpoint at ${url} did not return JSON`);
    }
    if (!isJsonObject(body)) return without(`stats endpoint at ${url} did not return a call object`);
    lastGood = body;
    const state = typeof body.state === 'string' ? body.state : '';
    if (ENDED_STATES.has(state)) return { snapshot: body, available: true, note: null };
    if (performance.now() >= giveUpAt) {
      return {
        snapshot: body,
        available: true,
        note: `the server still reports the call as ${quotedState(state || null)} ${waitMs} ms after it ended; counters may be incomplete`,
      };
    }
    await sleep(STATS_POLL_MS);
  }
}

/** The server named its counters: the names are kept printable and short, like any server string. */
const COUNTER_NAME_CHARS = 100;

export function countersOf(snapshot: JsonObject | null): Record<string, number | null> | null {
  if (!snapshot || !isJsonObject(snapshot.counters)) return null;
  const counters: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(snapshot.counters)) {
    counters[printableExcerpt(name, COUNTER_NAME_CHARS)] = typeof value === 'number' && Number.isFinite(value) ? value : null;
  }
  return counters;
}

/** A state the server reported, as a note quotes it. */
function quotedState(state: JsonValue | undefined): string {
  return printableExcerpt(JSON.stringify(state ?? null), 100);
}

/** The server's view of one call; for a call that never connected there is nothing to ask. */
export async function readServerStats(
  wsUrl: string,
  call: { connected: boolean; callSid: string },
  statsUrl: string | undefined,
  waitMs: number,
  token: string | null = null,
): Promise<{ stats: ServerStats; snapshot: JsonObject | null }> {
  if (!call.connected) return { stats: { url: null, available: false, note: 'the call never connected', counters: null }, snapshot: null };
  const url = statsUrlFor(wsUrl, call.callSid, statsUrl);
  const fetched = await fetchServerSnapshot(url, waitMs, token);
  return {
    // A note can quote the server (a state, an error text): printable before any report shows it.
    stats: { url, available: fetched.available, note: fetched.note === null ? null : printable(fetched.note), counters: countersOf(fetched.snapshot) },
    snapshot: fetched.snapshot,
  };
}
