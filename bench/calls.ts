// `npm run bench`: how many live calls one machine carries without the caller hearing it.
//
// Everything on loopback, each role in its own process so CPU is measured per role:
//   load client (Twilio side, N real-time calls)  ->  media server  ->  model simulator
// and, at every N, the same client against a bare `ws` echo server (the baseline), so the
// server's CPU per frame is reported as a ratio that survives a noisy machine. Then a burst
// mode (pacing off) for raw frames/s. Results: a table on stdout and bench/results/latest.json.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { styleFor } from '../src/text/style.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { BaselineWindowStats } from './baseline-server.js';
import type { BurstArgs, CallResult, ClientWindowStats, JitterMode, OpenResult, RealtimeArgs, StopResult } from './load-client.js';
import type { ServerStartArgs, ServerWindowStats } from './server-process.js';
import { REPO_ROOT, RpcClient, loadCallAudio, monoMicros, type ProcWindowStats, type Summary } from './shared.js';
import type { SimulatorWindowStats } from './simulator-process.js';
import { parseIntegerOption, parsePositiveNumberOption } from '../src/cli/options.js';

// ---- options --------------------------------------------------------------------------------

interface BenchOptions {
  steps: number[];
  holdS: number;
  settleS: number;
  rampMs: number | null;
  answerMs: number;
  padSilenceMs: number;
  baseline: boolean;
  burst: boolean;
  realtime: boolean;
  burstCalls: number;
  burstInflight: number;
  burstS: number;
  budgetS: number;
  out: string;
  profileDir: string | null;
  quick: boolean;
  modelBatchFrames: number;
  /** Where the model simulator runs: inside the server process (as `callsim serve` ships) or its own. */
  simulator: SimulatorPlacement;
}

/** The bench prints its progress and tables on stdout. */
const style = styleFor(process.stdout);

type SimulatorPlacement = 'embedded' | 'process';
const SIMULATOR_TEXT: Record<SimulatorPlacement, string> = {
  embedded: 'callsim serve with its embedded model simulator (server CPU includes the model)',
  process: 'media server | model simulator (its own process; server CPU excludes it)',
};

// Fine steps where this 2-core machine tops out, coarse beyond; the ramp stops at the first failure.
const DEFAULT_STEPS = [50, 100, 150, 200, 250, 300, 400, 500, 700, 1000, 1300, 1600, 2000];
/** A failing step is run again once when other processes took more than this (% of a core). */
const NOISE_RETRY_PERCENT = 20;
/** Machine CPU (% of a core) below which it counts as idle before a step starts. */
const QUIET_PERCENT = 15;
const QUIET_WAIT_MS = 15_000;
const JITTER_LIMIT_MS = 20;

