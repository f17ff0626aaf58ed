// `npm run bench`: callsim serve beside its peers, in one run, on `callsim load`: the same
// generator, the same caller audio and the same model (the load's own realtime simulator) for
// every server that has one:
//   callsim serve                   the built-in server, its model the load's simulator
//   bare ws echo                    bench/peers/ws-echo.mjs: parse each frame, echo it; the floor of a Node server
//   fastify peer                    bench/peers/fastify-peer.mjs: the widely copied public Node sample, made honest
//   python peer                     bench/peers/python_peer.py: asyncio + websockets, one model connection per call
// Each is ramped until a step fails, then the interval is halved twice; the capacities are put
// side by side as ratios, and the server CPU per frame of callsim serve against the echo's at the
// same number of calls. Results: a table per server and bench/results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { styleFor } from '../src/text/style.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadOptions, runLoad } from '../src/load/ramp.js';
import { describeCapacity, formatLoadTable, stepLine } from '../src/load/table.js';
import type { LoadPlacementOptions, LoadResult, LoadStep } from '../src/load/types.js';
import type { LoadTargetSpec } from '../src/load/target.js';
import { packageRoot } from '../src/load/paths.js';

type PeerKey = 'callsim' | 'echo' | 'fastify' | 'python';

interface BenchServer {
  key: PeerKey;
  label: string;
  spec: LoadTargetSpec;
  placement: LoadPlacementOptions;
}

const ROOT = packageRoot();
const out = styleFor(process.stdout);
const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;
const peer = (file: string): string => quote(path.join(ROOT, 'bench', 'peers', file));
const READY_MS = 20_000;

/** The servers, their Node ones under `nodeArgs` (a profiler's flags, or none). */
const servers = (nodeArgs: readonly string[], serveArgs: readonly string[]): BenchServer[] => {
  const node = [process.execPath, ...nodeArgs].map(quote).join(' ');
  return [
    { key: 'callsim', label: 'callsim serve', spec: { kind: 'builtin', nodeArgs, serveArgs }, placement: {} },
    { key: 'echo', label: 'bare ws echo', spec: { kind: 'command', command: `${node} ${peer('ws-echo.mjs')} --port {port}`, wsPath: '/media', readyTimeoutMs: READY_MS }, placement: { webhook: null } },
    {
      key: 'fastify',
      label: 'fastify peer (the public Node sample)',
      spec: { kind: 'command', command: `${node} ${peer('fastify-peer.mjs')} --port {port}`, wsPath: '/media-stream', readyTimeoutMs: READY_MS },
      placement: { webhook: { path: '/incoming-call' } },
    },
    {
      key: 'python',
      label: 'python peer (asyncio + websockets)',
      spec: { kind: 'command', command: `/usr/bin/python3 ${peer('python_peer.py')} --port {port}`, wsPath: '/media-stream', readyTimeoutMs: READY_MS },
      placement: { webhook: { path: '/incoming-call' }, webhookMethod: 'GET' },
    },
  ];
};
const SERVER_KEYS: readonly PeerKey[] = ['callsim', 'echo', 'fastify', 'python'];

/** What the issue asks of callsim serve, as ratios from one run. */
const TARGETS = { vsEcho: 0.8, cpuRatio: 1.3, vsFastify: 2, vsPython: 4 } as const;

interface BenchOptions {
  steps: number[];
  holdS: number;
  refine: number;
  workers: number | null;
  only: PeerKey[];
  out: string;
  profileDir: string | null;
  /** More `callsim serve` options, to compare its settings (say --playout-chunk-frames 1) in one machine state. */
  serveArgs: string[];
  full: boolean;
}

const DEFAULT_STEPS = [50, 100, 200, 400, 800];
/** The bench must end within this; past it less a server's worth, the last servers are not refined. */
const BUDGET_S = 570;
const SERVER_RESERVE_S = 150;

