// The server a load runs against, and its model. A server command (any language) and the
// built-in server (`callsim serve`, started as a command of its own so its CPU and memory are
// read from /proc like any other server's) are started through the gate's target (process
// group, readiness, strays) and given the load's own realtime simulator as their model, in their
// environment and their command's placeholders, as the gate hands its own (gate/witness/model.ts):
// the simulator then witnesses the model leg (what reached the model) and stamps nothing the
// server must know of. A URL target is reached as it is, with whatever model it has.
import { startRealtimeSimulator, type RunningSimulator, type SimulatorSessionRecord } from '../model/simulator/simulator.js';
import { LogCollector } from '../gate/crash-scan.js';
import { startTarget, type GateTarget } from '../gate/target.js';
import { fillPlaceholders, modelHandover, type ModelHandover } from '../gate/witness/model.js';
import { newHistogram, type Histogram } from './histogram.js';
import { packageRoot } from './paths.js';
import { monoMicros, readStamp } from './stamp.js';
import { sleep } from '../caller/clock.js';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export type LoadTargetSpec =
  /** `nodeArgs`: flags for the server's node (a profiler's, say); `serveArgs`: more `callsim serve` options. */
  | { kind: 'builtin'; nodeArgs?: readonly string[]; serveArgs?: readonly string[] }
  | { kind: 'url'; url: string }
  | { kind: 'command'; command: string; wsPath: string; readyTimeoutMs: number };

/** The load's own simulator as the model of the server under test. */
export interface LoadModel {
  /** Its plain (http://, ws://) URLs. */
  baseURL: string;
  realtimeUrl: string;
  /** What a server command is given of it, exactly as the gate gives its own simulator (issue 13). */
  handover: ModelHandover;
  sessions(): SimulatorSessionRecord[];
  /** Caller frame sent -> its audio appended at the model, from the stamp in each frame. */
  readonly forwardLatency: Histogram;
  /** Appends seen while the window was open that carried no stamp (the server transcoded the audio). */
  unstamped: number;
  measuring: boolean;
  close(): Promise<void>;
}

export interface LoadTarget {
  label: string;
  wsUrl: string;
  /** The http(s) origin of the stream URL: where a webhook path and GET /calls live. */
  httpUrl: string;
  /** The server command's process group leader: its CPU and memory come from /proc; null for a URL. */
  pid: number | null;
  /** What its GET /calls needs as `Authorization: Bearer` (callsim serve's --calls-token); null: nothing. */
  callsToken: string | null;
  logs: LogCollector;
  /** A line of its output as it may be shown: the secrets it was given scrubbed. */
  redact(text: string): string;
  model: LoadModel | null;
  /** Set once the server process is gone ("exited with code 1"). */
  exit(): string | null;
  stop(): Promise<void>;
}

export interface LoadTargetOptions {
  /** Length of each simulated answer. */
  answerMs: number;
  /** The run's epoch on the monotonic clock (µs), as the stamps count it. */
  epochMicros: number;
  /** The bearer token of the server's GET /calls (CALLSIM_CALLS_TOKEN); the built-in server gets one of its own when null. */
  callsToken: string | null;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** `callsim serve` as a command, its model the load's simulator. */
export function builtinCommand(model: LoadModel, nodeArgs: readonly string[] = [], serveArgs: readonly string[] = []): string {
  const bin = path.join(packageRoot(), 'bin', 'callsim.js');
  const node = [process.execPath, ...nodeArgs].map(shellQuote).join(' ');
  // --max-calls: a load step is not refused at the door; warnings only: a line per call would be noise.
  return `${node} ${shellQuote(bin)} serve --host 127.0.0.1 --port {port} --simulator-url ${shellQuote(model.baseURL)} --max-calls 1000000 --log-format json --log-level warn${serveArgs.map((a) => ' ' + shellQuote(a)).join('')}`;
}

async function startModel(options: LoadTargetOptions): Promise<LoadModel> {
  const forwardLatency = newHistogram('forwardLatency');
  let simulator: RunningSimulator | null = null;
  const model: LoadModel = {
    baseURL: '',
    realtimeUrl: '',
    handover: { env: {}, placeholders: {} },
    sessions: () => simulator?.sessions() ?? [],
    forwardLatency,
    unstamped: 0,
    measuring: false,
    close: async () => {
      await simulator?.close();
    },
  };
  simulator = await startRealtimeSimulator({
    port: 0,
    answerMs: options.answerMs,
    // Every session of a run is kept: each step's are counted once its calls have hung up.
    keepFinishedSessions: 1_000_000,
    onAppend: (_callSid, audio) => {
      if (!model.measuring) return;
      const stamp = readStamp(audio);
      if (stamp < 0) model.unstamped += 1;
      else forwardLatency.record((monoMicros() - options.epochMicros - stamp) / 1000);
    },
  });
  model.baseURL = simulator.baseURL;
  model.realtimeUrl = simulator.realtimeURL;
  model.handover = modelHandover(simulator);
  return model;
}

function httpOriginOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}