function parseOptions(argv: string[]): BenchOptions {
  const list = (v: string): number[] => v.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--steps: "${x}" is not a positive integer`);
    return n;
  });
  const num = parsePositiveNumberOption;
  const program = new Command('bench')
    .description('ramp concurrent real-time calls through callsim serve until the caller would hear it')
    .addOption(new Option('--steps <list>', 'concurrent calls per step, comma-separated').argParser(list))
    .addOption(new Option('--hold <s>', 'steady-state seconds measured per step').argParser(num('--hold')))
    .addOption(new Option('--settle <s>', 'seconds between the end of the ramp and the measurement').argParser(num('--settle')))
    .addOption(new Option('--ramp <ms>', 'ramp-up time per step (default 2-3 s, by N)').argParser(num('--ramp')))
    .addOption(new Option('--answer-ms <ms>', 'length of each simulated model answer').default(1200).argParser(num('--answer-ms')))
    .addOption(
      new Option('--simulator <where>', 'embedded: the model simulator inside the server process, as callsim serve runs it (server CPU includes the model); process: in its own process (server CPU excludes it)')
        .choices(['embedded', 'process'])
        .default('embedded'),
    )
    .addOption(new Option('--model-batch-frames <n>', 'serve --model-batch-frames: caller frames per append to the model').default(1).argParser(parseIntegerOption('--model-batch-frames', 1, 10)))
    .option('--quick', 'short run: steps 50,100, 4 s hold, 2 s burst')
    .option('--no-baseline', 'skip the bare ws baseline')
    .option('--no-burst', 'skip burst (unpaced) mode')
    .option('--no-realtime', 'skip the real-time steps (burst only)')
    .addOption(new Option('--burst-calls <n>', 'connections in burst mode').default(50).argParser(num('--burst-calls')))
    .addOption(new Option('--burst-inflight <n>', 'frames per connection sent but not yet read by the server (acknowledged by ping/pong)').default(32).argParser(num('--burst-inflight')))
    .addOption(new Option('--burst-seconds <s>', 'measured seconds of burst mode').argParser(num('--burst-seconds')))
    .addOption(new Option('--budget <s>', 'stop ramping when the next step would end past this').default(480).argParser(num('--budget')))
    .option('--out <file>', 'results JSON (default: bench/results/latest.json for a full default run, partial.json otherwise)')
    .option('--profile <dir>', 'run the children under node --cpu-prof, profiles written to <dir>')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    steps?: number[]; hold?: number; settle?: number; ramp?: number; answerMs: number; quick?: boolean; baseline: boolean; burst: boolean; realtime: boolean;
    burstCalls: number; burstInflight: number; burstSeconds?: number; budget: number; out?: string; profile?: string; modelBatchFrames: number;
    simulator: SimulatorPlacement;
  }>();
  const quick = o.quick === true;
  // Only a full default run replaces the committed results; anything else goes beside them.
  const full = !quick && o.steps === undefined && o.hold === undefined && o.settle === undefined && o.ramp === undefined && o.burstSeconds === undefined &&
    o.baseline && o.burst && o.realtime && o.profile === undefined && o.modelBatchFrames === 1 && o.simulator === 'embedded';
  const out = o.out ?? path.join(REPO_ROOT, 'bench', 'results', full ? 'latest.json' : 'partial.json');
  return {
    steps: o.steps ?? (quick ? [50, 100] : DEFAULT_STEPS),
    holdS: o.hold ?? (quick ? 4 : 12),
    settleS: o.settle ?? (quick ? 1 : 2),
    rampMs: o.ramp ?? null,
    answerMs: o.answerMs,
    modelBatchFrames: o.modelBatchFrames,
    simulator: o.simulator,
    // The answer (plus its turn-end and forwarding delay) fits in the caller's silence: no barge-in.
    padSilenceMs: 1000,
    baseline: o.baseline,
    burst: o.burst,
    realtime: o.realtime,
    burstCalls: Math.round(o.burstCalls),
    burstInflight: Math.round(o.burstInflight),
    burstS: o.burstSeconds ?? (quick ? 2 : 5),
    budgetS: o.budget,
    out: path.resolve(out),
    profileDir: o.profile ? path.resolve(o.profile) : null,
    quick,
  };
}

// ---- children -------------------------------------------------------------------------------

type Role = 'server' | 'simulator' | 'baseline' | 'client';
const ENTRY: Record<Role, string> = {
  server: 'server-process.js',
  simulator: 'simulator-process.js',
  baseline: 'baseline-server.js',
  client: 'load-client.js',
};

const here = path.dirname(fileURLToPath(import.meta.url));
const children = new Set<ChildProcess>();

function spawnRole(role: Role, opts: BenchOptions, tag: string): RpcClient {
  const execArgv = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`, `--cpu-prof-name=${role}-${tag}.cpuprofile`] : [];
  const child = fork(path.join(here, ENTRY[role]), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new RpcClient(child, role);
}

