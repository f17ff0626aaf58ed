// One step's raw measurements turned into its figures and its verdict, and the ramp's capacity
// from its steps. Pure functions: every rule of what passes is here, tested without sockets.
import { Histogram, HISTOGRAM_BINS, type HistogramData, type HistogramKind, type Summary } from './histogram.js';
import type { CallOutcome, OpenResult, WorkerWindow } from './protocol.js';
import type { LoadCapacity, LoadStep, LoadThresholds, StepVerdict } from './types.js';

/** What the server itself counted of a step's calls (GET /calls/:callSid), when it reports counts. */
export interface ServerCounts {
  /** Over reported calls: |caller frames delivered - audioInChunks|. */
  notCounted: number;
  /** Over reported calls: |audioOutChunks - agent frames received|. */
  agentLost: number;
  /** Calls the server did not report (a server that keeps few finished calls, or forgot one). */
  unreported: number;
}

export interface ModelLeg {
  sessions: number;
  leftOpen: number;
  framesAppended: number;
  forwardLatency: Summary | null;
}

export interface ServerSample {
  cpuMs: number | null;
  wallMs: number;
  rssBytes: number | null;
  idleRssBytes: number | null;
  processes: number | null;
  crashLines: number;
  firstCrashLine: string | null;
}

export interface StepMeasures {
  calls: number;
  open: OpenResult;
  windows: WorkerWindow[];
  outcomes: CallOutcome[];
  serverCounts: ServerCounts | null;
  model: ModelLeg | null;
  server: ServerSample | null;
  /** The main thread, where the load's simulator runs. */
  modelThread: { cpuMs: number | null; wallMs: number; eventLoopDelayP99Ms: number | null } | null;
  machine: { busyPercent: number; irqPercent: number; oursPercent: number; serverPercent: number } | null;
}

export interface JudgeOptions {
  thresholds: LoadThresholds;
  generatorSlipMs: number;
  /** CPUs of the machine (/proc/stat's), to say whether it had any to spare. */
  cores: number;
}

/** A generator thread this busy has no time to spare. */
const BUSY_UTILIZATION = 0.8;

function merged(kind: HistogramKind, parts: HistogramData[]): Summary {
  const { binWidth, top } = HISTOGRAM_BINS[kind];
  const all = new Histogram(binWidth, top);
  for (const part of parts) all.merge(part);
  return all.summary();
}

const sum = <T>(items: readonly T[], of: (item: T) => number): number => items.reduce((a, item) => a + of(item), 0);
const f1 = (v: number): string => v.toFixed(1);

function percentOf(cpuMs: number | null, wallMs: number): number | null {
  return cpuMs === null || wallMs <= 0 ? null : (cpuMs / wallMs) * 100;
}

function perFrame(cpuMs: number | null, frames: number): number | null {
  return cpuMs === null || frames === 0 ? null : (cpuMs * 1000) / frames;
}

/** The server's memory growth over the step, per call; null where none can be told (RSS fell: the heap's own churn). */
function memoryPerCallKiB(server: ServerSample, opened: number): number | null {
  if (server.rssBytes === null || server.idleRssBytes === null || opened === 0 || server.rssBytes < server.idleRssBytes) return null;
  return (server.rssBytes - server.idleRssBytes) / opened / 1024;
}

