// src/caller/: the fake Twilio. It places calls into any Media Streams server as Twilio would and
// judges them; this file is its entry point, one replayed call judged, and the rest are its parts:
//   clock.ts     drift-free frame pacing (real time at any speed, or burst)
//   options.ts   PlaceCallOptions, their defaults and checking
//   line.ts      the media WebSocket: dialling -> open -> closed
//   playback.ts  the handset: plays the agent's audio, echoes marks, honours clear
//   network.ts   the network model: a seeded PRNG per call, the delay of mark echoes
//   record.ts    what one call sent and heard (CallLedger) and its CallRecord
//   call.ts      one stream: dial, connected/start, paced media, DTMF, tail, stop
//   webhook.ts   the voice webhook request, as Twilio makes it (parameters, signature)
//   stream-url.ts where a <Stream url> is dialled and what is signed
//   call-flow.ts one call as Twilio places it: webhook -> TwiML -> signed stream (or direct mode)
//   stats.ts     the server's account of the call (GET /calls/:callSid)
//   bounded-body.ts an HTTP body read to a limit (the TwiML, a snapshot)
//   checks.ts    the named checks over both views
//   witness.ts   the seam to a witness of the call's model leg (the gate's), whose checks join these
// It may import src/twilio/ (the wire format, through codec.ts), src/audio/, src/text/, and the media
// server only lazily, for the built-in target; never src/gate/, src/report/ or src/cli/.
//
// One replayed call, judged: load a WAV, place the call (through the voice webhook of the built-in
// server started in-process, of a given URL, or directly at a Media Streams URL), read the
// server's own account of the call when it has one, and run the checks over every view. The
// report is plain JSON so a CI gate can store and diff it.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadWavAsMulawFrames, type MulawAudio, mulawFramesToWav, type SourceFormat } from '../audio/wav.js';
import type { CallDirection } from '../twilio/codec.js';
import { runCallFlow, type CallFlowReport, type CallSetup } from './call-flow.js';
import { runChecks, type ReplayCheck } from './checks.js';
import { REALTIME, validateTiming, type CallTiming } from './clock.js';
import { DEFAULT_NETWORK_DELAY, type BadLine, type NetworkDelay } from './network.js';
import { writeRecording } from './recording.js';
import { writeTrace } from './trace.js';
import type { VoiceFactory } from './voice.js';
import type { SimulatorSessionRecord } from '../model/simulator/record.js';
import type { ConversationReport } from '../scenario/report.js';
import { DEFAULT_CONGESTION_MS, DEFAULT_DIRECTION, DEFAULT_TAIL_MS, DEFAULT_TIMEOUT_MS, type CallProgress, type DtmfPlan } from './options.js';
import type { CallParties, WebhookMethod } from './webhook.js';
import { toCallSummary, type CallRecord, type CallSummary } from './record.js';
import type { CallTimelineData } from './timeline.js';
import { DEFAULT_STATS_WAIT_MS, readServerStats, type JsonObject, type ServerStats } from './stats.js';
import type { RunningMediaServer } from '../server/media-server.js';
import type { CallWitness, ModelLegReport, ModelLegVerdict, ModelTurnRecord, WitnessTicket } from './witness.js';

// The names this module has always exported stay importable from here.
export type { CheckStatus, ReplayCheck } from './checks.js';
export type { CallSummary } from './record.js';
export type { CallFlowReport, CallSetup, SetupFailure, StreamReport, TwimlReport, WebhookReport } from './call-flow.js';
export type { CallParties, WebhookMethod } from './webhook.js';
export type { BadLine, NetworkDelay } from './network.js';
export type { CallWitness, CorrelationMethod, ModelLegReport, ModelLegVerdict, ModelSessionSummary, ModelTurnRecord, WitnessTicket, WitnessedCall } from './witness.js';

/** The voice webhook of a call: an absolute URL, or a path on the target's base URL. */
export type WebhookTarget = { url: string } | { path: string };

/** callsim serve's own voice webhook: the default for the built-in server and server commands. */
export const DEFAULT_WEBHOOK_PATH = '/twiml';
export { statsUrlFor, type JsonObject, type JsonValue, type ServerStats } from './stats.js';

