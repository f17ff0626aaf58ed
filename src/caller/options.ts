// What one fake-Twilio call can be told (PlaceCallOptions), its defaults, and their checking:
// bad options are a RangeError before anything is dialled, never a half-placed call.
import { FRAME_BYTES, MULAW_BYTES_PER_MS } from '../audio/format.js';
import { MAX_WATERMARK_TAG } from '../audio/watermark.js';
import type { CallDirection, MediaTrack, StreamIds } from '../twilio/codec.js';
import { REALTIME, validateTiming, type CallTiming } from './clock.js';
import { CLEAN_LINE, DEFAULT_NETWORK_DELAY, validateBadLine, validateNetworkDelay, type BadLine, type NetworkDelay } from './network.js';
import type { VoiceFactory } from './voice.js';

/** Line silence after the caller's audio while the agent answers (audio time). */
export const DEFAULT_TAIL_MS = 1500;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** The tail keeps going until the server has sent no audio for this long. */
export const DEFAULT_QUIET_MS = 500;
/** After `stop`, how long the server gets to close the socket before the caller closes it. */
export const DEFAULT_CLOSE_GRACE_MS = 1000;
/** With earlyMedia, this many frames go out in the same tick as `start`. */
export const EARLY_MEDIA_FRAMES = 5;
/** Gap between DTMF digits: Twilio reports one event per detected tone, not a burst. */
export const DTMF_DIGIT_SPACING_MS = 200;
export const DTMF_DIGITS = /^[0-9*#]+$/;
/** The direction a call has when none is given. */
export const DEFAULT_DIRECTION: CallDirection = 'inbound';
/**
 * Audio time the server's socket may stay backed up before caller audio is discarded, as Twilio
 * discards it under congestion (warning 31930). Twilio documents no figure; 1 s is callsim's.
 */
export const DEFAULT_CONGESTION_MS = 1000;

/**
 * The stream Twilio opened: a bidirectional <Connect><Stream> (the inbound track only, audio and
 * marks back), or a unidirectional <Start><Stream> fork on the tracks it asked for (nothing back).
 */
export type StreamShape = { kind: 'bidirectional' } | { kind: 'fork'; tracks: readonly MediaTrack[] };
export const BIDIRECTIONAL: StreamShape = { kind: 'bidirectional' };

export interface DtmfPlan {
  /** Digits to press, e.g. "12#". */
  digits: string;
  /** Audio time (ms from the first media frame) of the first digit; default: right after the audio. */
  atMs?: number;
}

export interface CallProgress {
  phase: 'connecting' | 'audio' | 'tail' | 'hanging-up';
  elapsedMs: number;
  framesSent: number;
  audioFramesSent: number;
  audioFrames: number;
  framesReceived: number;
}

export interface PlaceCallOptions {
  /** ws:// or wss:// Media Streams URL to dial. */
  url: string;
  /** Headers of the WebSocket upgrade (Twilio's X-Twilio-Signature). */
  headers?: Readonly<Record<string, string>>;
  /** The call's SIDs (the ones its voice webhook was told); fresh ones when absent. */
  ids?: Readonly<StreamIds>;
  /** The caller's audio: 160-byte 8 kHz mu-law frames (a short last frame is padded with silence). */
  frames: readonly Buffer[];
  /** What the call is labelled (and, through its webhook, was placed as); nothing on the stream says it. */
  direction?: CallDirection;
  /** start.customParameters, exactly: the stream's <Parameter>s. */
  params?: Readonly<Record<string, string>>;
  /** Default: bidirectional. */
  stream?: StreamShape;
  /** The agent's side of the call, for a fork's outbound track (silence where it runs out). */
  agentFrames?: readonly Buffer[];
  /** One-way delay of a mark echo back to the server; default 20–40 ms. */
  networkDelay?: NetworkDelay;
  /** Seed of the call's network PRNG; default: derived from the callSid. */
  networkSeed?: number;
  /** Latency and jitter both ways, and caller audio lost before Twilio; default: a clean line. */
  badLine?: BadLine;
  /**
   * A scripted caller (a scenario): it says each frame in place of `frames` and the tail, and
   * hangs up when it is done. `frames` must then be empty, and there is no `dtmf` plan.
   */
  voice?: VoiceFactory;
  /** Keep the call's tape (every frame both ways, what the caller said when) for a recording or trace. */
  keepTape?: boolean;
  /** Audio ms the server's socket may stay backed up before caller audio is dropped (31930). */
  congestionMs?: number;
  timing?: CallTiming;
  /** Send the first frames in the same tick as `start`, so a server that is not ready yet races. */
  earlyMedia?: boolean;
  /** Wall-clock pause between `start` and the first media frame. */
  startDelayMs?: number;
  dtmf?: DtmfPlan;
  /** Audio time of line silence after the caller's audio (extended while the server talks). */
  tailMs?: number;
  quietMs?: number;
  /** Bounds the whole call, connecting included. */
  timeoutMs?: number;
  closeGraceMs?: number;
  /** Audio ms of what the agent sends kept in the record's receivedAudio (for --save-audio); default 0: none, only counted. */
  keepAudioMs?: number;
  /**
   * Watermark the caller's audio (every inbound frame with room for it, tail silence included)
   * with this 24-bit tag (audio/watermark.ts), and keep the frames as sent: the model-side
   * witness ties the model sessions to the call by it and compares what the model heard.
   */
  watermark?: number;
  /** Aborting hangs up now: `stop`, then close. */
  signal?: AbortSignal;
  onProgress?: (progress: CallProgress) => void;
}

/** PlaceCallOptions checked, with every default filled in. */
export interface ResolvedOptions {
  url: string;
  headers: Readonly<Record<string, string>>;
  ids: Readonly<StreamIds> | null;
  frames: readonly Buffer[];
  direction: CallDirection;
  customParameters: Record<string, string>;
  stream: StreamShape;
  agentFrames: readonly Buffer[];
  networkDelay: NetworkDelay;
  networkSeed: number | null;
  badLine: BadLine;
  voice: VoiceFactory | null;
  keepTape: boolean;
  congestionMs: number;
  timing: CallTiming;
  earlyMedia: boolean;
  startDelayMs: number;
  dtmfDigits: string;
  dtmfAtMs: number | null;
  tailMs: number;
  quietMs: number;
  timeoutMs: number;
  closeGraceMs: number;
  /** Bytes of the agent's audio the record keeps. */
  keepAudioBytes: number;
  watermark: number | null;
  signal: AbortSignal | undefined;
  onProgress: ((progress: CallProgress) => void) | undefined;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0 (got ${value})`);
  return value;
}

export function resolveOptions(options: PlaceCallOptions): ResolvedOptions {
  const timing = options.timing ?? REALTIME;
  validateTiming(timing);
  const dtmfDigits = options.dtmf?.digits ?? '';
  if (dtmfDigits !== '' && !DTMF_DIGITS.test(dtmfDigits)) {
    throw new RangeError(`DTMF digits must be 0-9, * or # (got ${JSON.stringify(dtmfDigits)})`);
  }
  const timeoutMs = nonNegative('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
  if (timeoutMs === 0) throw new RangeError('timeoutMs must be > 0');
  for (const frame of [...options.frames, ...(options.agentFrames ?? [])]) {
    if (frame.length > FRAME_BYTES) throw new RangeError(`audio frames must be at most ${FRAME_BYTES} bytes`);
  }
  const stream = options.stream ?? BIDIRECTIONAL;
  if (stream.kind === 'fork' && stream.tracks.length === 0) throw new RangeError('a fork stream carries at least one track');
  // "Media Streams - WebSocket Messages": the dtmf message is sent on bidirectional streams only.
  if (stream.kind === 'fork' && dtmfDigits !== '') throw new RangeError('Twilio sends DTMF only on bidirectional streams, not on a <Start><Stream> fork');
  const networkDelay = options.networkDelay ?? DEFAULT_NETWORK_DELAY;
  validateNetworkDelay(networkDelay);
  if (options.networkSeed !== undefined && !Number.isInteger(options.networkSeed)) throw new RangeError(`networkSeed must be an integer (got ${options.networkSeed})`);
  const badLine = options.badLine ?? CLEAN_LINE;
  validateBadLine(badLine);
  if (options.voice !== undefined && (options.frames.length > 0 || dtmfDigits !== '')) throw new RangeError('a call with a voice says what its voice says: give no frames and no DTMF plan');
  const { watermark } = options;
  if (watermark !== undefined && !(Number.isInteger(watermark) && watermark >= 0 && watermark <= MAX_WATERMARK_TAG)) {
    throw new RangeError(`watermark must be an integer from 0 to ${MAX_WATERMARK_TAG} (got ${watermark})`);
  }
  return {
    url: options.url,
    headers: options.headers ?? {},
    ids: options.ids ?? null,
    frames: options.frames,
    direction: options.direction ?? DEFAULT_DIRECTION,
    customParameters: { ...options.params },
    stream,
    agentFrames: options.agentFrames ?? [],
    networkDelay,
    networkSeed: options.networkSeed ?? null,
    badLine,
    voice: options.voice ?? null,
    keepTape: options.keepTape ?? false,
    congestionMs: nonNegative('congestionMs', options.congestionMs, DEFAULT_CONGESTION_MS),
    timing,
    earlyMedia: options.earlyMedia ?? false,
    startDelayMs: nonNegative('startDelayMs', options.startDelayMs, 0),
    dtmfDigits,
    dtmfAtMs: options.dtmf?.atMs === undefined ? null : nonNegative('dtmf.atMs', options.dtmf.atMs, 0),
    tailMs: nonNegative('tailMs', options.tailMs, DEFAULT_TAIL_MS),
    quietMs: nonNegative('quietMs', options.quietMs, DEFAULT_QUIET_MS),
    timeoutMs,
    closeGraceMs: nonNegative('closeGraceMs', options.closeGraceMs, DEFAULT_CLOSE_GRACE_MS),
    keepAudioBytes: Math.floor(nonNegative('keepAudioMs', options.keepAudioMs, 0) * MULAW_BYTES_PER_MS),
    watermark: watermark ?? null,
    signal: options.signal,
    onProgress: options.onProgress,
  };
}
