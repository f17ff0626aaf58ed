// One step of the ramp: N calls set up over the ramp time, left to settle, measured for the hold
// (the generator's windows, the server's process tree, the model thread, the whole machine),
// hung up, then checked against the server's own counts and the model's session records.
import { sleep } from '../caller/clock.js';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { FRAME_MS } from '../audio/format.js';
import { countersOf, fetchServerSnapshot, statsUrlFor } from '../caller/stats.js';
import { printable } from '../text/printable.js';
import type { CallDirection } from '../twilio/codec.js';
import type { LoadGenerator } from './generator.js';
import { machineBusyBetween, machineTimes, sampleProcessTree, threadCpuMs, type TreeSample } from './proc.js';
import type { CallOutcome, OpenResult, WorkerWindow } from './protocol.js';
import type { ModelLeg, ServerCounts, ServerSample, StepMeasures } from './step-figures.js';
import type { LoadTarget } from './target.js';

const ELD_RESOLUTION_MS = 10;
/** After the hang-up, how long the server gets to close the step's model sessions. */
const MODEL_CLOSE_WAIT_MS = 2000;
/** How long the server may take to report a call it has closed. */
const SERVER_COUNTS_WAIT_MS = 1000;
const SERVER_COUNTS_CONCURRENCY = 16;

export class StepAborted extends Error {
  override readonly name = 'StepAborted';
}

export interface StepContext {
  target: LoadTarget;
  generator: LoadGenerator;
  directions: readonly CallDirection[];
  /** The server answers GET /calls/:callSid with its counters. */
  serverCounts: boolean;
  /** Calls placed so far in the run (call indexes keep counting across steps). */
  placed: number;
  /** The most calls any step so far held at once. */
  largestStep: number;
  hangUpTimeoutMs: number;
  signal: AbortSignal | undefined;
  say(text: string): void;
}

/** The main thread's own event loop: where the load's simulator answers every call. */
const mainLoop: IntervalHistogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });

interface WindowStart {
  tree: TreeSample | null;
  mainCpuMs: number | null;
  ours: NodeJS.CpuUsage;
  machine: ReturnType<typeof machineTimes>;
  wall: number;
  crashes: number;
}

function crashCount(target: LoadTarget): number {
  return target.logs.hits.length + target.logs.droppedHits;
}

async function measureWindow(ctx: StepContext, holdS: number, calls: number, idleRssBytes: number | null): Promise<Pick<StepMeasures, 'windows' | 'server' | 'modelThread' | 'machine'>> {
  const { target, generator } = ctx;
  const model = target.model;
  await generator.windowStart();
  if (model !== null) {
    model.forwardLatency.reset();
    model.unstamped = 0;
    model.measuring = true;
  }
  mainLoop.enable();
  mainLoop.reset();
  const from: WindowStart = {
    tree: target.pid === null ? null : sampleProcessTree(target.pid),
    mainCpuMs: threadCpuMs(),
    ours: process.cpuUsage(),
    machine: machineTimes(),
    wall: performance.now(),
    crashes: crashCount(target),
  };
  for (let s = 0; s < holdS && !ctx.signal?.aborted; s += 1) {
    await sleep(Math.min(1000, (holdS - s) * 1000), ctx.signal);
    if (s % 5 === 4) ctx.say(`${calls} calls: measuring, ${s + 1} of ${holdS} s`);
  }
  const wallMs = performance.now() - from.wall;
  const tree = target.pid === null ? null : sampleProcessTree(target.pid);
  const mainCpuMs = threadCpuMs();
  const ours = process.cpuUsage(from.ours);
  const machineNow = machineTimes();
  const eld = mainLoop.count > 0 ? Math.max(0, mainLoop.percentile(99) / 1e6 - ELD_RESOLUTION_MS) : null;
  mainLoop.disable();
  if (model !== null) model.measuring = false;
  const windows: WorkerWindow[] = await generator.windowEnd();
  const serverCpuMs = tree !== null && from.tree !== null ? Math.max(0, tree.cpuMs - from.tree.cpuMs) : null;
  const hits = target.logs.hits;
  const newCrashes = crashCount(target) - from.crashes;
  const server: ServerSample | null =
    target.pid === null
      ? null
      : {
          cpuMs: serverCpuMs,
          wallMs,
          rssBytes: tree?.rssBytes ?? null,
          idleRssBytes,
          processes: tree?.processes ?? null,
          crashLines: newCrashes,
          firstCrashLine: newCrashes > 0 && hits.length > 0 ? printable(target.redact(hits[Math.max(0, hits.length - newCrashes)]?.line.text ?? '')).slice(0, 300) : null,
        };
  const busy = machineBusyBetween(from.machine, machineNow);
  const machine: StepMeasures['machine'] =
    busy === null
      ? null
      : {
          ...busy,
          oursPercent: ((ours.user + ours.system) / 1000 / wallMs) * 100,
          serverPercent: serverCpuMs === null ? 0 : (serverCpuMs / wallMs) * 100,
        };
  const modelThread = model === null ? null : { cpuMs: mainCpuMs !== null && from.mainCpuMs !== null ? mainCpuMs - from.mainCpuMs : null, wallMs, eventLoopDelayP99Ms: eld };
  return { windows, server, modelThread, machine };
}

