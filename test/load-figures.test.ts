// callsim load's rules, without sockets: what the caller hears of an answer (jitter, gaps,
// response latency) from arrival times alone, and which steps count toward the capacity.
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentAudioWindow, AnswerMeter } from '../src/load/answer-meter.js';
import { Histogram, newHistogram } from '../src/load/histogram.js';
import type { OpenResult, WorkerWindow } from '../src/load/protocol.js';
import { capacityOf, refinementStep, stepFigures, type StepMeasures } from '../src/load/step-figures.js';
import { stepNotes } from '../src/load/table.js';
import type { LoadStep, LoadThresholds } from '../src/load/types.js';

function meter(jitterBufferMs = 40): { meter: AnswerMeter; window: AgentAudioWindow } {
  const window = new AgentAudioWindow();
  window.start();
  return { meter: new AnswerMeter(window, jitterBufferMs), window };
}

describe('what the caller hears of an answer', () => {
  it('measures the response latency from the end of speech, and a paced answer as on time', () => {
    const { meter: m, window } = meter();
    m.turnEnded(1000);
    for (let i = 0; i < 50; i++) m.media(1520 + i * 20, 20);
    expect(window.turns).toBe(1);
    expect(window.answered).toBe(1);
    expect(window.latency.summary().p50).toBe(520);
    expect(window.jitter.summary()).toMatchObject({ count: 49, max: 0 });
    expect(window.gaps).toBe(0);
  });

  it('a stall mid-answer is jitter, and a gap once the playout buffer has run dry', () => {
    const { meter: m, window } = meter(40);
    m.turnEnded(0);
    m.media(500, 20);
    m.media(520, 20);
    m.media(540, 20);
    // The buffer holds 40 ms before it plays: audio lasts until 500 + 40 + 60 = 600.
    m.media(610, 20);
    expect(window.jitter.summary().max).toBeCloseTo(50, 5);
    expect(window.gaps).toBe(1);
    expect(window.gapMs).toBeCloseTo(10, 5);
  });

  it('the same stall is no gap when the server sent ahead (a 2x stream): late after its frame, not late for the caller', () => {
    const { meter: m, window } = meter(40);
    m.turnEnded(0);
    // 100 ms deltas every 50 ms, then one 80 ms late: still 10 ms early after the one before it.
    for (let i = 0; i < 6; i++) m.media(500 + i * 50, 100);
    m.media(500 + 5 * 50 + 90, 100);
    expect(window.jitter.summary().max).toBe(0);
    expect(window.gaps).toBe(0);
  });

  it('the silence between two answers is the caller speaking, not jitter', () => {
    const { meter: m, window } = meter();
    m.turnEnded(0);
    for (let i = 0; i < 10; i++) m.media(500 + i * 20, 20);
    m.turnEnded(3000);
    for (let i = 0; i < 10; i++) m.media(3600 + i * 20, 20);
    expect(window.jitter.summary()).toMatchObject({ count: 18, max: 0 });
    expect(window.gaps).toBe(0);
    // Percentiles are the upper edge of their 5 ms bin: conservative.
    expect(window.latency.summary()).toMatchObject({ count: 2, p50: 505, max: 600 });
  });

  it('a turn nobody answered is counted, and a greeting before any turn has no latency', () => {
    const { meter: m, window } = meter();
    for (let i = 0; i < 5; i++) m.media(100 + i * 20, 20);
    m.turnEnded(1000);
    m.turnEnded(4000);
    expect(window.turns).toBe(2);
    expect(window.answered).toBe(0);
    expect(window.latency.summary().p50).toBeNull();
  });

  it("after Twilio's clear the next frame starts a new answer", () => {
    const { meter: m, window } = meter();
    m.turnEnded(0);
    m.media(500, 20);
    m.clear(510);
    m.media(900, 20);
    expect(window.jitter.size).toBe(0);
    expect(window.gaps).toBe(0);
  });

  it('nothing is recorded while the window is closed', () => {
    const { meter: m, window } = meter();
    window.stop();
    m.turnEnded(0);
    m.media(500, 20);
    m.media(600, 20);
    expect(window.frames).toBe(0);
    expect(window.jitter.size).toBe(0);
    expect(window.latency.size).toBe(0);
  });
});

describe('histograms', () => {
  it('a histogram with no sample says null, never 0', () => {
    expect(new Histogram(1, 10).summary()).toEqual({ count: 0, mean: null, p50: null, p95: null, p99: null, max: null });
  });

  it('merges across workers', () => {
    const a = newHistogram('jitter');
    const b = newHistogram('jitter');
    for (let i = 0; i < 99; i++) a.record(1);
    b.record(30);
    a.merge(b.data());
    expect(a.summary()).toMatchObject({ count: 100, p50: 1.1, max: 30 });
    expect(a.percentile(100)).toBe(30);
  });
});

