// What `callsim load` is asked and what it answers: the options of a ramp, the figures of each
// step and the capacity. Plain JSON, the shape of `--json`. A figure that was not measured is
// null, never 0.
import type { NetworkDelay } from '../caller/network.js';
import type { WebhookMethod, WebhookTarget } from '../caller/replay.js';
import type { CallDirection } from '../twilio/codec.js';
import type { Summary } from './histogram.js';
import type { LoadTargetSpec } from './target.js';

/** What a step must show to count toward the capacity; each is settable. */
export interface LoadThresholds {
  /** The agent's audio at the caller: p99 inter-arrival lateness must be under this. */
  jitterP99Ms: number;
  /** Audible gaps (the caller's playout buffer ran dry mid-answer) allowed. */
  gaps: number;
  /** Frames lost allowed: caller frames on either leg, agent frames the server sent that never arrived. */
  lostFrames: number;
  /** Calls that could not be set up, or that the server dropped, allowed. */
  failedCalls: number;
  /** p95 response latency must be under this; null: not judged. */
  responseP95Ms: number | null;
}

export interface LoadPlacementOptions {
  /** The voice webhook; null: direct mode. Default: /twiml on the built-in server and a command (direct on a 404), direct for a URL. */
  webhook?: WebhookTarget | null;
  webhookMethod?: WebhookMethod;
  params?: Readonly<Record<string, string>>;
  authToken?: string | null;
}

export interface LoadProgress {
  /** Seconds since the run began. */
  at: number;
  text: string;
}

export interface LoadOptions {
  target: LoadTargetSpec;
  /** Concurrent calls per step, ascending. */
  steps: number[];
  holdS: number;
  settleS: number;
  /** How long each step's calls take to come up; null: by the step's size (1-3 s). */
  rampMs: number | null;
  /** After the first step that fails, this many more steps halve the interval between it and the last that passed. */
  refine: number;
  /** Generator threads; 0 runs the generator in this thread. */
  workers: number;
  /** Call directions, taken in turn. */
  directions: CallDirection[];
  /** The caller's audio (a WAV of speech), looped with `padSilenceMs` of silence after it. */
  audioFile: string;
  padSilenceMs: number;
  /** The load's simulator: length of each answer. */
  answerMs: number;
  placement: LoadPlacementOptions;
  networkDelay: NetworkDelay;
  congestionMs: number;
  jitterBufferMs: number;
  thresholds: LoadThresholds;
  /** The generator is saturated when its own timing slipped more than this (p99), or its event loop lagged as much. */
  generatorSlipMs: number;
  /** How long the calls of a step get to close after `stop` before they are cut off. */
  hangUpTimeoutMs: number;
  /** A call not streaming this long after it was placed (webhook and upgrade) fails. */
  setupTimeoutMs: number;
  /** Run a failing step once more when other processes took over 20 % of a core during it (both are kept). */
  retryWhenBusy: boolean;
  /** Before each step, wait up to this long for the machine to go quiet; 0: do not wait. */
  quietWaitMs: number;
  /** Bearer token for the server's GET /calls (callsim serve's --calls-token); null: none (the built-in server gets its own). */
  statsToken: string | null;
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
  onStep?: (step: LoadStep) => void;
}

export type StepVerdict =
  /** Every threshold met, and the generator and the model kept their timing. */
  | 'pass'
  /** A threshold missed while the generator and the model kept their timing: the server's limit. */
  | 'fail'
  /** The generator's own timing slipped: nothing of this step is claimed for the server. */
  | 'generator-saturated'
  /** The load's simulator (the server's model) fell behind: nothing of this step is claimed for the server. */
  | 'model-saturated';

export interface ProcessFigures {
  cpuPercent: number | null;
  /** CPU per caller frame sent during the window, µs. */
  cpuMicrosPerFrame: number | null;
}

