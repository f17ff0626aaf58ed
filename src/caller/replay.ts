// One replayed call, judged. Loads a WAV, dials a Media Streams server (the given URL, or the
// built-in one started in-process), reads the server's own account of the call from
// GET /calls/:callSid when it has one, and runs named checks over both views. The report is
// plain JSON so a CI gate can store and diff it.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadWavAsMulawFrames, type MulawAudio, mulawFramesToWav, type SourceFormat } from '../audio/wav.js';
import type { CallDirection } from '../twilio/codec.js';
import type { CallState } from '../server/call-snapshot.js';
import { REALTIME, sleep, validateTiming, type CallTiming } from './clock.js';
import {
  DEFAULT_TAIL_MS,
  DEFAULT_TIMEOUT_MS,
  placeCall,
  type CallProgress,
  type CallRecord,
  type DtmfPlan,
  type WireErrorSummary,
} from './call.js';

export interface ReplayOptions {
  /** The caller's audio: any WAV the audio module reads. */
  file: string;
  /** `file` already decoded (a gate replays one fixture many times); read from `file` when absent. */
  audio?: MulawAudio;
  direction?: CallDirection;
  /** ws:// or wss:// Media Streams URL; default: the built-in server, started in-process. */
  url?: string;
  /** Where GET /calls/:callSid lives; default: the WebSocket URL's host over http(s). */
  statsUrl?: string;
  timing?: CallTiming;
  earlyMedia?: boolean;
  startDelayMs?: number;
  dtmf?: DtmfPlan;
  params?: Readonly<Record<string, string>>;
  tailMs?: number;
  /** Default: 30 s, or longer for audio that needs it (its replay time + tail + 10 s). */
  timeoutMs?: number;
  /** Fail unless the server sent at least one media frame back. */
  expectAudio?: boolean;
  /** Write what the caller heard (every media frame the server sent) to this WAV file. */
  saveAudioPath?: string;
  /** How long to wait for the server to report the call as stopped/closed. */
  statsWaitMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: CallProgress) => void;
}

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface ReplayCheck {
  name: string;
  status: CheckStatus;
  reason: string;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Everything the caller recorded except the raw audio. */
export type CallSummary = Omit<CallRecord, 'receivedAudio'>;

export interface ServerStats {
  /** The URL asked (null when the call never connected). */
  url: string | null;
  available: boolean;
  /** Why stats are missing or may be incomplete; null when all is well. */
  note: string | null;
  /** The snapshot's counters; a counter the server reported as NaN/undefined/non-number is null. */
  counters: Record<string, number | null> | null;
}

export interface ReplayReport {
  verdict: 'pass' | 'fail';
  /** One line per failed check, phrased as the caller / Twilio would experience it. */
  failures: string[];
  checks: ReplayCheck[];
  fixture: { file: string; durationMs: number; frames: number; source: SourceFormat };
  direction: CallDirection;
  target: { url: string; builtInServer: boolean };
  timing: {
    mode: CallTiming['mode'];
    speed: number | null;
    earlyMedia: boolean;
    startDelayMs: number;
    tailMs: number;
    timeoutMs: number;
    dtmf: string | null;
  };
  call: CallSummary;
  stats: ServerStats;
  /** GET /calls/:callSid as the server returned it, or null. */
  serverSnapshot: JsonObject | null;
  savedAudio: { file: string; frames: number; error: string | null } | null;
  /** Wall ms for the whole replay, server start-up and stats included. */
  elapsedMs: number;
}

const DEFAULT_STATS_WAIT_MS = 2000;
const STATS_POLL_MS = 100;
const STATS_REQUEST_TIMEOUT_MS = 1500;
const NORMAL_CLOSE_CODES = new Set([1000, 1005]);
const APPLICATION_ERROR = 'the caller hears: "An application error has occurred"';
/** The checks that read the server's own record of the call (GET /calls/:callSid). */
const SERVER_STATS_CHECKS = ['audio-in-matches', 'audio-out-matches', 'counters-finite', 'no-server-errors'] as const;

/** Default timeout: 30 s, stretched for audio that takes longer than that to replay. */
export function defaultTimeoutMs(audioMs: number, timing: CallTiming, tailMs: number): number {
  const speed = timing.mode === 'burst' ? null : timing.speed;
  const audioWallMs = speed === null ? 0 : audioMs / speed;
  const tailWallMs = tailMs / (speed ?? 1);
  return Math.max(DEFAULT_TIMEOUT_MS, Math.ceil(audioWallMs + tailWallMs + 10_000));
}

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

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer';
  return err instanceof Error ? err.message : String(err);
}