const THRESHOLDS: LoadThresholds = { jitterP99Ms: 20, gaps: 0, lostFrames: 0, failedCalls: 0, responseP95Ms: null };

function workerWindow(jitterMs: number[], slipMs = 1, frames = 1000): WorkerWindow {
  const jitter = newHistogram('jitter');
  for (const v of jitterMs) jitter.record(v);
  const slip = newHistogram('sendSlip');
  slip.recordMany(slipMs, frames);
  const latency = newHistogram('responseLatency');
  latency.record(520);
  return { wallMs: 5000, cpuMs: 500, utilization: 0.2, eventLoopDelayP99Ms: 1, framesSent: frames, framesDropped: 0, agentFrames: jitterMs.length, gaps: 0, gapMs: 0, turns: 2, answered: 2, jitter: jitter.data(), latency: latency.data(), slip: slip.data(), streamingCalls: 10 };
}

function measures(calls: number, window: WorkerWindow, overrides: Partial<StepMeasures> = {}): StepMeasures {
  const open: OpenResult = { opened: calls, failed: 0, fellBackToDirect: 0, firstError: null, notes: [] };
  return { calls, open, windows: [window], outcomes: [], serverCounts: null, model: null, server: null, modelThread: null, machine: null, ...overrides };
}

const judge = { thresholds: THRESHOLDS, generatorSlipMs: 10, cores: 2 };

describe('which steps count', () => {
  it('passes a step within every threshold', () => {
    const step = stepFigures(measures(50, workerWindow([1, 2, 3])), judge);
    expect(step.verdict).toBe('pass');
    expect(step.reasons).toEqual([]);
  });

  it('fails a step with p99 jitter at the limit, and one with no agent audio at all', () => {
    const late = stepFigures(measures(50, workerWindow([20])), judge);
    expect(late.verdict).toBe('fail');
    expect(late.reasons[0]).toMatch(/p99 jitter 20\.0 ms/);
    const silent = stepFigures(measures(50, workerWindow([])), judge);
    expect(silent.verdict).toBe('fail');
    expect(silent.reasons).toContain('no agent audio reached the caller during the window');
  });

  it('a step whose generator slipped is not claimed for the server, pass or fail', () => {
    const clean = stepFigures(measures(100, workerWindow([1], 12)), judge);
    expect(clean.verdict).toBe('generator-saturated');
    expect(clean.reasons[0]).toMatch(/the generator was saturated: its own timing slipped .* this step measured the caller, not the server/);
    const failing = stepFigures(measures(100, workerWindow([80], 12)), judge);
    expect(failing.verdict).toBe('generator-saturated');
    expect(capacityOf([stepFigures(measures(50, workerWindow([1])), judge), failing], false)).toMatchObject({ calls: 50, limitedBy: 'generator' });
  });

  it('counts lost frames from every leg it can see, and a model leg only when the server used the model', () => {
    const outcomes = [{ index: 0, callSid: 'CA1', direction: 'inbound' as const, placement: 'direct' as const, state: 'ended' as const, streamed: true, sent: 500, dropped: 3, unsent: 2, received: 100, marksReceived: 0, marksEchoed: 0, clears: 0, badMessages: 0, error: null }];
    const model = { sessions: 1, leftOpen: 0, framesAppended: 490, forwardLatency: null };
    const step = stepFigures(measures(1, workerWindow([1]), { outcomes, model, serverCounts: { notCounted: 1, agentLost: 4, unreported: 0 } }), judge);
    // Delivered 498, the server counted 497, the model got 490: 7 lost on the model leg.
    expect(step.callerFrames).toMatchObject({ sent: 500, discarded: 3, unsentAtHangUp: 2, notCountedByServer: 1, lostOnModelLeg: 7, lost: 13 });
    expect(step.agentAudio.lost).toBe(4);
    expect(step.verdict).toBe('fail');
    expect(step.serverUnreportedCalls).toBe(0);
    // Calls the server did not report are said, not passed over: their frames were checked against nothing.
    const forgotten = stepFigures(measures(1, workerWindow([1]), { outcomes, serverCounts: { notCounted: 0, agentLost: 0, unreported: 1 } }), judge);
    expect(forgotten.serverUnreportedCalls).toBe(1);
    expect(stepNotes(forgotten)).toContain('1 calls: the server did not report 1 of them on GET /calls/:callSid, so their frames were not checked against its counts');
    expect(stepFigures(measures(1, workerWindow([1]), { outcomes }), judge).serverUnreportedCalls).toBeNull();
    const noSessions = stepFigures(measures(1, workerWindow([1]), { outcomes, model: { ...model, sessions: 0, framesAppended: 0 } }), judge);
    expect(noSessions.callerFrames.lostOnModelLeg).toBeNull();
    expect(noSessions.model).toBeNull();
  });

  it('the capacity is the largest pass below the first step that did not pass', () => {
    const pass = (calls: number): LoadStep => stepFigures(measures(calls, workerWindow([1])), judge);
    const fail = (calls: number): LoadStep => stepFigures(measures(calls, workerWindow([50])), judge);
    expect(capacityOf([pass(25), pass(50), fail(100)], false)).toMatchObject({ calls: 50, limitedBy: 'server', firstFailure: { calls: 100, verdict: 'fail' } });
    expect(capacityOf([pass(25), pass(50)], false)).toMatchObject({ calls: 50, limitedBy: 'steps', firstFailure: null });
    expect(capacityOf([fail(25)], false)).toMatchObject({ calls: null, limitedBy: 'server' });
    expect(capacityOf([pass(25)], true)).toMatchObject({ calls: 25, limitedBy: 'interrupted' });
    // A refinement step that fails below an earlier pass moves the capacity down.
    expect(capacityOf([pass(25), pass(50), fail(100), pass(70), fail(60)], false)).toMatchObject({ calls: 50, firstFailure: { calls: 60 } });
    expect(refinementStep([pass(50), fail(100)])).toBe(80);
    expect(refinementStep([pass(50), fail(100), fail(80)])).toBe(65);
    expect(refinementStep([pass(10), fail(11)])).toBeNull();
  });
});