async function shutdown(rpc: RpcClient | null): Promise<void> {
  if (rpc === null || rpc.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => rpc.child.once('exit', () => resolve()));
  await rpc.call('exit', undefined, 10_000).catch(() => undefined);
  const timer = setTimeout(() => rpc.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ---- results --------------------------------------------------------------------------------

type ServerKind = 'media' | 'baseline';

interface LostDetail {
  /** Calls whose client and server counters were compared. */
  callsChecked: number;
  /** Sum over calls of |frames the client sent - audioInChunks|. */
  inbound: number;
  /** Sum over calls of |audioOutChunks - frames the client received|. */
  outbound: number;
  missingCalls: number;
  closeTimeouts: number;
}

interface ProcReport {
  cpuPercent: number;
  cpuMs: number;
  /** Of cpuMs, the share spent in the kernel (socket syscalls, mostly). */
  kernelShare: number;
  rssMiB: number;
  eventLoopLagP99Ms: number;
}

interface StepResult {
  kind: ServerKind;
  calls: number;
  opened: number;
  failedCalls: number;
  firstError: string | null;
  framesSent: number;
  framesReceived: number;
  /** Inbound and outbound frames whose counts disagree between client and server, plus calls missing on GET /calls. */
  framesLost: number;
  lostDetail: LostDetail;
  serverCallErrors: number;
  marksEchoed: number;
  clears: number;
  jitterMs: Summary;
  underruns: number;
  /** Client send -> model append, media server only. */
  forwardLatencyMs: Summary | null;
  windowS: number;
  server: ProcReport & {
    cpuSecPerCallMinute: number;
    rssPerCallKiB: number;
    cpuMicrosPerFrame: number;
    framesIn: number;
    framesOut: number;
  };
  simulator: ProcReport | null;
  client: ProcReport;
  machine: MachineCpu | null;
  pass: boolean;
  failReason: string | null;
}

interface StepRecord {
  /** null on the steps past the media server's failure that only find the baseline's own ceiling. */
  media: StepResult | null;
  baseline: StepResult | null;
  /** A failed first run discarded because other processes were busy during it. */
  firstAttempt?: StepResult;
}

function reportMedia(media: StepResult): void {
  progress(
    `N=${media.calls} media server: ${media.pass ? style.green('pass') : style.red('FAIL ' + (media.failReason ?? ''))}; jitter p99 ${f1(media.jitterMs.p99)} ms, lost ${media.framesLost}, ` +
      `fwd p99 ${media.forwardLatencyMs ? f1(media.forwardLatencyMs.p99) : '–'} ms, server ${int(media.server.cpuPercent)}% CPU, ${f1(media.server.cpuMicrosPerFrame)} µs/frame, ` +
      `client lag p99 ${f1(media.client.eventLoopLagP99Ms)} ms, other processes ${media.machine ? int(media.machine.otherPercent) : '?'}%`,
  );
}

interface BurstResult {
  kind: ServerKind;
  connections: number;
  framesPerSecond: number;
  cpuMicrosPerFrame: number;
  serverCpuPercent: number;
  clientCpuPercent: number;
  simulatorCpuPercent: number | null;
  framesSent: number;
  machine: MachineCpu | null;
  framesLost: number;
  lostDetail: LostDetail;
  windowS: number;
}

function reportBaseline(b: StepResult): void {
  progress(
    `N=${b.calls} baseline: jitter p99 ${f1(b.jitterMs.p99)} ms, lost ${b.framesLost}, server ${int(b.server.cpuPercent)}% CPU, ` +
      `${f1(b.server.cpuMicrosPerFrame)} µs/frame, client ${int(b.client.cpuPercent)}% CPU, client lag p99 ${f1(b.client.eventLoopLagP99Ms)} ms` +
      (b.pass ? '' : style.yellow(` (${b.failReason ?? 'fail'})`)),
  );
}

function procReport(p: ProcWindowStats): ProcReport {
  return { cpuPercent: (p.cpuMs / p.wallMs) * 100, cpuMs: p.cpuMs, kernelShare: p.cpuMs > 0 ? p.cpuSystemMs / p.cpuMs : 0, rssMiB: p.rssBytes / 2 ** 20, eventLoopLagP99Ms: p.eldP99Ms };
}

interface ServerCallsBody {
  calls: Array<{ callSid: string | null; counters: { audioInChunks: number; audioOutChunks: number }; errors: unknown[] }>;
}

/** Client and server must agree on every call's frame counts, exactly. */
async function checkCounters(httpUrl: string, stop: StopResult): Promise<{ callsChecked: number; inbound: number; outbound: number; missingCalls: number; serverErrors: number }> {
  const res = await fetch(`${httpUrl}/calls`);
  const body = (await res.json()) as ServerCallsBody;
  const bySid = new Map<string, ServerCallsBody['calls'][number]>();
  let serverErrors = 0;
  for (const c of body.calls) {
    if (c.callSid !== null) bySid.set(c.callSid, c);
    serverErrors += c.errors.length;
  }
  let inbound = 0;
  let outbound = 0;
  let missingCalls = 0;
  let callsChecked = 0;
  for (const r of stop.calls) {
    const s = bySid.get(r.callSid);
    if (s === undefined) {
      if (r.sent > 0 || r.received > 0) missingCalls += 1;
      continue;
    }
    callsChecked += 1;
    inbound += Math.abs(r.sent - s.counters.audioInChunks);
    outbound += Math.abs(s.counters.audioOutChunks - r.received);
  }
  return { callsChecked, inbound, outbound, missingCalls, serverErrors };
}

// ---- machine CPU ----------------------------------------------------------------------------
// Other engineers' test runs share this machine: each window also records what the whole
// machine did, so a result taken while something else was busy says so.

interface CpuTimes {
  total: number;
  idle: number;
  softirq: number;
}

function readCpuTimes(): CpuTimes | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 7 || f.some((v) => !Number.isFinite(v))) return null;
    // user nice system idle iowait irq softirq steal ...
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), idle: f[3]! + f[4]!, softirq: f[5]! + f[6]! };
  } catch {
    return null;
  }
}

interface MachineCpu {
  /** Whole machine, in % of one core (so 2 cores = 200). */
  busyPercent: number;
  /** Interrupt and softirq time: on loopback that is mostly our own packets. */
  irqPercent: number;
  /** The bench's processes (server, simulator, client). */
  oursPercent: number;
  /** The rest: other processes on the machine (noise). */
  otherPercent: number;
}

function machineCpu(a: CpuTimes | null, b: CpuTimes | null, oursPercent: number): MachineCpu | null {
  if (a === null || b === null || b.total <= a.total) return null;
  const cores = os.availableParallelism();
  const dt = b.total - a.total;
  const busyPercent = ((dt - (b.idle - a.idle)) / dt) * 100 * cores;
  const irqPercent = ((b.softirq - a.softirq) / dt) * 100 * cores;
  return { busyPercent, irqPercent, oursPercent, otherPercent: Math.max(0, busyPercent - irqPercent - oursPercent) };
}

