// `node dist/bench/pass-rates.js RUN.json...`: issue 16's targets over several runs of `npm run
// bench`, as pass rates, not a best run. Each file is one run's results (latest.json, or a run
// written with --out); a target a run could not claim (a capacity the generator or the model
// ended is only a floor) counts as neither met nor missed, and is shown as such.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';

type TargetKey = 'vsEcho' | 'cpuRatio' | 'vsFastify' | 'vsPython';
const TARGET_KEYS: readonly TargetKey[] = ['vsEcho', 'cpuRatio', 'vsFastify', 'vsPython'];
const LABEL: Record<TargetKey, string> = {
  vsEcho: "serve's calls ÷ the echo's",
  cpuRatio: "serve's CPU per frame ÷ the echo's",
  vsFastify: "serve's calls ÷ the fastify peer's",
  vsPython: "serve's calls ÷ the python peer's",
};

interface Target {
  target: number;
  value: number | null;
  met: boolean | null;
}

interface BenchRun {
  date: string;
  full: boolean;
  headline: {
    maxCalls: number | null;
    limitedBy: string | null;
    peers: Record<string, { capacity: number | null; limitedBy: string | null }>;
    targets: Record<TargetKey, Target>;
    otherProcesses: { disturbed: boolean };
  };
}

function readRun(file: string): BenchRun {
  const run = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchRun>;
  if (typeof run.headline?.targets !== 'object' || run.headline.targets === null) throw new Error(`${file}: not a results file of npm run bench (no headline.targets)`);
  return run as BenchRun;
}

function summarise(runs: readonly BenchRun[]) {
  const targets = Object.fromEntries(
    TARGET_KEYS.map((key) => {
      const seen = runs.map((r) => r.headline.targets[key]);
      const claimed = seen.filter((t) => t.met !== null);
      return [key, { target: seen[0]?.target ?? null, values: seen.map((t) => t.value), met: claimed.filter((t) => t.met === true).length, missed: claimed.filter((t) => t.met === false).length, notClaimed: seen.length - claimed.length }];
    }),
  ) as Record<TargetKey, { target: number | null; values: Array<number | null>; met: number; missed: number; notClaimed: number }>;
  const capacity = (r: BenchRun, key: string): string => {
    const c = key === 'callsim' ? { capacity: r.headline.maxCalls, limitedBy: r.headline.limitedBy } : r.headline.peers[key];
    if (c === undefined || c.capacity === null) return 'n/a';
    return c.limitedBy === 'server' ? String(c.capacity) : `≥${c.capacity}`;
  };
  const capacities = Object.fromEntries(['callsim', 'echo', 'fastify', 'python'].map((key) => [key, runs.map((r) => capacity(r, key))]));
  return { runs: runs.length, fullRuns: runs.filter((r) => r.full).length, disturbedRuns: runs.filter((r) => r.headline.otherProcesses.disturbed).length, dates: runs.map((r) => r.date), capacities, targets };
}

function main(): void {
  const program = new Command('pass-rates')
    .description("issue 16's targets over several runs of npm run bench: how often each was met")
    .argument('<results...>', 'results JSON files of npm run bench (latest.json, or --out files)')
    .option('--out <file>', 'also write the summary as JSON here')
    .exitOverride();
  program.parse(process.argv.slice(2), { from: 'user' });
  const files = program.args;
  const summary = summarise(files.map(readRun));
  const f = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(2));
  const lines = [`${summary.runs} runs (${summary.fullRuns} full default runs, ${summary.disturbedRuns} disturbed by other processes)`, '', 'capacities (≥: a floor, the generator or the model slipped first):'];
  for (const [key, values] of Object.entries(summary.capacities)) lines.push(`  ${key.padEnd(8)} ${values.join('  ')}`);
  lines.push('', 'targets:');
  for (const key of TARGET_KEYS) {
    const t = summary.targets[key];
    const sense = key === 'cpuRatio' ? '≤' : '≥';
    lines.push(`  ${LABEL[key].padEnd(38)} target ${sense} ${t.target ?? '?'}: ${t.values.map(f).join('  ')}; met in ${t.met} of ${summary.runs}, missed in ${t.missed}, not claimed in ${t.notClaimed}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  const out = program.opts<{ out?: string }>().out;
  if (out !== undefined) writeFileSync(path.resolve(out), JSON.stringify({ files: files.map((file) => path.basename(file)), ...summary }, null, 2) + '\n');
}

try {
  main();
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  process.stderr.write(`pass-rates: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