function parseOptions(argv: string[]): BenchOptions {
  const list = (v: string): number[] =>
    v.split(',').map((x) => {
      const n = Number(x.trim());
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--steps: "${x}" is not a positive integer`);
      return n;
    });
  const keys = (v: string): PeerKey[] =>
    v.split(',').map((x) => {
      const key = x.trim() as PeerKey;
      if (!SERVER_KEYS.includes(key)) throw new InvalidArgumentError(`--only: "${x}" is not one of ${SERVER_KEYS.join(', ')}`);
      return key;
    });
  const program = new Command('bench')
    .description('callsim serve beside its peers: the calls each carries on this machine, as ratios from one run')
    .addOption(new Option('--steps <list>', `calls per step (default ${DEFAULT_STEPS.join(',')})`).argParser(list))
    .addOption(new Option('--hold <s>', 'seconds measured per step').default(6).argParser(Number))
    .addOption(new Option('--refine <n>', 'halvings of the interval after the first failing step').default(2).argParser(Number))
    .addOption(new Option('--workers <n>', 'generator threads (default: the cores)').argParser(Number))
    .option('--quick', 'steps 10,25, 3 s hold, no refinement')
    .addOption(new Option('--only <list>', 'only these servers: callsim,echo,fastify,python').argParser(keys))
    .option('--out <file>', 'results JSON (default: bench/results/latest.json for a full default run, partial.json otherwise)')
    .option('--serve-args <args>', 'more options for callsim serve, split on spaces (e.g. "--playout-chunk-frames 1"); not a full run')
    .option('--profile <dir>', 'run every Node server under --cpu-prof, profiles written to <dir> (see profile-summary.ts)')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{ steps?: number[]; hold: number; refine: number; workers?: number; quick?: boolean; only?: PeerKey[]; out?: string; profile?: string; serveArgs?: string }>();
  const quick = o.quick === true;
  const full = !quick && o.steps === undefined && o.hold === 6 && o.refine === 2 && o.only === undefined && o.profile === undefined && o.workers === undefined && o.serveArgs === undefined;
  return {
    steps: o.steps ?? (quick ? [10, 25] : DEFAULT_STEPS),
    holdS: quick ? 3 : o.hold,
    refine: quick ? 0 : o.refine,
    workers: o.workers ?? null,
    only: o.only ?? [...SERVER_KEYS],
    out: path.resolve(o.out ?? path.join(ROOT, 'bench', 'results', full ? 'latest.json' : 'partial.json')),
    profileDir: o.profile ? path.resolve(o.profile) : null,
    serveArgs: (o.serveArgs ?? '').split(' ').filter((a) => a.length > 0),
    full,
  };
}

const began = performance.now();
const elapsed = (): number => (performance.now() - began) / 1000;
function say(text: string): void {
  process.stdout.write(`${out.dim(`[${elapsed().toFixed(1).padStart(6)} s]`)} ${text}\n`);
}

const paint = (verdict: LoadStep['verdict'], text: string): string => (verdict === 'pass' ? out.green(text) : verdict === 'fail' ? out.red(text) : out.yellow(text));

async function ramp(server: BenchServer, steps: number[], opts: BenchOptions, refine: number): Promise<LoadResult> {
  return runLoad(
    loadOptions(server.spec, {
      steps,
      holdS: opts.holdS,
      refine,
      ...(opts.workers !== null ? { workers: opts.workers } : {}),
      placement: server.placement,
      // Other engineers' runs share this machine: wait for quiet, and run a failing step once more if it was busy.
      retryWhenBusy: true,
      quietWaitMs: 5000,
      onProgress: ({ text }) => say(`${out.bold(server.key)}: ${text}`),
      onStep: (step) => say(`${out.bold(server.key)}: ${paint(step.verdict, stepLine(step))}`),
    }),
  );
}

function stepAt(result: LoadResult | undefined, calls: number | null): LoadStep | null {
  if (result === undefined || calls === null) return null;
  return result.steps.filter((s) => s.calls === calls).at(-1) ?? null;
}

function cpuRatio(a: LoadStep | null, b: LoadStep | null): number | null {
  const x = a?.server?.cpuMicrosPerFrame ?? null;
  const y = b?.server?.cpuMicrosPerFrame ?? null;
  return x === null || y === null || y === 0 ? null : x / y;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  // Each Node server writes its profile when it exits (--cpu-prof is not allowed in NODE_OPTIONS).
  if (opts.profileDir !== null) mkdirSync(opts.profileDir, { recursive: true });
  const SERVERS = servers(opts.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`], opts.serveArgs);
  say(out.bold(`callsim bench: ${opts.only.join(', ')}; steps ${opts.steps.join(', ')}, hold ${opts.holdS} s, ${opts.refine} refinements; one generator and one model simulator for all`));
  const results = new Map<PeerKey, LoadResult>();
  for (const server of SERVERS.filter((s) => opts.only.includes(s.key))) {
    say(out.bold(`── ${server.label}`));
    // Near the end of the budget a server is still ramped, but its interval not halved.
    const refine = elapsed() > BUDGET_S - SERVER_RESERVE_S ? 0 : opts.refine;
    if (refine < opts.refine) say(out.yellow(`${server.key}: ${Math.round(elapsed())} s gone of a ${BUDGET_S} s budget: no refinement steps`));
    const result = await ramp(server, opts.steps, opts, refine);
    results.set(server.key, result);
    say(`${server.key}: ${describeCapacity(result.capacity)}`);
  }
  // The CPU ratio is taken at the same number of calls: the echo at callsim's capacity, measured if its ramp skipped it.
  const callsim = results.get('callsim');
  const echo = results.get('echo');
  const atMax = callsim?.capacity.calls ?? null;
  let echoAtMax = stepAt(echo, atMax);
  let echoExtra: LoadResult | null = null;
  if (echo !== undefined && atMax !== null && echoAtMax === null) {
    say(`echo: one more step at ${atMax} calls, callsim serve's capacity, for the CPU ratio`);
    echoExtra = await ramp(SERVERS.find((s) => s.key === 'echo')!, [atMax], opts, 0);
    echoAtMax = stepAt(echoExtra, atMax);
  }
  const common = (callsim?.steps ?? []).map((s) => cpuRatio(s, stepAt(echo, s.calls))).filter((r): r is number => r !== null);
  const capacity = (key: PeerKey): number | null => results.get(key)?.capacity.calls ?? null;
  const ratio = (key: PeerKey): number | null => {
    const mine = capacity('callsim');
    const theirs = capacity(key);
    return mine === null || theirs === null || theirs === 0 ? null : mine / theirs;
  };
  const peers = Object.fromEntries(
    (['echo', 'fastify', 'python'] as const)
      .filter((key) => results.has(key))
      .map((key) => {
        const r = results.get(key)!;
        // A capacity the generator or the model ended is a floor: the ratio against it is a ceiling.
        return [key, { capacity: r.capacity.calls, limitedBy: r.capacity.limitedBy, capacityIsLowerBound: r.capacity.limitedBy !== 'server', capacityRatio: ratio(key) }];
      }),
  );
  const allSteps = [...results.values(), ...(echoExtra ? [echoExtra] : [])].flatMap((r) => r.steps);
  const other = allSteps.map((s) => s.machine?.otherPercent).filter((v): v is number => v !== undefined);
  const cpuRatioAtMax = cpuRatio(stepAt(callsim, atMax), echoAtMax);
  const met = (value: number | null, target: number, atMost = false): boolean | null => (value === null ? null : atMost ? value <= target : value >= target);
  // A capacity ratio is claimed only between two limits the servers themselves hit: one the generator or the model ended is a floor.
  const exact = (key: PeerKey): boolean => results.get(key)?.capacity.limitedBy === 'server';
  const capacityMet = (key: PeerKey, target: number): boolean | null => (exact('callsim') && exact(key) ? met(ratio(key), target) : null);
  const headline = {
    maxCalls: atMax,
    limitedBy: callsim?.capacity.limitedBy ?? null,
    cpuRatioAtMax,
    cpuRatioMedian: median(common),
    peers,
    targets: {
      vsEcho: { target: TARGETS.vsEcho, value: ratio('echo'), met: capacityMet('echo', TARGETS.vsEcho) },
      cpuRatio: { target: TARGETS.cpuRatio, value: cpuRatioAtMax, met: met(cpuRatioAtMax, TARGETS.cpuRatio, true) },
      vsFastify: { target: TARGETS.vsFastify, value: ratio('fastify'), met: capacityMet('fastify', TARGETS.vsFastify) },
      vsPython: { target: TARGETS.vsPython, value: ratio('python'), met: capacityMet('python', TARGETS.vsPython) },
    },
    // How busy the rest of the machine was while each step was measured (% of one core): a disturbed run says so.
    otherProcesses: { maxPercent: other.length ? Math.max(...other) : null, medianPercent: median(other), disturbed: other.some((v) => v > 20) },
  };

  process.stdout.write('\n');
  for (const server of SERVERS) {
    const r = results.get(server.key);
    if (r === undefined) continue;
    process.stdout.write(`${out.bold(server.label)}: ${describeCapacity(r.capacity)}\n${formatLoadTable(r.steps, paint)}\n\n`);
  }
  const fmt = (v: number | null, digits = 2): string => (v === null ? 'n/a' : v.toFixed(digits));
  const verdict = (m: boolean | null): string => (m === null ? out.yellow('not claimed: a capacity the generator or the model ended is only a floor') : m ? out.green('met') : out.red('not met'));
  const t = headline.targets;
  process.stdout.write(
    out.bold(`Headline: ${callsim ? describeCapacity(callsim.capacity).replace(/^capacity/, 'callsim serve') : 'callsim serve not run'}\n`) +
      `  vs the bare ws echo: ${fmt(t.vsEcho.value)}× its calls (target ≥ ${TARGETS.vsEcho}: ${verdict(t.vsEcho.met)}); server CPU per frame ${fmt(cpuRatioAtMax)}× the echo's at ${atMax ?? '?'} calls (target ≤ ${TARGETS.cpuRatio}: ${verdict(t.cpuRatio.met)}), median over common steps ${fmt(headline.cpuRatioMedian)}×\n` +
      `  vs the fastify peer: ${fmt(t.vsFastify.value)}× (target ≥ ${TARGETS.vsFastify}: ${verdict(t.vsFastify.met)}); vs the python peer: ${fmt(t.vsPython.value)}× (target ≥ ${TARGETS.vsPython}: ${verdict(t.vsPython.met)})\n` +
      `  other processes on the machine: median ${fmt(headline.otherProcesses.medianPercent, 0)}%, max ${fmt(headline.otherProcesses.maxPercent, 0)}% of a core${headline.otherProcesses.disturbed ? out.yellow(' (a disturbed run)') : ''}\n` +
      `  total ${(elapsed() / 60).toFixed(1)} min\n`,
  );
  const record = {
    schema: 2,
    date: new Date().toISOString(),
    full: opts.full,
    machine: callsim?.machine ?? [...results.values()][0]?.machine ?? null,
    config: { steps: opts.steps, holdS: opts.holdS, refine: opts.refine, servers: SERVERS.filter((s) => results.has(s.key)).map((s) => ({ key: s.key, label: s.label })), profiled: opts.profileDir !== null, serveArgs: opts.serveArgs },
    headline,
    servers: Object.fromEntries([...results.entries()]),
    ...(echoExtra ? { echoAtCallsimCapacity: echoExtra } : {}),
    totalSeconds: Math.round(elapsed() * 10) / 10,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(record, null, 2) + '\n');
  say(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}${opts.profileDir ? `; profiles in ${opts.profileDir}` : ''}`);
}

main().catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  process.stderr.write(styleFor(process.stderr).red(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
  process.exit(1);
});