/** Before a step: wait (bounded) until the machine is idle, since nothing of ours runs yet. */
async function waitForQuiet(label: string, maxWaitMs: number): Promise<void> {
  const t = performance.now();
  let warned = false;
  for (;;) {
    const a = readCpuTimes();
    await sleep(500);
    const m = machineCpu(a, readCpuTimes(), 0);
    if (m === null || m.busyPercent < QUIET_PERCENT) return;
    if (performance.now() - t > maxWaitMs) {
      progress(style.yellow(`${label}: machine still ${int(m.busyPercent)}% busy with other work after ${Math.round(maxWaitMs / 1000)} s; going ahead`));
      return;
    }
    if (!warned) progress(style.dim(`${label}: waiting for other work to finish (machine ${int(m.busyPercent)}% busy)`));
    warned = true;
  }
}

// ---- steps ----------------------------------------------------------------------------------

const t0 = performance.now();
const elapsed = (): number => (performance.now() - t0) / 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function progress(text: string): void {
  process.stdout.write(style.dim(`[${elapsed().toFixed(1).padStart(6)} s] `) + text + '\n');
}

interface Rig {
  client: RpcClient;
  server: RpcClient;
  simulator: RpcClient | null;
  wsUrl: string;
  httpUrl: string;
  epochMicros: number;
}

async function startRig(kind: ServerKind, opts: BenchOptions, tag: string): Promise<Rig> {
  const epochMicros = monoMicros();
  let simulator: RpcClient | null = null;
  let server: RpcClient;
  let urls: { wsUrl: string; httpUrl: string };
  if (kind === 'media') {
    let simulatorUrl: string | null = null;
    if (opts.simulator === 'process') {
      simulator = spawnRole('simulator', opts, tag);
      ({ baseURL: simulatorUrl } = await simulator.call<{ baseURL: string }>('start', { answerMs: opts.answerMs, epochMicros }));
    }
    server = spawnRole('server', opts, tag);
    const args: ServerStartArgs = { simulatorUrl, answerMs: opts.answerMs, epochMicros, modelAppendFrames: opts.modelBatchFrames };
    urls = await server.call<{ wsUrl: string; httpUrl: string }>('start', args);
  } else {
    server = spawnRole('baseline', opts, tag);
    urls = await server.call<{ wsUrl: string; httpUrl: string }>('start');
  }
  const client = spawnRole('client', opts, tag);
  return { client, server, simulator, ...urls, epochMicros };
}

async function stopRig(rig: Rig): Promise<void> {
  await Promise.all([shutdown(rig.client), shutdown(rig.server), shutdown(rig.simulator)]);
}

function rampFor(n: number, opts: BenchOptions): number {
  return opts.rampMs ?? Math.min(3000, Math.max(2000, n * 2));
}

/** One measured window: every process's own numbers plus the machine's, over `seconds`. */
async function measureWindow(rig: Rig, seconds: number): Promise<{
  srv: ServerWindowStats | BaselineWindowStats;
  sim: SimulatorWindowStats | null;
  cli: ClientWindowStats;
  machine: MachineCpu | null;
}> {
  await Promise.all([rig.server.call('windowStart'), rig.simulator?.call('windowStart'), rig.client.call('windowStart')]);
  const cpuA = readCpuTimes();
  await sleep(seconds * 1000);
  const cpuB = readCpuTimes();
  const [srv, sim, cli] = await Promise.all([
    rig.server.call<ServerWindowStats | BaselineWindowStats>('windowEnd'),
    rig.simulator?.call<SimulatorWindowStats>('windowEnd') ?? Promise.resolve(null),
    rig.client.call<ClientWindowStats>('windowEnd'),
  ]);
  const ours = [srv, sim, cli.proc].reduce((a, p) => a + (p ? (p.cpuMs / p.wallMs) * 100 : 0), 0);
  return { srv, sim, cli, machine: machineCpu(cpuA, cpuB, ours) };
}

async function runStep(kind: ServerKind, n: number, opts: BenchOptions): Promise<StepResult> {
  await waitForQuiet(`N=${n} ${kind}`, QUIET_WAIT_MS);
  const rig = await startRig(kind, opts, `${kind}-n${n}`);
  try {
    const label = `N=${n} ${kind === 'media' ? 'media server' : 'baseline'}`;
    const rampMs = rampFor(n, opts);
    progress(`${label}: ramping ${n} calls over ${(rampMs / 1000).toFixed(1)} s`);
    const args: RealtimeArgs = {
      wsUrl: rig.wsUrl,
      calls: n,
      rampMs,
      epochMicros: rig.epochMicros,
      jitter: (kind === 'media' ? 'marks' : 'continuous') satisfies JitterMode,
      padSilenceMs: opts.padSilenceMs,
      connectTimeoutMs: 15_000,
    };
    const open = await rig.client.call<OpenResult>('realtime', args);
    if (open.failed > 0) progress(style.yellow(`${label}: ${open.failed} calls failed to open (${open.firstError ?? '?'})`));
    await sleep(opts.settleS * 1000);
    progress(`${label}: ${open.opened} calls open; measuring ${opts.holdS} s of steady state`);
    const { srv, sim, cli, machine } = await measureWindow(rig, opts.holdS);
    const stop = await rig.client.call<StopResult>('stop', undefined, 60_000);
    const check = await checkCounters(rig.httpUrl, stop);
    return summarise(kind, n, open, srv, sim, cli, stop, check, machine);
  } finally {
    await stopRig(rig);
  }
}