export interface ReplayOptions {
  /** The caller's audio: any WAV the audio module reads. */
  file: string;
  /** `file` already decoded (a gate replays one fixture many times); read from `file` when absent. */
  audio?: MulawAudio;
  direction?: CallDirection;
  /**
   * ws:// or wss:// Media Streams URL of a running server: dialled directly unless a webhook is
   * given, and the base a webhook path is relative to. Default: the built-in server, in-process.
   */
  url?: string;
  /**
   * Where the call's voice webhook is; null: direct mode (no webhook step, `params` exactly).
   * Default: the built-in server's /twiml; a `url` target without one is dialled directly.
   */
  webhook?: WebhookTarget | null;
  /** Default POST, as Twilio's. */
  webhookMethod?: WebhookMethod;
  /** A 404 from the webhook means the target has none: dial `url` directly, and say so. */
  webhookOptional?: boolean;
  /** Sign the webhook and the stream's upgrade with this auth token (X-Twilio-Signature). */
  authToken?: string | null;
  /** The caller's and the agent's numbers in the webhook. */
  parties?: CallParties;
  /** The agent's side of a <Start><Stream> fork's outbound track (silence without it). */
  agentAudio?: MulawAudio;
  /** One-way delay of mark echoes; default 20–40 ms from the call's seeded PRNG. */
  networkDelay?: NetworkDelay;
  networkSeed?: number;
  /** Latency and jitter both ways and caller audio lost before Twilio (--latency-ms, --jitter-ms, --packet-loss), from the network seed. */
  badLine?: BadLine;
  /** A scripted caller in place of `file`'s audio (a scenario: see src/scenario/run.ts). */
  voice?: VoiceFactory;
  /** Write the call as a stereo WAV (caller left, agent right, on one clock) to this file. */
  recordPath?: string;
  /** Write the call's JSONL wire trace (both legs, payloads hashed, secrets redacted) to this file. */
  tracePath?: string;
  /** Write recordPath and tracePath only when the call failed (the gate's --artifacts). */
  artifactsOnlyOnFailure?: boolean;
  /** The model's session records of this call, when the caller can read them (a simulator it knows); the built-in server's are read without it. */
  modelSessions?: (callSid: string) => readonly SimulatorSessionRecord[];
  /** More checks over the call's full record (a scenario's expectations), judged with the replay's own. */
  judge?: (call: CallJudgeInput) => ExtraVerdict;
  /** Audio ms the server's socket may stay backed up before caller audio is discarded (default 1000). */
  congestionMs?: number;
  /** A server that ends the stream with a normal close before stop passes (Twilio goes on with the next verb). */
  allowServerHangup?: boolean;
  /** Where GET /calls/:callSid lives; default: the WebSocket URL's host over http(s). */
  statsUrl?: string;
  /** Bearer token for it (callsim serve's --calls-token, CALLSIM_CALLS_TOKEN); null: none. */
  statsToken?: string | null;
  timing?: CallTiming;
  earlyMedia?: boolean;
  startDelayMs?: number;
  dtmf?: DtmfPlan;
  /** Direct mode's start.customParameters, exactly; `{direction}` in a value becomes the direction. */
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
  /**
   * A witness of the call's model leg (the gate's: src/gate/witness/): it watermarks the caller's
   * audio, ties the call to the model sessions its server opened and adds the model-side checks.
   */
  witness?: CallWitness;
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
  /** `url`: the Media Streams URL given (or the one the webhook's TwiML named); `webhook`: its voice webhook, if one was asked. */
  target: { url: string; webhook: string | null; builtInServer: boolean };
  /** How the call was set up: webhook, TwiML and stream, or direct mode. */
  callFlow: CallFlowReport;
  timing: {
    mode: CallTiming['mode'];
    speed: number | null;
    earlyMedia: boolean;
    startDelayMs: number;
    tailMs: number;
    timeoutMs: number;
    dtmf: string | null;
    /** Audio ms of backlog before caller audio is discarded; null in a burst, which never discards. */
    congestionMs: number | null;
    allowServerHangup: boolean;
  };
  call: CallSummary;
  /** What happened when on the call (caller/timeline.ts). Large: the JSON reporter leaves it out unless asked. */
  timeline: CallTimelineData;
  stats: ServerStats;
  /** GET /calls/:callSid as the server returned it, or null. */
  serverSnapshot: JsonObject | null;
  /** What the witness saw of the model leg: the sessions and how they were tied to the call; null without a witness. */
  model: ModelLegReport | null;
  savedAudio: { file: string; frames: number; error: string | null } | null;
  /** The stereo recording and the wire trace, when asked for; null when not asked (or, on failure only, not needed). */
  recording: { file: string; error: string | null } | null;
  trace: { file: string; error: string | null } | null;
  /** A scenario's conversation (its steps, turns, answers and figures); null for a plain replay. */
  conversation: ConversationReport | null;
  /** Wall ms for the whole replay, server start-up and stats included. */
  elapsedMs: number;
}

