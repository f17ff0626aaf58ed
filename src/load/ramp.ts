// src/load/: `callsim load`, the capacity ramp. This file runs it: start the target (and the
// load's simulator as its model), start the generator, then step up the concurrent calls until
// a step does not pass, halve the interval `refine` times, and say the capacity. The parts:
//   target.ts       the server under test and its model (through the gate's target)
//   generator.ts    the generator's worker threads (worker.ts, generator-core.ts)
//   load-call.ts    one lean Twilio call (setup.ts: its webhook step; answer-meter.ts: what the caller hears)
//   send-wheel.ts   the drift-free 20 ms clock, and the generator's own timing
//   step-run.ts     one step: set up, settle, measure, hang up, check
//   step-figures.ts figures, verdict and capacity (pure)
//   proc.ts         /proc: process trees, thread CPU, the machine
//   table.ts        the table and the progress text; html.ts the page with its charts
// It may import caller/ (the webhook step, the network model, the server's stats), gate/ (its
// target), model/simulator, twilio/, audio/, text/ and report/html (the page's style); never cli/.
import os from 'node:os';
import path from 'node:path';
import type { CallSetup } from '../caller/call-flow.js';
import { DEFAULT_NETWORK_DELAY } from '../caller/network.js';
import { DEFAULT_WEBHOOK_PATH } from '../caller/replay.js';
import { loadCallAudio } from './call-audio.js';
import { LoadGenerator } from './generator.js';
import { machineBusyBetween, machineTimes } from './proc.js';
import type { LoadPlacement } from './protocol.js';
import { packageRoot } from './paths.js';
import { monoMicros } from './stamp.js';
import { capacityOf, refinementStep, stepFigures } from './step-figures.js';
import { sleep } from '../caller/clock.js';
import { StepAborted, measureStep, type StepContext } from './step-run.js';
import { startLoadTarget, waitUntilAnswering, type LoadTarget, type LoadTargetSpec } from './target.js';
import type { LoadOptions, LoadResult, LoadStep } from './types.js';

export const LOAD_DEFAULTS = Object.freeze({
  steps: [25, 50, 100, 200, 400] as readonly number[],
  holdS: 10,
  settleS: 2,
  refine: 0,
  padSilenceMs: 1000,
  answerMs: 1200,
  congestionMs: 1000,
  // Twilio does not document its playout buffer; two frames are less than any telephone jitter buffer holds.
  jitterBufferMs: 40,
  thresholds: { jitterP99Ms: 20, gaps: 0, lostFrames: 0, failedCalls: 0, responseP95Ms: null },
  // Half the jitter limit: beyond it the caller's own lateness alone could fail a step.
  generatorSlipMs: 10,
  hangUpTimeoutMs: 5000,
  // Twilio waits 15 s for a webhook (DEFAULT_WEBHOOK_TIMEOUT_MS); the same bound covers the upgrade.
  setupTimeoutMs: 15_000,
});

/** The caller's audio by default: the package's hello fixture (speech 200-1100 ms of 2 s). */
export const DEFAULT_CALL_AUDIO = (): string => path.join(packageRoot(), 'fixtures', 'hello-8k-mulaw.wav');

/** Other processes above this (% of a core) make a failing step worth running again. */
const BUSY_PERCENT = 20;
/** The machine counts as quiet below this (% of a core). */
const QUIET_PERCENT = 15;
/** How long a server gets to finish with a failed step's calls before that step is run again. */
const SERVER_RECOVERY_WAIT_MS = 10_000;

export function defaultWorkers(): number {
  return os.availableParallelism();
}

/** Ramp time by step size: long enough that the server never sees all the upgrades at once. */
function rampFor(calls: number, options: LoadOptions): number {
  return options.rampMs ?? Math.min(3000, Math.max(1000, calls * 10));
}

function httpBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}

/** How every call is placed, as the gate places them: the target's webhook, or direct mode. */
function placementFor(spec: LoadTargetSpec, target: LoadTarget, options: LoadOptions): LoadPlacement {
  const given = options.placement.webhook;
  const method = options.placement.webhookMethod ?? 'POST';
  const byDefault = spec.kind === 'url' ? null : { path: DEFAULT_WEBHOOK_PATH };
  const webhook = given === undefined ? byDefault : given;
  let setup: CallSetup;
  if (webhook === null) setup = { mode: 'direct', url: target.wsUrl };
  else {
    const url = 'url' in webhook ? webhook.url : new URL(webhook.path, httpBase(target.wsUrl)).toString();
    // Only the default webhook falls back to direct mode on a 404: an explicit one that fails is what the caller gets.
    setup = { mode: 'webhook', url, method, fallbackUrl: given === undefined ? target.wsUrl : null };
  }
  return { setup, params: options.placement.params ?? {}, authToken: options.placement.authToken ?? null };
}