const ENDED_STATES: ReadonlySet<string> = new Set<CallState>(['stopped', 'closed']);

async function fetchServerSnapshot(
  url: string,
  waitMs: number,
): Promise<{ snapshot: JsonObject | null; available: boolean; note: string | null }> {
  const giveUpAt = performance.now() + waitMs;
  // A snapshot already read is not thrown away because a later poll failed.
  let lastGood: JsonObject | null = null;
  const without = (problem: string): { snapshot: JsonObject | null; available: boolean; note: string | null } =>
    lastGood !== null
      ? { snapshot: lastGood, available: true, note: `the stats endpoint stopped answering (${problem}) while the call was still ${JSON.stringify(lastGood.state ?? null)}; counters may be incomplete` }
      : { snapshot: null, available: false, note: `${problem}; only wire-level checks apply` };
  for (;;) {
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(STATS_REQUEST_TIMEOUT_MS) });
    } catch (err) {
      return without(`server has no stats endpoint (${describeFetchError(err)} at ${url})`);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return without(`server has no stats endpoint (HTTP 404 at ${url})`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      return without(`stats endpoint answered HTTP ${response.status} at ${url}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
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
        note: `the server still reports the call as ${JSON.stringify(state || null)} ${waitMs} ms after it ended; counters may be incomplete`,
      };
    }
    await sleep(STATS_POLL_MS);
  }
}

function countersOf(snapshot: JsonObject | null): Record<string, number | null> | null {
  if (!snapshot || !isJsonObject(snapshot.counters)) return null;
  const counters: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(snapshot.counters)) {
    counters[name] = typeof value === 'number' && Number.isFinite(value) ? value : null;
  }
  return counters;
}

function describeCounter(value: number | null | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null (NaN or not a number)';
  return String(value);
}

function closeText(call: CallSummary): string {
  const code = call.closeCode === null ? 'no close code' : `code ${call.closeCode}`;
  return call.closeReason ? `${code} "${call.closeReason}"` : code;
}

function wireErrorFailure(error: WireErrorSummary): string {
  const times = error.count === 1 ? '1 message' : `${error.count} messages`;
  switch (error.kind) {
    case 'wrong_stream_sid':
      return `the caller hears silence — Twilio drops ${times} addressed to another stream (warning 31951): ${error.example}`;
    case 'binary_frame':
      return `Twilio cannot decode ${times} sent as binary frames (warning 31950)`;
    case 'malformed_json':
      return `Twilio drops ${times} that are not JSON (warning 31951): ${error.example}`;
    case 'unknown_event':
      return `Twilio drops ${times} with an event it does not accept (warning 31951): ${error.example}`;
    case 'invalid_base64':
      return `the caller hears silence — Twilio drops ${times} whose media.payload is not base64 (warning 31951)`;
    default:
      return `Twilio drops ${times} that break the Media Streams protocol (warning 31951): ${error.example}`;
  }
}

interface CheckInput {
  call: CallSummary;
  expectAudio: boolean;
  stats: ServerStats;
  snapshot: JsonObject | null;
  timeoutMs: number;
}

function runChecks(input: CheckInput): { checks: ReplayCheck[]; failures: string[] } {
  const { call, stats, snapshot } = input;
  const checks: ReplayCheck[] = [];
  const failures: string[] = [];
  const pass = (name: string, reason: string): void => {
    checks.push({ name, status: 'pass', reason });
  };
  const fail = (name: string, reason: string, ...heard: string[]): void => {
    checks.push({ name, status: 'fail', reason });
    failures.push(...(heard.length > 0 ? heard : [reason]));
  };
  const skip = (name: string, reason: string): void => {
    checks.push({ name, status: 'skip', reason });
  };

  if (!call.connected) {
    fail(
      'connected',
      `could not open the media stream: ${call.connectError ?? 'unknown error'}`,
      `${APPLICATION_ERROR} — Twilio could not open the media stream at ${call.url}: ${call.connectError ?? 'unknown error'} (error 31920)`,
    );
    for (const name of ['server-kept-stream-open', 'normal-close', 'wire-protocol', 'call-completed']) {
      skip(name, 'the call never connected');
    }
    if (input.expectAudio) skip('audio-returned', 'the call never connected');
    for (const name of SERVER_STATS_CHECKS) skip(name, 'the call never connected');
    return { checks, failures };
  }
  pass('connected', `media stream opened at ${call.url}`);

  if (call.serverClosedBeforeStop) {
    fail(
      'server-kept-stream-open',
      `the server closed the socket before stop (${closeText(call)}) after ${call.framesSent} frames`,
      `${APPLICATION_ERROR} — the server closed the media stream before stop (${closeText(call)}; Twilio error 31921)`,
    );
  } else {
    pass('server-kept-stream-open', call.stopSent ? 'the stream stayed open until stop' : 'the caller ended the call');
  }

  if (call.closeCode !== null && NORMAL_CLOSE_CODES.has(call.closeCode)) {
    pass('normal-close', `closed by the ${call.closedBy ?? 'caller'} with ${closeText(call)}`);
  } else {
    const who = call.closedBy === 'caller' ? 'the server did not finish the close handshake' : 'the socket ended abnormally';
    const detail = call.closeCode === 1006 ? `${who} (code 1006: no close frame)` : `the server closed with ${closeText(call)}`;
    fail('normal-close', detail, `Twilio logs error 31921 (Stream - WebSocket - Close Error): ${detail}`);
  }

  if (call.wireErrors.length === 0 && call.socketError === null) {
    pass('wire-protocol', 'every server message was valid and addressed to this stream');
  } else {
    const summary = call.wireErrors.map((e) => `${e.count}× ${e.kind}`).join(', ');
    const heard = call.wireErrors.map(wireErrorFailure);
    if (call.socketError) heard.push(`Twilio logs error 31924 (Stream - WebSocket - Protocol Error): ${call.socketError}`);
    fail('wire-protocol', [summary, call.socketError].filter(Boolean).join('; '), ...heard);
  }

  if (call.ending === 'timeout') {
    fail(
      'call-completed',
      `timed out after ${input.timeoutMs} ms with ${call.audioFramesSent} of the audio's frames sent`,
      `the call hit the ${input.timeoutMs} ms timeout before the caller finished (${call.audioFramesSent} audio frames sent)`,
    );
  } else if (call.ending === 'aborted') {
    fail('call-completed', 'the caller hung up early (interrupted)');
  } else if (call.ending === 'server_closed') {
    // Already a failure of server-kept-stream-open; counting it twice would only add noise.
    skip('call-completed', `the server ended the call after ${call.audioFramesSent} audio frames`);
  } else {
    pass('call-completed', `sent all audio, ${call.silenceFramesSent} frames of tail silence, then stop`);
  }

  if (input.expectAudio) {
    if (call.framesReceived > 0) {
      pass('audio-returned', `${call.framesReceived} media frames came back (first after ${call.firstAudioLatencyMs} ms)`);
    } else {
      fail(
        'audio-returned',
        'no media frame came back from the server',
        'the caller hears silence — the agent never said anything (no media frames came back)',
      );
    }
  }

  if (!stats.available) {
    const reason = 'no server stats: only wire-level checks apply';
    for (const name of SERVER_STATS_CHECKS) skip(name, reason);
    return { checks, failures };
  }

  const counters = stats.counters ?? {};
  const audioIn = counters.audioInChunks;
  if (audioIn === call.framesSent) {
    pass('audio-in-matches', `server counted ${audioIn} media frames in, the caller sent ${call.framesSent}`);
  } else {
    fail(
      'audio-in-matches',
      `server audioInChunks is ${describeCounter(audioIn)}, the caller sent ${call.framesSent}`,
      `the agent did not hear everything the caller said — the server counted ${describeCounter(audioIn)} audio frames in, the caller sent ${call.framesSent}`,
    );
  }
  const audioOut = counters.audioOutChunks;
  if (audioOut === call.framesReceived) {
    pass('audio-out-matches', `server counted ${audioOut} media frames out, the caller received ${call.framesReceived}`);
  } else {
    fail(
      'audio-out-matches',
      `server audioOutChunks is ${describeCounter(audioOut)}, the caller received ${call.framesReceived}`,
      `the server's record of what it said does not match what the caller heard — audioOutChunks is ${describeCounter(audioOut)}, ${call.framesReceived} frames arrived`,
    );
  }

  if (stats.counters === null) {
    fail('counters-finite', 'the snapshot has no counters object', "the server's stats have no counters object");
  } else {
    const broken = Object.entries(stats.counters).filter(([, value]) => value === null);
    if (broken.length === 0) {
      pass('counters-finite', `all ${Object.keys(stats.counters).length} counters are finite numbers`);
    } else {
      const names = broken.map(([name]) => name).join(', ');
      fail(
        'counters-finite',
        `not a finite number: ${names}`,
        `the server's bookkeeping is broken — ${names} ${broken.length === 1 ? 'is' : 'are'} null/NaN in GET /calls/${call.callSid}`,
      );
    }
  }

  const errors = snapshot?.errors;
  if (Array.isArray(errors) && errors.length === 0) {
    pass('no-server-errors', 'the server recorded no errors for this call');
  } else if (!Array.isArray(errors)) {
    fail('no-server-errors', 'the snapshot has no errors array', "the server's stats have no errors list");
  } else {
    const described = errors
      .slice(0, 3)
      .map((e) => (isJsonObject(e) ? `${String(e.code ?? 'error')}: ${String(e.message ?? '')}` : JSON.stringify(e)))
      .join('; ');
    fail(
      'no-server-errors',
      `${errors.length} error(s): ${described}`,
      `the server recorded ${errors.length} error${errors.length === 1 ? '' : 's'} during the call: ${described}${errors.length > 3 ? '; …' : ''}`,
    );
  }
  return { checks, failures };
}