/** What the server counted of each call, where it reports counts. */
async function readServerCounts(ctx: StepContext, outcomes: CallOutcome[]): Promise<ServerCounts> {
  const counts: ServerCounts = { notCounted: 0, agentLost: 0, unreported: 0 };
  const queue = outcomes.filter((o) => o.streamed);
  const worker = async (): Promise<void> => {
    for (let o = queue.pop(); o !== undefined; o = queue.pop()) {
      const fetched = await fetchServerSnapshot(statsUrlFor(ctx.target.wsUrl, o.callSid), SERVER_COUNTS_WAIT_MS, ctx.target.callsToken);
      const counters = countersOf(fetched.snapshot);
      const inChunks = counters?.audioInChunks ?? null;
      const outChunks = counters?.audioOutChunks ?? null;
      if (inChunks === null || outChunks === null) {
        counts.unreported += 1;
        continue;
      }
      counts.notCounted += Math.abs(o.sent - o.unsent - inChunks);
      counts.agentLost += Math.abs(outChunks - o.received);
    }
  };
  await Promise.all(Array.from({ length: SERVER_COUNTS_CONCURRENCY }, worker));
  return counts;
}

/** The step's model sessions once the server has closed them (or the wait ran out). */
async function readModelLeg(ctx: StepContext, before: ReadonlySet<string>, forwardLatency: ModelLeg['forwardLatency']): Promise<ModelLeg | null> {
  const model = ctx.target.model;
  if (model === null) return null;
  const mine = (): ReturnType<typeof model.sessions> => model.sessions().filter((s) => !before.has(s.id));
  const giveUpAt = performance.now() + MODEL_CLOSE_WAIT_MS;
  while (mine().some((s) => s.open) && performance.now() < giveUpAt) await sleep(100);
  const sessions = mine();
  return {
    sessions: sessions.length,
    leftOpen: sessions.filter((s) => s.open).length,
    // By duration, in the format each append was made in: a server that transcodes is judged fairly.
    framesAppended: Math.round(sessions.reduce((a, s) => a + s.audioIn.ms, 0) / FRAME_MS),
    forwardLatency,
  };
}

/** Figures of one step, measured; the verdict is stepFigures()'s. Throws StepAborted (calls hung up) on abort. */
export async function measureStep(ctx: StepContext, calls: number, rampMs: number, settleS: number, holdS: number): Promise<StepMeasures> {
  const { generator, target } = ctx;
  const before = new Set(target.model?.sessions().map((s) => s.id) ?? []);
  // The server's memory with none of this step's calls: what they add is theirs (a heap that
  // grew in an earlier step is not). After a larger step the server still holds the heap that
  // one grew (V8 keeps it), so a smaller step's calls add nothing to see: not measured.
  const idleRssBytes = target.pid === null || calls <= ctx.largestStep ? null : (sampleProcessTree(target.pid)?.rssBytes ?? null);
  ctx.largestStep = Math.max(ctx.largestStep, calls);
  ctx.say(`${calls} calls: setting up over ${(rampMs / 1000).toFixed(1)} s`);
  const first = ctx.placed;
  ctx.placed += calls;
  let open: OpenResult;
  let measured: Pick<StepMeasures, 'windows' | 'server' | 'modelThread' | 'machine'> | null = null;
  try {
    open = await generator.open(first, calls, ctx.directions, rampMs);
    ctx.say(`${calls} calls: ${open.opened} streaming${open.failed > 0 ? `, ${open.failed} failed (${open.firstError ?? '?'})` : ''}; settling ${settleS} s, then measuring ${holdS} s`);
    await sleep(settleS * 1000, ctx.signal);
    if (!ctx.signal?.aborted) measured = await measureWindow(ctx, holdS, calls, idleRssBytes);
  } finally {
    if (ctx.signal?.aborted || measured === null) {
      await generator.hangUp(ctx.hangUpTimeoutMs).catch(() => []);
    }
  }
  if (ctx.signal?.aborted || measured === null) throw new StepAborted(`interrupted at ${calls} calls`);
  ctx.say(`${calls} calls: hanging up`);
  const forward = target.model === null ? null : target.model.forwardLatency.size > 0 ? target.model.forwardLatency.summary() : null;
  const outcomes = await generator.hangUp(ctx.hangUpTimeoutMs);
  const [serverCounts, model] = await Promise.all([ctx.serverCounts ? readServerCounts(ctx, outcomes) : Promise.resolve(null), readModelLeg(ctx, before, forward)]);
  return { calls, open, outcomes, serverCounts, model, ...measured };
}
