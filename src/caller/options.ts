// What one fake-Twilio call can be told (PlaceCallOptions), its defaults, and their checking:
// bad options are a RangeError before anything is dialled, never a half-placed call.
import { FRAME_BYTES } from '../audio/format.js';
import type { CallDirection } from '../twilio/codec.js';
import { REALTIME, validateTiming, type CallTiming } from './clock.js';

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
  /** ws:// or wss:// Media Streams URL. */
  url: string;
  /** The caller's audio: 160-byte 8 kHz mu-law frames (a short last frame is padded with silence). */
  frames: readonly Buffer[];
  direction?: CallDirection;
  /** Extra <Parameter>s; they arrive in start.customParameters next to `direction`. */
  params?: Readonly<Record<string, string>>;
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
  /** Aborting hangs up now: `stop`, then close. */
  signal?: AbortSignal;
  onProgress?: (progress: CallProgress) => void;
}

/** PlaceCallOptions checked, with every default filled in. */
export interface ResolvedOptions {
  url: string;
  frames: readonly Buffer[];
  direction: CallDirection;
  customParameters: Record<string, string>;
  timing: CallTiming;
  earlyMedia: boolean;
  startDelayMs: number;
  dtmfDigits: string;
  dtmfAtMs: number | null;
  tailMs: number;
  quietMs: number;
  timeoutMs: number;
  closeGraceMs: number;
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
  for (const frame of options.frames) {
    if (frame.length > FRAME_BYTES) throw new RangeError(`audio frames must be at most ${FRAME_BYTES} bytes`);
  }
  const direction = options.direction ?? DEFAULT_DIRECTION;
  return {
    url: options.url,
    frames: options.frames,
    direction,
    customParameters: { direction, ...options.params },
    timing,
    earlyMedia: options.earlyMedia ?? false,
    startDelayMs: nonNegative('startDelayMs', options.startDelayMs, 0),
    dtmfDigits,
    dtmfAtMs: options.dtmf?.atMs === undefined ? null : nonNegative('dtmf.atMs', options.dtmf.atMs, 0),
    tailMs: nonNegative('tailMs', options.tailMs, DEFAULT_TAIL_MS),
    quietMs: nonNegative('quietMs', options.quietMs, DEFAULT_QUIET_MS),
    timeoutMs,
    closeGraceMs: nonNegative('closeGraceMs', options.closeGraceMs, DEFAULT_CLOSE_GRACE_MS),
    signal: options.signal,
    onProgress: options.onProgress,
  };
}