function summarise(
  kind: ServerKind,
  n: number,
  open: OpenResult,
  srv: ServerWindowStats | BaselineWindowStats,
  sim: SimulatorWindowStats | null,
  cli: ClientWindowStats,
  stop: StopResult,
  check: Awaited<ReturnType<typeof checkCounters>>,
  machine: MachineCpu | null,
): StepResult {
  const sum = (f: (c: CallResult) => number): number => stop.calls.reduce((a, c) => a + f(c), 0);
  const failedCalls = stop.calls.filter((c) => c.state !== 'closed' || c.error !== null).length;
  const framesLost = check.inbound + check.outbound + check.missingCalls + stop.closeTimeouts;
  const windowS = srv.wallMs / 1000;
  const jitterOk = cli.jitterMs.p99 < JITTER_LIMIT_MS;
  const reasons: string[] = [];
  if (failedCalls > 0) reasons.push(`${failedCalls} calls failed (${stop.calls.find((c) => c.error !== null)?.error ?? 'state'})`);
  if (framesLost > 0) reasons.push(`${framesLost} frames lost`);
  if (!jitterOk) reasons.push(`p99 jitter ${cli.jitterMs.p99.toFixed(1)} ms`);
  if (cli.jitterMs.count === 0) reasons.push('no outbound audio measured');
  const pass = reasons.length === 0;
  return {
    kind,
    calls: n,
    opened: open.opened,
    failedCalls,
    firstError: open.firstError ?? stop.calls.find((c) => c.error !== null)?.error ?? null,
    framesSent: sum((c) => c.sent),
    framesReceived: sum((c) => c.received),
    framesLost,
    lostDetail: { callsChecked: check.callsChecked, inbound: check.inbound, outbound: check.outbound, missingCalls: check.missingCalls, closeTimeouts: stop.closeTimeouts },
    serverCallErrors: check.serverErrors,
    marksEchoed: sum((c) => c.marksEchoed),
    clears: sum((c) => c.clears),
    jitterMs: cli.jitterMs,
    underruns: cli.underruns,
    forwardLatencyMs: sim?.forwardLatencyMs ?? ('probe' in srv ? srv.probe?.forwardLatencyMs : null) ?? null,
    windowS,
    server: {
      ...procReport(srv),
      cpuSecPerCallMinute: srv.cpuMs / 1000 / (n * (windowS / 60)),
      rssPerCallKiB: (srv.rssBytes - srv.rssIdleBytes) / n / 1024,
      cpuMicrosPerFrame: srv.framesIn > 0 ? (srv.cpuMs * 1000) / srv.framesIn : 0,
      framesIn: srv.framesIn,
      framesOut: srv.framesOut,
    },
    simulator: sim ? procReport(sim) : null,
    client: procReport(cli.proc),
    machine,
    pass,
    failReason: pass ? null : reasons.join('; '),
  };
}

async function runBurst(kind: ServerKind, opts: BenchOptions): Promise<BurstResult> {
  await waitForQuiet(`burst ${kind}`, QUIET_WAIT_MS);
  const rig = await startRig(kind, opts, `${kind}-burst`);
  try {
    const label = `burst ${kind === 'media' ? 'media server' : 'baseline'}`;
    progress(`${label}: ${opts.burstCalls} connections, unpaced, ≤${opts.burstInflight} frames in flight each`);
    const args: BurstArgs = {
      wsUrl: rig.wsUrl,
      calls: opts.burstCalls,
      inflight: opts.burstInflight,
      warmupMs: 1500,
      epochMicros: rig.epochMicros,
      padSilenceMs: opts.padSilenceMs,
      connectTimeoutMs: 15_000,
    };
    await rig.client.call<OpenResult>('burst', args);
    await sleep(1000);
    const { srv, sim, cli, machine } = await measureWindow(rig, opts.burstS);
    const stop = await rig.client.call<StopResult>('stop', undefined, 60_000);
    const check = await checkCounters(rig.httpUrl, stop);
    const result: BurstResult = {
      kind,
      connections: opts.burstCalls,
      framesPerSecond: srv.framesIn / (srv.wallMs / 1000),
      cpuMicrosPerFrame: srv.framesIn > 0 ? (srv.cpuMs * 1000) / srv.framesIn : 0,
      serverCpuPercent: (srv.cpuMs / srv.wallMs) * 100,
      clientCpuPercent: (cli.proc.cpuMs / cli.proc.wallMs) * 100,
      simulatorCpuPercent: sim ? (sim.cpuMs / sim.wallMs) * 100 : null,
      framesSent: stop.calls.reduce((a, c) => a + c.sent, 0),
      machine,
      framesLost: check.inbound + check.outbound + check.missingCalls + stop.closeTimeouts,
      lostDetail: { callsChecked: check.callsChecked, inbound: check.inbound, outbound: check.outbound, missingCalls: check.missingCalls, closeTimeouts: stop.closeTimeouts },
      windowS: srv.wallMs / 1000,
    };
    progress(`${label}: ${Math.round(result.framesPerSecond).toLocaleString('en-US')} frames/s, ${result.cpuMicrosPerFrame.toFixed(1)} µs CPU/frame, lost ${result.framesLost}` +
        (result.framesLost > 0 ? ` (${JSON.stringify(result.lostDetail)}; stop took ${(stop.elapsedMs / 1000).toFixed(1)} s)` : ''));
    return result;
  } finally {
    await stopRig(rig);
  }
}