export function stepFigures(m: StepMeasures, options: JudgeOptions): LoadStep {
  const t = options.thresholds;
  const windows = m.windows;
  const wallMs = Math.max(0, ...windows.map((w) => w.wallMs));
  const windowFrames = sum(windows, (w) => w.framesSent);
  const outcomes = m.outcomes;
  const sent = sum(outcomes, (o) => o.sent);
  const discarded = sum(outcomes, (o) => o.dropped);
  const unsent = sum(outcomes, (o) => o.unsent);
  const notCounted = m.serverCounts?.notCounted ?? null;
  // A server that opened no session with the load's model does not use it: its model leg is not witnessed.
  const witnessed = m.model !== null && m.model.sessions > 0 ? m.model : null;
  const lostOnModelLeg = witnessed === null ? null : Math.max(0, sent - unsent - (notCounted ?? 0) - witnessed.framesAppended);
  const lostCaller = discarded + unsent + (notCounted ?? 0) + (lostOnModelLeg ?? 0);
  const agentLost = m.serverCounts?.agentLost ?? null;
  const dropped = outcomes.filter((o) => o.state === 'failed' && o.streamed);
  const failedCalls = m.open.failed + dropped.length;
  const jitter = merged('jitter', windows.map((w) => w.jitter));
  const latency = merged('responseLatency', windows.map((w) => w.latency));
  const slip = merged('sendSlip', windows.map((w) => w.slip));
  const gaps = sum(windows, (w) => w.gaps);
  const cpuParts = windows.map((w) => w.cpuMs);
  const generatorCpu = cpuParts.some((c) => c === null) ? null : sum(cpuParts, (c) => c!);
  const eldValues = windows.map((w) => w.eventLoopDelayP99Ms).filter((v): v is number => v !== null);
  const generatorLag = eldValues.length > 0 ? Math.max(...eldValues) : null;
  // A generator that sent nothing (no call came up) cannot have skewed anything.
  const generatorSaturated = slip.count > 0 && ((slip.p99 !== null && slip.p99 > options.generatorSlipMs) || (generatorLag !== null && generatorLag > options.generatorSlipMs));
  const modelLag = m.modelThread?.eventLoopDelayP99Ms ?? null;
  const modelSaturated = modelLag !== null && modelLag > options.generatorSlipMs;
  const placements = new Set(outcomes.map((o) => o.placement).filter((p) => p !== null));

  const reasons: string[] = [];
  if (jitter.p99 === null) reasons.push('no agent audio reached the caller during the window');
  else if (jitter.p99 >= t.jitterP99Ms) reasons.push(`p99 jitter ${f1(jitter.p99)} ms (limit < ${t.jitterP99Ms})`);
  if (gaps > t.gaps) reasons.push(`${gaps} audible gap${gaps === 1 ? '' : 's'} (limit ${t.gaps})`);
  const lostAll = lostCaller + (agentLost ?? 0);
  if (lostAll > t.lostFrames) {
    const parts = [
      discarded > 0 ? `${discarded} discarded (the server's socket stayed backed up)` : '',
      unsent > 0 ? `${unsent} unsent at hang-up` : '',
      notCounted ? `${notCounted} not counted by the server` : '',
      lostOnModelLeg ? `${lostOnModelLeg} never reached the model` : '',
      agentLost ? `${agentLost} agent frames sent and never heard` : '',
    ].filter(Boolean);
    reasons.push(`${lostAll} frames lost: ${parts.join(', ')} (limit ${t.lostFrames})`);
  }
  if (failedCalls > t.failedCalls) {
    const first = m.open.firstError ?? dropped[0]?.error ?? null;
    reasons.push(`${failedCalls} call${failedCalls === 1 ? '' : 's'} failed (${m.open.failed} at setup, ${dropped.length} dropped)${first ? `: ${first}` : ''}`);
  }
  if (t.responseP95Ms !== null) {
    if (latency.p95 === null) reasons.push('no response latency measured');
    else if (latency.p95 >= t.responseP95Ms) reasons.push(`p95 response latency ${Math.round(latency.p95)} ms (limit < ${t.responseP95Ms})`);
  }
  let verdict: StepVerdict = reasons.length === 0 ? 'pass' : 'fail';
  const utilization = Math.max(0, ...windows.map((w) => w.utilization));
  if (generatorSaturated) {
    verdict = 'generator-saturated';
    const machine = m.machine;
    const cause =
      utilization >= BUSY_UTILIZATION
        ? `its threads were busy (event loop ${Math.round(utilization * 100)}% used)`
        : machine !== null && machine.busyPercent >= 90 * options.cores
          ? `it was starved of CPU: the machine was ${Math.round(machine.busyPercent)}% busy of ${options.cores * 100}%, ${Math.round(Math.max(0, machine.busyPercent - machine.irqPercent - machine.oursPercent - machine.serverPercent))}% of it other processes`
          : `its threads were ${Math.round(utilization * 100)}% busy and the machine had CPU to spare`;
    reasons.unshift(`the generator was saturated: its own timing slipped (send slip p99 ${slip.p99 === null ? '–' : f1(slip.p99)} ms, event-loop lag p99 ${generatorLag === null ? '–' : f1(generatorLag)} ms; limit ${options.generatorSlipMs}) — ${cause}; this step measured the caller, not the server`);
  } else if (modelSaturated) {
    verdict = 'model-saturated';
    reasons.unshift(`the load's model simulator fell behind (event-loop lag p99 ${f1(modelLag)} ms; limit ${options.generatorSlipMs}): this step measured the model, not the server`);
  }

  const server = m.server;
  return {
    calls: m.calls,
    verdict,
    reasons,
    windowS: Math.round(wallMs) / 1000,
    setup: { opened: m.open.opened, failed: m.open.failed, firstError: m.open.firstError, placement: placements.size === 0 ? null : placements.size > 1 ? 'mixed' : ([...placements][0] as 'webhook' | 'direct') },
    droppedCalls: dropped.length,
    firstCallError: m.open.firstError ?? outcomes.find((o) => o.error !== null)?.error ?? null,
    callerFrames: { sent, discarded, unsentAtHangUp: unsent, notCountedByServer: notCounted, lostOnModelLeg, lost: lostCaller },
    serverUnreportedCalls: m.serverCounts?.unreported ?? null,
    model: witnessed === null ? null : { sessions: witnessed.sessions, leftOpen: witnessed.leftOpen, framesAppended: witnessed.framesAppended },
    agentAudio: { frames: sum(windows, (w) => w.agentFrames), jitterMs: jitter, gaps, gapMs: Math.round(sum(windows, (w) => w.gapMs)), lost: agentLost },
    turns: { ended: sum(windows, (w) => w.turns), answered: sum(windows, (w) => w.answered) },
    responseLatencyMs: latency,
    forwardLatencyMs: witnessed?.forwardLatency ?? null,
    server:
      server === null
        ? null
        : {
            cpuPercent: percentOf(server.cpuMs, server.wallMs),
            cpuMicrosPerFrame: perFrame(server.cpuMs, windowFrames),
            rssMiB: server.rssBytes === null ? null : server.rssBytes / 2 ** 20,
            memoryPerCallKiB: memoryPerCallKiB(server, m.open.opened),
            processes: server.processes,
            crashLines: server.crashLines,
            firstCrashLine: server.firstCrashLine,
          },
    generator: {
      workers: windows.length,
      cpuPercent: percentOf(generatorCpu, wallMs),
      cpuMicrosPerFrame: perFrame(generatorCpu, windowFrames),
      sendSlipMs: slip,
      eventLoopDelayP99Ms: generatorLag,
      utilization,
      saturated: generatorSaturated,
    },
    modelProcess:
      m.modelThread === null
        ? null
        : { cpuPercent: percentOf(m.modelThread.cpuMs, m.modelThread.wallMs), cpuMicrosPerFrame: perFrame(m.modelThread.cpuMs, windowFrames), eventLoopDelayP99Ms: modelLag, saturated: modelSaturated },
    machine: m.machine === null ? null : { busyPercent: m.machine.busyPercent, otherPercent: Math.max(0, m.machine.busyPercent - m.machine.irqPercent - m.machine.oursPercent - m.machine.serverPercent) },
  };
}