function summarise(record: CallRecord): CallSummary {
  const { receivedAudio: _audio, ...summary } = record;
  return summary;
}

/** Replay `options.file` as one call and judge it. Throws WavInputError for an unreadable WAV. */
export async function runReplay(options: ReplayOptions): Promise<ReplayReport> {
  const began = performance.now();
  const audio = options.audio ?? loadWavAsMulawFrames(options.file);
  const direction = options.direction ?? 'inbound';
  const timing = options.timing ?? REALTIME;
  validateTiming(timing);
  const tailMs = options.tailMs ?? DEFAULT_TAIL_MS;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs(audio.durationMs, timing, tailMs);

  // Only the default target needs the server module (and its model stack) loaded at all.
  let builtIn: { wsUrl: string; close(): Promise<void> } | null = null;
  let url = options.url;
  if (url === undefined) {
    const { startMediaServer } = await import('../server/media-server.js');
    builtIn = await startMediaServer({ port: 0, quiet: true });
    url = builtIn.wsUrl;
  }

  try {
    const record = await placeCall({
      url,
      frames: audio.frames,
      direction,
      params: options.params,
      timing,
      earlyMedia: options.earlyMedia,
      startDelayMs: options.startDelayMs,
      dtmf: options.dtmf,
      tailMs,
      timeoutMs,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    const call = summarise(record);

    let stats: ServerStats = { url: null, available: false, note: 'the call never connected', counters: null };
    let serverSnapshot: JsonObject | null = null;
    if (record.connected) {
      const statsUrl = statsUrlFor(url, record.callSid, options.statsUrl);
      const fetched = await fetchServerSnapshot(statsUrl, options.statsWaitMs ?? DEFAULT_STATS_WAIT_MS);
      serverSnapshot = fetched.snapshot;
      stats = { url: statsUrl, available: fetched.available, note: fetched.note, counters: countersOf(fetched.snapshot) };
    }

    const { checks, failures } = runChecks({
      call,
      expectAudio: options.expectAudio ?? false,
      stats,
      snapshot: serverSnapshot,
      timeoutMs,
    });

    let savedAudio: ReplayReport['savedAudio'] = null;
    if (options.saveAudioPath !== undefined) {
      try {
        writeFileSync(options.saveAudioPath, mulawFramesToWav(record.receivedAudio));
        savedAudio = { file: options.saveAudioPath, frames: record.framesReceived, error: null };
      } catch (err) {
        savedAudio = { file: options.saveAudioPath, frames: 0, error: (err as Error).message };
      }
    }

    return {
      verdict: failures.length === 0 ? 'pass' : 'fail',
      failures,
      checks,
      fixture: { file: options.file, durationMs: audio.durationMs, frames: audio.frames.length, source: audio.source },
      direction,
      target: { url, builtInServer: builtIn !== null },
      timing: {
        mode: timing.mode,
        speed: timing.mode === 'realtime' ? timing.speed : null,
        earlyMedia: options.earlyMedia ?? false,
        startDelayMs: options.startDelayMs ?? 0,
        tailMs,
        timeoutMs,
        dtmf: options.dtmf?.digits ?? null,
      },
      call,
      stats,
      serverSnapshot,
      savedAudio,
      elapsedMs: Math.round(performance.now() - began),
    };
  } finally {
    await builtIn?.close();
  }
}