function fromGateTarget(target: GateTarget, model: LoadModel | null, label: string, callsToken: string | null): LoadTarget {
  return {
    callsToken,
    label: target.redact(label),
    redact: (text) => target.redact(text),
    wsUrl: target.wsUrl,
    httpUrl: httpOriginOf(target.wsUrl),
    pid: target.pid,
    logs: target.logs,
    model,
    exit: () => target.exit(),
    stop: async () => {
      await target.stop();
      await model?.close();
    },
  };
}

/** With `signal`, the caller owns SIGINT/SIGTERM (a server still starting is stopped when it aborts). */
export async function startLoadTarget(spec: LoadTargetSpec, options: LoadTargetOptions, signal?: AbortSignal): Promise<LoadTarget> {
  if (spec.kind === 'url') {
    const target = await startTarget(spec, signal);
    return fromGateTarget(target, null, spec.url, options.callsToken);
  }
  const model = await startModel(options);
  try {
    const command =
      spec.kind === 'builtin'
        ? builtinCommand(model, spec.nodeArgs, spec.serveArgs)
        : fillPlaceholders(spec.command, model.handover);
    // callsim serve guards GET /calls with a token whenever TWILIO_AUTH_TOKEN is set (which it
    // inherits): the built-in one is given the load's, or one of its own, so its counts are read.
    const callsToken = spec.kind === 'builtin' ? (options.callsToken ?? randomBytes(16).toString('hex')) : options.callsToken;
    const env = spec.kind === 'builtin' && callsToken !== null ? { ...model.handover.env, CALLSIM_CALLS_TOKEN: callsToken } : model.handover.env;
    const target = await startTarget(
      { kind: 'command', command, wsPath: spec.kind === 'builtin' ? '/media' : spec.wsPath, readyTimeoutMs: spec.kind === 'builtin' ? 20_000 : spec.readyTimeoutMs, env },
      signal,
    );
    return fromGateTarget(target, model, spec.kind === 'builtin' ? "built-in callsim serve (its model: the load's realtime simulator)" : target.label, callsToken);
  } catch (err) {
    await model.close();
    throw err;
  }
}

/**
 * Waits, at most `maxWaitMs`, until the server answers an HTTP request on its origin (any status)
 * within a second: one still working through a backlog (its event loop blocked, asleep or
 * spinning) does not. False when it had not answered by then; true as soon as it does, when
 * nothing listens there any more (nothing to wait for), or when `signal` aborts.
 */
export async function waitUntilAnswering(httpUrl: string, maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
  const until = performance.now() + maxWaitMs;
  for (;;) {
    if (signal?.aborted) return true;
    try {
      const response = await fetch(`${httpUrl}/`, { signal: AbortSignal.timeout(Math.max(1, Math.min(ANSWER_WITHIN_MS, until - performance.now()))) });
      await response.body?.cancel();
      return true;
    } catch (err) {
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ECONNREFUSED') return true;
    }
    if (performance.now() >= until) return false;
    await sleep(100, signal);
  }
}

const ANSWER_WITHIN_MS = 1000;