function describePlacement(placement: LoadPlacement): string {
  const setup = placement.setup;
  const signed = placement.authToken === null ? 'unsigned' : 'signed';
  return setup.mode === 'direct' ? `direct mode at ${setup.url} (${signed})` : `voice webhook ${setup.method} ${setup.url}${setup.fallbackUrl ? ' (direct mode if it is 404)' : ''}, ${signed}`;
}

/** Whether the server answers GET /calls with its calls (callsim serve does): then each call's counts are checked. */
async function hasServerCounts(target: LoadTarget): Promise<boolean> {
  try {
    const headers: Record<string, string> = target.callsToken === null ? {} : { authorization: `Bearer ${target.callsToken}` };
    const response = await fetch(`${target.httpUrl}/calls`, { headers, signal: AbortSignal.timeout(2000) });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    const body = (await response.json()) as unknown;
    return typeof body === 'object' && body !== null && Array.isArray((body as { calls?: unknown }).calls);
  } catch {
    return false;
  }
}

async function waitForQuiet(maxWaitMs: number, say: (text: string) => void): Promise<void> {
  const until = performance.now() + maxWaitMs;
  let warned = false;
  for (;;) {
    const a = machineTimes();
    await sleep(500);
    const busy = machineBusyBetween(a, machineTimes())?.busyPercent;
    if (busy === undefined) return;
    if (busy < QUIET_PERCENT) return;
    if (performance.now() > until) {
      say(`the machine is still ${Math.round(busy)}% busy with other work; going ahead`);
      return;
    }
    if (!warned) say(`waiting for other work on the machine to finish (${Math.round(busy)}% busy)`);
    warned = true;
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const began = performance.now();
  const startedAt = new Date().toISOString();
  const elapsed = (): number => (performance.now() - began) / 1000;
  const say = (text: string): void => options.onProgress?.({ at: elapsed(), text });
  const steps = [...new Set(options.steps)].sort((a, b) => a - b);
  const audio = loadCallAudio(options.audioFile, options.padSilenceMs);
  const epochMicros = monoMicros();
  const notes: string[] = [];
  const cpus = os.cpus();
  const machine = {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
  if (audio.speechEndFrame === null) notes.push(`${audio.name} has no speech: no turn ends, so no response latency is measured`);

  say(`starting ${options.target.kind === 'builtin' ? 'the built-in callsim serve' : options.target.kind === 'url' ? options.target.url : options.target.command}`);
  const target = await startLoadTarget(options.target, { answerMs: options.answerMs, epochMicros, callsToken: options.statsToken }, options.signal);
  const measured: LoadStep[] = [];
  let interrupted = false;
  let placementText = '';
  let serverCounts = false;
  let generator: LoadGenerator | null = null;
  try {
    serverCounts = await hasServerCounts(target);
    const placement = placementFor(options.target, target, options);
    placementText = describePlacement(placement);
    say(`ready: ${target.wsUrl}; calls placed by ${placementText}; ${serverCounts ? 'the server reports its counts (GET /calls)' : 'the server reports no counts'}${target.model ? `; its model is the load's simulator (${target.model.realtimeUrl})` : ''}`);
    const stamp = target.model !== null;
    generator = await LoadGenerator.start(options.workers, {
      audio,
      placement,
      stamp,
      epochMicros,
      jitterBufferMs: options.jitterBufferMs,
      congestionMs: options.congestionMs,
      networkDelay: options.networkDelay,
      connectTimeoutMs: options.setupTimeoutMs,
    });
    const ctx: StepContext = {
      target,
      generator,
      directions: options.directions,
      serverCounts,
      placed: 0,
      largestStep: 0,
      hangUpTimeoutMs: options.hangUpTimeoutMs,
      signal: options.signal,
      say,
    };
    const judge = { thresholds: options.thresholds, generatorSlipMs: options.generatorSlipMs, cores: os.cpus().length };
    const runOne = async (calls: number): Promise<LoadStep> => {
      if (options.quietWaitMs > 0) await waitForQuiet(options.quietWaitMs, say);
      let step = stepFigures(await measureStep(ctx, calls, rampFor(calls, options), options.settleS, options.holdS), judge);
      if (step.verdict !== 'pass' && options.retryWhenBusy && step.machine !== null && step.machine.otherPercent > BUSY_PERCENT) {
        const busy = `other processes took ${Math.round(step.machine.otherPercent)}% of a core during the window`;
        // A server still working through the hung-up calls (a backlog of their frames) would fail
        // the second run for the first one's sake: it is run again once the server answers again.
        const answering = await waitUntilAnswering(target.httpUrl, SERVER_RECOVERY_WAIT_MS, options.signal);
        if (options.signal?.aborted) throw new StepAborted(`interrupted at ${calls} calls`);
        if (!answering) {
          notes.push(`${calls} calls: ${busy}, but the server still did not answer ${SERVER_RECOVERY_WAIT_MS / 1000} s after the step's calls hung up, so the step was not run again`);
        } else {
          say(`${calls} calls: ${busy}; running the step once more`);
          const first = step;
          step = { ...stepFigures(await measureStep(ctx, calls, rampFor(calls, options), options.settleS, options.holdS), judge), firstAttempt: first };
        }
      }
      measured.push(step);
      options.onStep?.(step);
      const exit = target.exit();
      if (exit !== null) throw new TargetGone(`the server process ${exit}`);
      return step;
    };
    try {
      for (const calls of steps) {
        const step = await runOne(calls);
        if (step.verdict !== 'pass') break;
      }
      for (let i = 0; i < options.refine; i += 1) {
        const next = refinementStep(measured);
        if (next === null) break;
        await runOne(next);
      }
    } catch (err) {
      if (err instanceof StepAborted) interrupted = true;
      else if (err instanceof TargetGone) notes.push(`${err.message}: the ramp stopped there`);
      else throw err;
    }
  } finally {
    await generator?.close();
    // Read before stop(): our own SIGTERM is not the server's exit.
    const exit = target.exit();
    if (exit !== null && !notes.some((n) => n.startsWith('the server process'))) notes.push(`the server process ${exit}`);
    await target.stop();
  }
  if (measured.some((s) => s.callerFrames.notCountedByServer === null && s.callerFrames.lostOnModelLeg === null)) {
    notes.push('the server reports no counts and opened no session with the load\'s model: lost caller frames are only those Twilio itself would discard or could not send');
  }
  if (options.target.kind === 'url') notes.push("a URL target's processes are not known: its CPU and memory are not measured, and they count as other processes' CPU");
  const capacity = capacityOf(measured, interrupted);
  return {
    schema: 1,
    startedAt,
    durationS: Math.round(elapsed() * 10) / 10,
    interrupted,
    machine,
    target: { kind: options.target.kind, label: target.label, serverCounts, model: target.model ? `callsim's realtime simulator at ${target.model.realtimeUrl}` : null },
    config: {
      steps,
      holdS: options.holdS,
      settleS: options.settleS,
      refine: options.refine,
      workers: options.workers,
      directions: options.directions,
      callAudio: audio.name,
      answerMs: options.answerMs,
      placement: placementText,
      thresholds: options.thresholds,
      generatorSlipMs: options.generatorSlipMs,
      jitterBufferMs: options.jitterBufferMs,
      congestionMs: options.congestionMs,
      networkDelay: options.networkDelay,
    },
    steps: measured,
    capacity,
    notes,
  };
}

class TargetGone extends Error {}

/** Every option at its default but the target. */
export function loadOptions(target: LoadTargetSpec, overrides: Partial<LoadOptions> = {}): LoadOptions {
  return {
    target,
    steps: [...LOAD_DEFAULTS.steps],
    holdS: LOAD_DEFAULTS.holdS,
    settleS: LOAD_DEFAULTS.settleS,
    rampMs: null,
    refine: LOAD_DEFAULTS.refine,
    workers: defaultWorkers(),
    directions: ['inbound'],
    audioFile: DEFAULT_CALL_AUDIO(),
    padSilenceMs: LOAD_DEFAULTS.padSilenceMs,
    answerMs: LOAD_DEFAULTS.answerMs,
    placement: {},
    networkDelay: DEFAULT_NETWORK_DELAY,
    congestionMs: LOAD_DEFAULTS.congestionMs,
    jitterBufferMs: LOAD_DEFAULTS.jitterBufferMs,
    thresholds: { ...LOAD_DEFAULTS.thresholds },
    generatorSlipMs: LOAD_DEFAULTS.generatorSlipMs,
    hangUpTimeoutMs: LOAD_DEFAULTS.hangUpTimeoutMs,
    setupTimeoutMs: LOAD_DEFAULTS.setupTimeoutMs,
    retryWhenBusy: false,
    quietWaitMs: 0,
    statsToken: null,
    ...overrides,
  };
}