export interface LoadStep {
  calls: number;
  verdict: StepVerdict;
  /** Why it did not pass (each threshold missed, the saturation), printable. */
  reasons: string[];
  windowS: number;
  setup: { opened: number; failed: number; firstError: string | null; placement: 'webhook' | 'direct' | 'mixed' | null };
  /** Calls set up that the server closed before the caller hung up. */
  droppedCalls: number;
  /** The first call failure of the step (setup or drop), printable. */
  firstCallError: string | null;
  callerFrames: {
    /** Over the whole step: written to the server. */
    sent: number;
    /** Discarded as Twilio discards audio when the server's socket stays backed up (31930). */
    discarded: number;
    /** Still unsent when a call that would not close was cut off. */
    unsentAtHangUp: number;
    /** Sent, but not in the server's own count (GET /calls/:callSid audioInChunks); null: the server reports no counts. */
    notCountedByServer: number | null;
    /** Delivered to the server but never appended at the model (the load's simulator); null: no model witness. */
    lostOnModelLeg: number | null;
    /** Twilio leg (discarded + unsent + not counted) plus model leg. */
    lost: number;
  };
  /** Calls the server did not report on GET /calls/:callSid (it keeps few finished calls, or lost track): their frames are in no server count; null: the server reports no counts. */
  serverUnreportedCalls: number | null;
  model: { sessions: number; leftOpen: number; framesAppended: number } | null;
  agentAudio: {
    /** Frames received in the window. */
    frames: number;
    jitterMs: Summary;
    gaps: number;
    gapMs: number;
    /** Sent by the server (its audioOutChunks) and never received; null: no server counts. */
    lost: number | null;
  };
  turns: { ended: number; answered: number };
  responseLatencyMs: Summary;
  /** Caller frame sent -> appended at the model (through the server); null without the load's model or with transcoded audio. */
  forwardLatencyMs: Summary | null;
  /** A server command's whole process tree; null for a URL target. Memory per call: (RSS in the window - RSS just before the step) / calls up. */
  server: (ProcessFigures & { rssMiB: number | null; memoryPerCallKiB: number | null; processes: number | null; crashLines: number; firstCrashLine: string | null }) | null;
  generator: ProcessFigures & {
    workers: number;
    sendSlipMs: Summary;
    eventLoopDelayP99Ms: number | null;
    /** The busiest worker's event-loop utilisation, 0..1. */
    utilization: number;
    saturated: boolean;
  };
  /** The load's simulator, in this process's main thread. */
  modelProcess: (ProcessFigures & { eventLoopDelayP99Ms: number | null; saturated: boolean }) | null;
  /** The whole machine, % of one core; other = processes that are neither the server nor callsim load. */
  machine: { busyPercent: number; otherPercent: number } | null;
  /** A first run of this step thrown away because other processes were busy during it. */
  firstAttempt?: LoadStep;
}

export interface LoadCapacity {
  /** The largest step below the first that did not pass; null when none passed. */
  calls: number | null;
  /** What ended the ramp: the server (a threshold), the generator or the model (saturated), or the end of the steps. */
  limitedBy: 'server' | 'generator' | 'model' | 'steps' | 'interrupted';
  /** The smallest step that did not pass. */
  firstFailure: { calls: number; verdict: StepVerdict; reasons: string[] } | null;
}

export interface LoadResult {
  schema: 1;
  startedAt: string;
  durationS: number;
  interrupted: boolean;
  machine: { cores: number; cpuModel: string; node: string; platform: string; loadAverageAtStart: number[] };
  target: { kind: LoadTargetSpec['kind']; label: string; serverCounts: boolean; model: string | null };
  config: {
    steps: number[];
    holdS: number;
    settleS: number;
    refine: number;
    workers: number;
    directions: CallDirection[];
    callAudio: string;
    answerMs: number;
    placement: string;
    thresholds: LoadThresholds;
    generatorSlipMs: number;
    jitterBufferMs: number;
    congestionMs: number;
    networkDelay: NetworkDelay;
  };
  /** In the order they ran (refinement steps after the first failure). */
  steps: LoadStep[];
  capacity: LoadCapacity;
  notes: string[];
}