const LIMITED_BY: Record<Exclude<StepVerdict, 'pass'>, LoadCapacity['limitedBy']> = { fail: 'server', 'generator-saturated': 'generator', 'model-saturated': 'model' };

/** The largest passing step below the smallest one that did not pass. */
export function capacityOf(steps: readonly LoadStep[], interrupted: boolean): LoadCapacity {
  const notPassing = steps.filter((s) => s.verdict !== 'pass').sort((a, b) => a.calls - b.calls)[0] ?? null;
  const passing = steps.filter((s) => s.verdict === 'pass' && (notPassing === null || s.calls < notPassing.calls));
  const calls = passing.length === 0 ? null : Math.max(...passing.map((s) => s.calls));
  if (notPassing === null) return { calls, limitedBy: interrupted ? 'interrupted' : 'steps', firstFailure: null };
  return { calls, limitedBy: LIMITED_BY[notPassing.verdict as Exclude<StepVerdict, 'pass'>], firstFailure: { calls: notPassing.calls, verdict: notPassing.verdict, reasons: notPassing.reasons } };
}

/** The next step that halves the interval between the last pass and the first failure; null when it is too narrow. */
export function refinementStep(steps: readonly LoadStep[]): number | null {
  const capacity = capacityOf(steps, false);
  if (capacity.firstFailure === null) return null;
  const low = capacity.calls ?? 0;
  const high = capacity.firstFailure.calls;
  const span = high - low;
  const grain = span >= 40 ? 10 : span >= 20 ? 5 : 1;
  const mid = Math.round((low + high) / 2 / grain) * grain;
  return mid > low && mid < high ? mid : null;
}