describe("a server command's process tree, from /proc", () => {
  it.runIf(process.platform === 'linux')('adds up the CPU of the shell and the server it started, and of a child that has exited', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const { sampleProcessTree, threadCpuMs } = await import('../src/load/proc.js');
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    // CPU-bound by work, not by wall time: a loaded machine stretches the wall time, not the CPU.
    const work = (millions: number): string => `${JSON.stringify(process.execPath)} -e "let x = 0; for (let i = 0; i < ${millions}e6; i++) x += i % 7; if (x < 0) console.log(x)"`;
    const calibrate = threadCpuMs();
    let x = 0;
    for (let i = 0; i < 100e6; i++) x += i % 7;
    const per100M = (threadCpuMs() ?? 0) - (calibrate ?? 0);
    expect(x).toBeGreaterThan(0);
    const marker = path.join(os.tmpdir(), `callsim-proc-${process.pid}`);
    // A shell (its own process group, as a server command's) that runs one child to its end, then
    // a long one in the background: by then the first one's CPU is the shell's reaped children's.
    const shell = spawn('sh', ['-c', `${work(100)}; touch ${marker}; ${work(3000)} & wait`], { detached: true, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
    try {
      while (!existsSync(marker)) await sleep(20);
      const a = sampleProcessTree(shell.pid!);
      await sleep(600);
      const b = sampleProcessTree(shell.pid!);
      expect(a?.processes).toBeGreaterThanOrEqual(2);
      expect(a?.rssBytes).toBeGreaterThan(0);
      // The first child, gone, still counts (/proc counts in 10 ms ticks).
      expect(a!.cpuMs).toBeGreaterThanOrEqual(per100M * 0.7);
      // The second child is running: the tree's CPU grows.
      expect(b!.cpuMs).toBeGreaterThan(a!.cpuMs);
    } finally {
      process.kill(-shell.pid!, 'SIGKILL');
      await exited;
      rmSync(marker, { force: true });
    }
  });
});

describe('how busy the machine was, from two /proc/stat readings', () => {
  it('in % of one core over all its CPUs, interrupts apart; null when a reading is missing or no time passed', async () => {
    const { machineBusyBetween } = await import('../src/load/proc.js');
    const cores = os.cpus().length;
    // A quarter of the machine's time busy, a tenth of it in interrupts.
    const busy = machineBusyBetween({ totalMs: 1000, idleMs: 500, irqMs: 10 }, { totalMs: 2000, idleMs: 1250, irqMs: 110 });
    expect(busy?.busyPercent).toBeCloseTo(25 * cores, 9);
    expect(busy?.irqPercent).toBeCloseTo(10 * cores, 9);
    expect(machineBusyBetween(null, { totalMs: 2000, idleMs: 1000, irqMs: 0 })).toBeNull();
    expect(machineBusyBetween({ totalMs: 2000, idleMs: 1000, irqMs: 0 }, null)).toBeNull();
    expect(machineBusyBetween({ totalMs: 2000, idleMs: 1000, irqMs: 0 }, { totalMs: 2000, idleMs: 1000, irqMs: 0 })).toBeNull();
  });
});

describe("the README's 'callsim load' columns", () => {
  it('name every column of the table the load prints, in its order', async () => {
    const { readFileSync } = await import('node:fs');
    const { LOAD_COLUMNS } = await import('../src/load/table.js');
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## callsim load'), readme.indexOf('\n## ', readme.indexOf('## callsim load') + 1));
    const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| column |'));
    const named = rows.flatMap((line) => line.split('|')[1]!.trim().split(', '));
    expect(named).toEqual([...LOAD_COLUMNS]);
  });
});