/** --save-audio (and the witness) keep at most this much of what the agent said (4.8 MB); the rest is counted (call.receivedFramesNotKept). */
export const MAX_SAVED_AUDIO_MS = 10 * 60_000;

/** What a `judge` hook is given: the call's full record and the model's sessions for it, if any were read. */
export interface CallJudgeInput {
  record: CallRecord;
  flow: CallFlowReport;
  /** The sessions tagged with the call's callSid, else those the witness tied to it; null: none could be read. */
  sessions: readonly ModelTurnRecord[] | null;
  /** Why there are no sessions, when there are none. */
  sessionsNote: string;
}

export interface ExtraVerdict {
  checks: ReplayCheck[];
  failures: string[];
  conversation: ConversationReport | null;
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

/** The http(s) origin of a ws(s) URL: where a webhook path on the same server lives. */
export function httpBaseOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}

function callSetupOf(options: ReplayOptions, url: string | undefined, builtIn: { wsUrl: string; httpUrl: string } | null): CallSetup {
  const method = options.webhookMethod ?? 'POST';
  const directUrl = url ?? builtIn?.wsUrl;
  let webhook = options.webhook;
  let optional = options.webhookOptional ?? false;
  if (webhook === undefined) {
    if (builtIn === null) webhook = null;
    else {
      webhook = { path: DEFAULT_WEBHOOK_PATH };
      optional = true;
    }
  }
  if (webhook === null) {
    if (directUrl === undefined) throw new RangeError('direct mode needs a Media Streams URL to dial');
    return { mode: 'direct', url: directUrl };
  }
  if ('url' in webhook) return { mode: 'webhook', url: webhook.url, method, fallbackUrl: optional && directUrl !== undefined ? directUrl : null };
  const base = builtIn?.httpUrl ?? (url === undefined ? undefined : httpBaseOf(url));
  if (base === undefined) throw new RangeError(`a webhook path (${webhook.path}) needs a target URL to be relative to`);
  return { mode: 'webhook', url: new URL(webhook.path, base).toString(), method, fallbackUrl: optional && directUrl !== undefined ? directUrl : null };
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
  const congestionMs = timing.mode === 'burst' ? null : (options.congestionMs ?? DEFAULT_CONGESTION_MS);

  // Only the default target needs the server module (and its model stack) loaded at all.
  let builtIn: RunningMediaServer | null = null;
  const url = options.url;
  const absoluteWebhook = options.webhook !== undefined && options.webhook !== null && 'url' in options.webhook;
  if (url === undefined && !absoluteWebhook) {
    const { startMediaServer } = await import('../server/media-server.js');
    builtIn = await startMediaServer({ port: 0, quiet: true });
  }

  let ticket: WitnessTicket | null = null;
  try {
    const setup = callSetupOf(options, url, builtIn);
    ticket = options.witness?.begin() ?? null;
    const networkDelay = options.networkDelay ?? DEFAULT_NETWORK_DELAY;
    const { flow, record } = await runCallFlow({
      setup,
      frames: options.voice === undefined ? audio.frames : [],
      ...(options.voice !== undefined ? { voice: options.voice } : {}),
      ...(options.badLine !== undefined ? { badLine: options.badLine } : {}),
      keepTape: options.recordPath !== undefined || options.tracePath !== undefined,
      direction,
      params: options.params,
      authToken: options.authToken ?? null,
      ...(options.parties !== undefined ? { parties: options.parties } : {}),
      ...(options.agentAudio !== undefined ? { agentFrames: options.agentAudio.frames } : {}),
      networkDelay,
      ...(ticket !== null && ticket.watermark !== null ? { watermark: ticket.watermark } : {}),
      ...(options.networkSeed !== undefined ? { networkSeed: options.networkSeed } : {}),
      ...(options.congestionMs !== undefined ? { congestionMs: options.congestionMs } : {}),
      timing,
      earlyMedia: options.earlyMedia,
      startDelayMs: options.startDelayMs,
      dtmf: options.dtmf,
      tailMs,
      timeoutMs,
      // Only --save-audio keeps what the agent said, and at most MAX_SAVED_AUDIO_MS of it.
      // The witness compares what the caller heard with what the model said, so it needs the audio too.
      keepAudioMs: options.saveAudioPath === undefined && options.witness === undefined ? 0 : MAX_SAVED_AUDIO_MS,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    const call = toCallSummary(record);

    const { stats, snapshot: serverSnapshot } = await readServerStats(record.url, record, options.statsUrl, options.statsWaitMs ?? DEFAULT_STATS_WAIT_MS, options.statsToken ?? null);

    const checked = runChecks({
      call,
      flow,
      expectAudio: options.expectAudio ?? false,
      stats,
      snapshot: serverSnapshot,
      timeoutMs,
      allowServerHangup: options.allowServerHangup ?? false,
      congestionMs,
    });
    const checks = [...checked.checks];
    const failures = [...checked.failures];
    let model: ModelLegReport | null = null;
    let witnessed: ModelLegVerdict['sessions'] = [];
    if (options.witness !== undefined && ticket !== null) {
      const judged = await options.witness.judge(ticket, { record, flow, timing, networkDelay, builtIn });
      ticket = null;
      checks.push(...judged.checks);
      failures.push(...judged.failures);
      model = judged.report;
      witnessed = judged.sessions;
      // Both legs on one axis: the model's events join the caller's, in time order.
      if (judged.timeline.length > 0) record.timeline.events = [...record.timeline.events, ...judged.timeline].sort((a, b) => a.t - b.t);
    }
    // The model's account of the call, read while its simulator is still up.
    const modelSessions = options.modelSessions ?? builtIn?.simulator?.sessionsFor.bind(builtIn.simulator);
    const sessions = record.connected && modelSessions !== undefined ? modelSessions(record.callSid) : null;
    // A server that never tags its sessions (a --server-cmd or --url one): those the witness tied by watermark or time.
    const judgedSessions = (sessions === null || sessions.length === 0) && witnessed.length > 0 ? witnessed : sessions;
    const sessionsNote =
      judgedSessions === null
        ? record.connected ? 'the model leg is not visible to the caller (no simulator it knows of)' : 'the call never connected'
        : judgedSessions.length === 0 ? `no model session was tagged with ${record.callSid}` : '';
    const extra = options.judge?.({ record, flow, sessions: judgedSessions, sessionsNote }) ?? { checks: [], failures: [], conversation: null };
    checks.push(...extra.checks);
    failures.push(...extra.failures);
    const verdict = failures.length === 0 ? 'pass' : 'fail';
    const keep = verdict === 'fail' || options.artifactsOnlyOnFailure !== true;
    const tape = record.detail.tape;
    const speed = timing.mode === 'realtime' ? timing.speed : 1;
    const recording = options.recordPath === undefined || !keep || tape === null ? null : { file: options.recordPath, error: writeRecording(options.recordPath, tape, record.detail.heard, speed) };
    const secrets = options.authToken ? [options.authToken] : [];
    const trace = options.tracePath === undefined || !keep || tape === null ? null : { file: options.tracePath, error: writeTrace(options.tracePath, tape, judgedSessions === witnessed ? witnessed : (sessions ?? []), secrets) };

    let savedAudio: ReplayReport['savedAudio'] = null;
    if (options.saveAudioPath !== undefined) {
      try {
        writeFileSync(options.saveAudioPath, mulawFramesToWav(record.receivedAudio));
        savedAudio = { file: options.saveAudioPath, frames: record.receivedAudio.length, error: null };
      } catch (err) {
        savedAudio = { file: options.saveAudioPath, frames: 0, error: (err as Error).message };
      }
    }

    return {
      verdict,
      failures,
      checks,
      fixture: { file: options.file, durationMs: audio.durationMs, frames: audio.frames.length, source: audio.source },
      direction,
      target: {
        url: url ?? builtIn?.wsUrl ?? flow.stream?.url ?? record.url,
        webhook: setup.mode === 'webhook' ? setup.url : null,
        builtInServer: builtIn !== null,
      },
      callFlow: flow,
      timing: {
        mode: timing.mode,
        speed: timing.mode === 'realtime' ? timing.speed : null,
        earlyMedia: options.earlyMedia ?? false,
        startDelayMs: options.startDelayMs ?? 0,
        tailMs,
        timeoutMs,
        dtmf: options.dtmf?.digits ?? null,
        congestionMs,
        allowServerHangup: options.allowServerHangup ?? false,
      },
      call,
      timeline: record.timeline,
      stats,
      serverSnapshot,
      model,
      savedAudio,
      recording,
      trace,
      conversation: extra.conversation,
      elapsedMs: Math.round(performance.now() - began),
    };
  } finally {
    if (ticket !== null) options.witness?.abandon(ticket);
    await builtIn?.close();
  }
}