// ---- output ---------------------------------------------------------------------------------

const f1 = (v: number): string => v.toFixed(1);
const int = (v: number): string => Math.round(v).toLocaleString('en-US');

function table(headers: string[], rows: string[][], right: boolean[]): string {
  // Column widths ignore colour codes.
  const plain = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '');
  const widths = headers.map((h, i) => Math.max(plain(h).length, ...rows.map((r) => plain(r[i] ?? '').length)));
  const cell = (s: string, i: number): string => {
    const pad = ' '.repeat(widths[i]! - plain(s).length);
    return right[i] ? pad + s : s + pad;
  };
  const line = (r: string[]): string => r.map(cell).join('  ');
  return [style.bold(line(headers)), style.dim(widths.map((w) => '─'.repeat(w)).join('  ')), ...rows.map(line)].join('\n');
}

function noise(m: MachineCpu | null): string {
  if (m === null) return '–';
  const text = int(m.otherPercent);
  return m.otherPercent > NOISE_RETRY_PERCENT ? style.yellow(text) : text;
}

function realtimeTable(steps: StepRecord[]): string {
  const headers = ['N', 'server', 'frames sent', 'recv', 'lost', 'jit p50', 'p99', 'max', 'gaps', 'fwd p50', 'p99', 'CPU s/call-min', 'RSS/call', 'ELD p99', 'µs/frame', 'vs base', 'srv/sim/cli CPU%', 'other%', 'result'];
  const rows: string[][] = [];
  for (const { media, baseline } of steps) {
    for (const r of [media, baseline]) {
      if (r === null) continue;
      const ratio = r.kind === 'media' && baseline ? r.server.cpuMicrosPerFrame / baseline.server.cpuMicrosPerFrame : null;
      rows.push([
        r.kind === 'media' || media === null ? String(r.calls) : '',
        r.kind === 'media' ? 'callsim' : style.dim('bare ws'),
        int(r.framesSent),
        int(r.framesReceived),
        r.framesLost === 0 && r.failedCalls === 0 ? '0' : style.red(`${int(r.framesLost)}${r.failedCalls ? ` (${r.failedCalls} calls)` : ''}`),
        f1(r.jitterMs.p50),
        (r.jitterMs.p99 < JITTER_LIMIT_MS ? style.green : style.red)(f1(r.jitterMs.p99)),
        f1(r.jitterMs.max),
        r.kind === 'media' ? int(r.underruns) : '–',
        r.forwardLatencyMs ? f1(r.forwardLatencyMs.p50) : '–',
        r.forwardLatencyMs ? f1(r.forwardLatencyMs.p99) : '–',
        r.server.cpuSecPerCallMinute.toFixed(3),
        `${f1(r.server.rssPerCallKiB)} KiB`,
        f1(r.server.eventLoopLagP99Ms),
        f1(r.server.cpuMicrosPerFrame),
        ratio === null ? '' : (ratio <= 1.5 ? style.green : style.yellow)(`${ratio.toFixed(2)}×`),
        `${int(r.server.cpuPercent)}/${r.simulator ? int(r.simulator.cpuPercent) : '–'}/${int(r.client.cpuPercent)}`,
        noise(r.machine),
        r.kind === 'media' ? (r.pass ? style.green('pass') : style.red('FAIL')) : r.pass ? style.dim('ok') : style.dim('fail'),
      ]);
    }
  }
  const right = headers.map((_, i) => i !== 1 && i !== headers.length - 1);
  return table(headers, rows, right);
}

