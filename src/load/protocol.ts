// What the ramp (main thread) and its generator workers say to each other: plain data only, so
// every message crosses a MessagePort by structured clone. One request, one answer.
import type { CallSetup } from '../caller/call-flow.js';
import type { NetworkDelay } from '../caller/network.js';
import type { CallDirection } from '../twilio/codec.js';
import type { CallAudio } from './call-audio.js';
import type { HistogramData } from './histogram.js';

/** How every call is placed: as Twilio places it (the voice webhook), or dialled directly. */
export interface LoadPlacement {
  setup: CallSetup;
  /** Direct mode's customParameters; `{direction}` in a value becomes the call's direction. */
  params: Readonly<Record<string, string>>;
  /** Sign the webhook and the upgrade (X-Twilio-Signature) with this; null: unsigned. */
  authToken: string | null;
}

export interface GeneratorConfig {
  audio: CallAudio;
  placement: LoadPlacement;
  /** Write the send-time stamp into each frame (only when the model is callsim's own simulator). */
  stamp: boolean;
  /** The run's epoch on the monotonic clock, µs: stamps count from it. */
  epochMicros: number;
  /** The caller's playout buffer: how long it holds an answer's first frame before playing. */
  jitterBufferMs: number;
  /** Twilio discards caller audio once the server's socket has stayed backed up this long (warning 31930). */
  congestionMs: number;
  networkDelay: NetworkDelay;
  /** A call whose socket is not open this long after it was due fails. */
  connectTimeoutMs: number;
}

/** Calls for one worker to open: `count` of them, the k-th due at `rampMs * k / count` after the open. */
export interface OpenRequest {
  /** Global indexes of the calls (for round-robin placement on the send wheel and for directions). */
  indexes: number[];
  directions: CallDirection[];
  /** The offset of each call's launch from now, ms. */
  launchAtMs: number[];
}

export interface OpenResult {
  opened: number;
  failed: number;
  /** Calls that fell back to direct mode because the target's default webhook answered 404. */
  fellBackToDirect: number;
  /** The first failure, printable (peer text escaped). */
  firstError: string | null;
  /** Notes the setup gave once (a ws:// stream URL accepted on loopback, the 404 fallback). */
  notes: string[];
}

export interface WorkerWindow {
  wallMs: number;
  /** This thread's CPU over the window (from /proc/thread-self/schedstat); null where there is none. */
  cpuMs: number | null;
  /** Event-loop utilisation of the thread over the window, 0..1. */
  utilization: number;
  eventLoopDelayP99Ms: number | null;
  framesSent: number;
  framesDropped: number;
  agentFrames: number;
  gaps: number;
  gapMs: number;
  turns: number;
  answered: number;
  jitter: HistogramData;
  latency: HistogramData;
  slip: HistogramData;
  streamingCalls: number;
}

export type CallEndState = 'ended' | 'failed';

export interface CallOutcome {
  index: number;
  callSid: string;
  direction: CallDirection;
  placement: 'webhook' | 'direct' | null;
  state: CallEndState;
  /** The stream opened: a failed call that streamed was dropped mid-call, one that did not never got set up. */
  streamed: boolean;
  /** Caller frames written to the socket. */
  sent: number;
  /** Caller frames Twilio would have discarded: the server's socket stayed backed up (31930). */
  dropped: number;
  /** Frames still unsent in the socket's buffer when the call had to be cut off. */
  unsent: number;
  received: number;
  marksReceived: number;
  marksEchoed: number;
  clears: number;
  /** Server messages that were not valid Media Streams messages for this stream. */
  badMessages: number;
  /** Why the call failed or what went wrong, printable. */
  error: string | null;
}

export type WorkerRequest =
  | { id: number; cmd: 'configure'; config: GeneratorConfig }
  | { id: number; cmd: 'open'; request: OpenRequest }
  | { id: number; cmd: 'window-start' }
  | { id: number; cmd: 'window-end' }
  | { id: number; cmd: 'hang-up'; timeoutMs: number }
  | { id: number; cmd: 'close' };

export type WorkerCommand = WorkerRequest['cmd'];

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
