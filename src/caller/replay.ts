// src/caller/: the fake Twilio. It places calls into any Media Streams server as Twilio would and
// judges them; this file is its entry point, one replayed call judged, and the rest are its parts:
//   clock.ts     drift-free frame pacing (real time at any speed, or burst)
//   options.ts   PlaceCallOptions, their defaults and checking
//   line.ts      the media WebSocket: dialling -> open -> closed
//   playback.ts  the handset: plays the agent's audio, echoes marks, honours clear
//   record.ts    what one call sent and heard (CallLedger) and its CallRecord
//   call.ts      one call: dial, connected/start, paced media, DTMF, tail, stop
//   stats.ts     the server's account of the call (GET /calls/:callSid)
//   checks.ts    the named checks over both views
// It may import src/twilio/ (the wire format, through codec.ts) and src/audio/, and the media
// server only lazily, for the built-in target; never src/gate/, src/report/ or src/cli/.
//
// One replayed call, judged: load a WAV, dial a Media Streams server (the given URL, or the
// built-in one started in-process), read the server's own account of the call when it has one,
// and run the checks over both views. The report is plain JSON so a CI gate can store and diff it.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadWavAsMulawFrames, type MulawAudio, mulawFramesToWav, type SourceFormat } from '../audio/wav.js';
import type { CallDirection } from '../twilio/codec.js';
import { runChecks, type ReplayCheck } from './checks.js';
import { REALTIME, validateTiming, type CallTiming } from './clock.js';
import { placeCall } from './call.js';
import { DEFAULT_DIRECTION, DEFAULT_TAIL_MS, DEFAULT_TIMEOUT_MS, type CallProgress, type DtmfPlan } from './options.js';
import { toCallSummary, type CallSummary } from './record.js';
import type { CallTimelineData } from './timeline.js';
import { DEFAULT_STATS_WAIT_MS, readServerStats, type JsonObject, type ServerStats } from './stats.js';

// The names this module has always exported stay importable from here.
export type { CheckStatus, ReplayCheck } from './checks.js';
export type { CallSummary } from './record.js';
export { statsUrlFor, type JsonObject, type JsonValue, type ServerStats } from './stats.js';

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
  /** What happened when on the call (caller/timeline.ts). Large: the JSON reporter leaves it out unless asked. */
  timeline: CallTimelineData;
  stats: ServerStats;
  /** GET /calls/:callSid as the server returned it, or null. */
  serverSnapshot: JsonObject | null;
  savedAudio: { file: string; frames: number; error: string | null } | null;
  /** Wall ms for the whole replay, server start-up and stats included. */
  elapsedMs: number;
}

/** What a replay adds to its audio's own replay time before the call counts as hung. */
const TIMEOUT_HEADROOM_MS = 10_000;

/** Default timeout: 30 s, stretched for audio that takes longer than that to replay. */
export function defaultTimeoutMs(audioMs: number, timing: CallTiming, tailMs: number): number {
  const speed = timing.mode === 'burst' ? null : timing.speed;
  const audioWallMs = speed === null ? 0 : audioMs / speed;
  const tailWallMs = tailMs / (speed ?? 1);
  return Math.max(DEFAULT_TIMEOUT_MS, Math.ceil(audioWallMs + tailWallMs + TIMEOUT_HEADROOM_MS));
}

/** Replay `options.file` as one call and judge it. Throws WavInputError for an unreadable WAV. */
export async function runReplay(options: ReplayOptions): Promise<ReplayReport> {
  const began = performance.now();
  const audio = options.audio ?? loadWavAsMulawFrames(options.file);
  const direction = options.direction ?? DEFAULT_DIRECTION;
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
    const call = toCallSummary(record);

    const { stats, snapshot: serverSnapshot } = await readServerStats(url, record, options.statsUrl, options.statsWaitMs ?? DEFAULT_STATS_WAIT_MS);

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
      timeline: record.timeline,
      stats,
      serverSnapshot,
      savedAudio,
      elapsedMs: Math.round(performance.now() - began),
    };
  } finally {
    await builtIn?.close();
  }
}