function burstTable(burst: { media: BurstResult | null; baseline: BurstResult | null }): string {
  const headers = ['burst (pacing off)', 'conns', 'frames/s', 'µs CPU/frame', 'vs base', 'srv/sim/cli CPU%', 'other%', 'lost'];
  const rows: string[][] = [];
  for (const r of [burst.media, burst.baseline]) {
    if (r === null) continue;
    const ratio = r.kind === 'media' && burst.baseline ? r.cpuMicrosPerFrame / burst.baseline.cpuMicrosPerFrame : null;
    rows.push([
      r.kind === 'media' ? 'callsim' : style.dim('bare ws'),
      String(r.connections),
      int(r.framesPerSecond),
      f1(r.cpuMicrosPerFrame),
      ratio === null ? '' : `${ratio.toFixed(2)}×`,
      `${int(r.serverCpuPercent)}/${r.simulatorCpuPercent === null ? '–' : int(r.simulatorCpuPercent)}/${int(r.clientCpuPercent)}`,
      noise(r.machine),
      r.framesLost === 0 ? '0' : style.red(int(r.framesLost)),
    ]);
  }
  return table(headers, rows, headers.map((_, i) => i !== 0));
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cpus = os.cpus();
  const machine = {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
  const audio = loadCallAudio(opts.padSilenceMs);
  process.stdout.write(
    style.bold('callsim bench: concurrent real-time calls on one machine\n') +
      `  ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}, load avg ${machine.loadAverageAtStart.join(' ')}\n` +
      `  processes: load client | ${SIMULATOR_TEXT[opts.simulator]} | baseline: bare ws echo\n` +
      `  call audio: ${audio.name} (${audio.frames} frames); model answers ${opts.answerMs} ms per turn; ${opts.modelBatchFrames} caller frame(s) per model append\n` +
      `  steps ${opts.steps.join(', ')}; ramp 2-3 s, settle ${opts.settleS} s, hold ${opts.holdS} s; pass = 0 frames lost and p99 jitter < ${JITTER_LIMIT_MS} ms\n`,
  );
  if (opts.profileDir) {
    mkdirSync(opts.profileDir, { recursive: true });
    progress(`profiling children into ${opts.profileDir}`);
  }

  const steps: StepRecord[] = [];
  let stoppedBy: string | null = null;
  const burstReserveS = opts.burst ? 2 * (opts.burstS + 6) : 0;
  for (const n of opts.realtime ? opts.steps : []) {
    const stepS = (rampFor(n, opts) / 1000 + opts.settleS + opts.holdS + 5) * (opts.baseline ? 2 : 1);
    if (elapsed() + stepS + burstReserveS > opts.budgetS) {
      stoppedBy = `time budget (${opts.budgetS} s) reached before N=${n}`;
      progress(style.yellow(stoppedBy));
      break;
    }
    let media = await runStep('media', n, opts);
    reportMedia(media);
    let noiseRetry: StepResult | null = null;
    if (!media.pass && media.machine !== null && media.machine.otherPercent > NOISE_RETRY_PERCENT) {
      progress(style.yellow(`N=${n}: other processes used ${int(media.machine.otherPercent)}% of a core during the window; running the step once more`));
      noiseRetry = media;
      media = await runStep('media', n, opts);
      reportMedia(media);
    }
    let baseline: StepResult | null = null;
    if (opts.baseline) {
      baseline = await runStep('baseline', n, opts);
      reportBaseline(baseline);
    }
    steps.push({ media, baseline, ...(noiseRetry ? { firstAttempt: noiseRetry } : {}) });
    if (!media.pass) {
      stoppedBy = `first failing step N=${n}: ${media.failReason ?? ''}`;
      break;
    }
  }

  // The ceiling of the bare ws echo with the same client on this machine: the media server reads
  // the same frames and costs more CPU per frame than the echo (see "vs base"), so this is the
  // practical ceiling here. Ramped on past the media server's failure, baseline only, until the
  // baseline fails.
  const lastBaseline = steps[steps.length - 1]?.baseline ?? null;
  if (opts.baseline && stoppedBy !== null && lastBaseline?.pass) {
    for (const n of opts.steps.filter((s) => s > lastBaseline.calls)) {
      const stepS = rampFor(n, opts) / 1000 + opts.settleS + opts.holdS + 5;
      if (elapsed() + stepS + burstReserveS > opts.budgetS) {
        progress(style.yellow(`time budget (${opts.budgetS} s) reached before the baseline at N=${n}`));
        break;
      }
      const baseline = await runStep('baseline', n, opts);
      reportBaseline(baseline);
      steps.push({ media: null, baseline });
      if (!baseline.pass) break;
    }
  }

  const burst: { media: BurstResult | null; baseline: BurstResult | null } = { media: null, baseline: null };
  if (opts.burst) {
    burst.media = await runBurst('media', opts);
    if (opts.baseline) burst.baseline = await runBurst('baseline', opts);
  }

  const passing = steps.filter((s) => s.media?.pass === true);
  const best = passing[passing.length - 1] ?? null;
  const ratioAt = (s: StepRecord | null): number | null =>
    s?.media && s.baseline ? s.media.server.cpuMicrosPerFrame / s.baseline.server.cpuMicrosPerFrame : null;
  const baselineSteps = steps.map((s) => s.baseline).filter((b): b is StepResult => b !== null);
  const baselineFailure = baselineSteps.find((b) => !b.pass) ?? null;
  const baselineTop = baselineSteps.filter((b) => b.pass && (baselineFailure === null || b.calls < baselineFailure.calls)).at(-1) ?? null;
  // Per-frame CPU in the wake-up-bound regime swings between runs; the median over every step
  // is the steadier figure.
  const ratios = steps.map(ratioAt).filter((r): r is number => r !== null).sort((a, b) => a - b);
  const medianRatio = ratios.length === 0 ? null : ratios.length % 2 ? ratios[ratios.length >> 1]! : (ratios[ratios.length / 2 - 1]! + ratios[ratios.length / 2]!) / 2;
  const headline = {
    maxCalls: best?.media?.calls ?? 0,
    cpuRatioAtMax: ratioAt(best),
    cpuRatioMedian: medianRatio,
    burstCpuRatio: burst.media && burst.baseline ? burst.media.cpuMicrosPerFrame / burst.baseline.cpuMicrosPerFrame : null,
    stoppedBy: stoppedBy ?? 'all steps passed',
    /** The same client against the bare ws echo: the practical ceiling of this client on this machine. */
    baselineCeiling: {
      maxCalls: baselineTop?.calls ?? 0,
      // The echo's CPU per frame at its largest passing step, scaled to the target: the cores the
      // echo alone would need at 1000 calls × 50 frames/s.
      coresFor1000Calls: baselineTop ? (baselineTop.server.cpuMicrosPerFrame * 50 * 1000) / 1e6 : null,
      firstFailing: baselineFailure ? { calls: baselineFailure.calls, reason: baselineFailure.failReason, clientCpuPercent: baselineFailure.client.cpuPercent, serverCpuPercent: baselineFailure.server.cpuPercent } : null,
    },
    target: { calls: 1000, cpuRatio: 1.5 },
  };
  const totalS = elapsed();

  process.stdout.write('\n' + realtimeTable(steps) + '\n\n');
  if (burst.media || burst.baseline) process.stdout.write(burstTable(burst) + '\n\n');
  process.stdout.write(
    style.dim(
      'jit = lateness of each outbound frame after the previous one in the same answer: max(0, inter-arrival − audio length of the frame before);\n' +
        'gaps = frames that found the modelled Twilio playout buffer empty mid-answer; fwd = client send → model input_audio_buffer.append;\n' +
        'CPU s/call-min, µs/frame (per Twilio media frame in), RSS/call ((RSS − idle RSS) / N) and ELD (event-loop lag) are the server process;\n' +
        'CPU% = % of one core; other% = CPU the rest of the machine used meanwhile (other processes: noise), from /proc/stat.\n',
    ) + '\n',
  );
  const ratioText = headline.cpuRatioAtMax === null ? 'n/a' : `${headline.cpuRatioAtMax.toFixed(2)}×`;
  process.stdout.write(
    style.bold(`Headline: ${headline.maxCalls} concurrent real-time calls with p99 jitter < ${JITTER_LIMIT_MS} ms and zero frames lost`) +
      ` (server CPU/frame ${ratioText} the bare ws baseline there, median over steps ${medianRatio === null ? 'n/a' : `${medianRatio.toFixed(2)}×`}` +
      `${headline.burstCpuRatio !== null ? `; burst ${headline.burstCpuRatio.toFixed(2)}×` : ''}).\n` +
      `  stopped: ${headline.stoppedBy}\n` +
      (opts.baseline
        ? `  bare ws baseline, same client: ${headline.baselineCeiling.maxCalls} calls pass` +
          (baselineFailure
            ? `; fails at N=${baselineFailure.calls} (${baselineFailure.failReason ?? ''}; client ${int(baselineFailure.client.cpuPercent)}%, server ${int(baselineFailure.server.cpuPercent)}% of a core)\n`
            : ` (no failing baseline step was run)\n`) +
          // Scaled from the top of the echo's range only: per-frame cost falls as load rises.
          (baselineFailure !== null && headline.baselineCeiling.coresFor1000Calls !== null
            ? `  the bare echo alone at 1000 calls (50,000 frames/s) would need ${headline.baselineCeiling.coresFor1000Calls.toFixed(2)} cores of server CPU at its measured µs/frame\n`
            : '')
        : '') +
      `  target: ≥ 1000 calls and ≤ 1.5× baseline → ${headline.maxCalls >= 1000 ? style.green('calls met') : style.red('calls not met')}, ` +
      `${headline.cpuRatioAtMax !== null && headline.cpuRatioAtMax <= 1.5 ? style.green('CPU ratio met') : style.red('CPU ratio not met')}\n` +
      `  total time ${(totalS / 60).toFixed(1)} min (${totalS.toFixed(0)} s)\n`,
  );

  const results = {
    schema: 1,
    date: new Date().toISOString(),
    quick: opts.quick,
    machine,
    config: {
      steps: opts.steps,
      holdS: opts.holdS,
      settleS: opts.settleS,
      rampMs: opts.steps.map((n) => rampFor(n, opts)),
      answerMs: opts.answerMs,
      modelBatchFrames: opts.modelBatchFrames,
      callAudio: audio.name,
      jitterLimitMs: JITTER_LIMIT_MS,
      simulator: SIMULATOR_TEXT[opts.simulator],
      burst: { connections: opts.burstCalls, inflightPerConnection: opts.burstInflight, seconds: opts.burstS },
      profiled: opts.profileDir !== null,
    },
    headline,
    realtime: steps,
    burst,
    totalSeconds: Math.round(totalS * 10) / 10,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
  progress(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}${opts.profileDir ? `; profiles in ${opts.profileDir}` : ''}`);
}

main().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Commander already printed the usage problem (or the help).
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(style.red(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
