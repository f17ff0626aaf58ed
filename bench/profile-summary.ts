// Summarise V8 .cpuprofile files (from `npm run bench -- --profile <dir>`): where the process's
// CPU went by package, the top functions by self time, and callsim's own functions by total
// (inclusive) time. Usage: node dist/bench/profile-summary.js <file.cpuprofile>... [--top N]
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface FunctionTime {
  name: string;
  where: string;
  area: string;
  ms: number;
  percent: number;
}

interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle: what the process actually spent on CPU (roughly). */
  busyMs: number;
  areas: Array<{ area: string; ms: number; percent: number }>;
  topSelf: FunctionTime[];
  topSrcInclusive: FunctionTime[];
}

/** Which package a frame belongs to: the first question when looking for what to cut. */
function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') {
    if (frame.functionName === '(garbage collector)') return 'GC';
    if (frame.functionName === '(idle)') return 'idle';
    if (frame.functionName === '(program)') return 'V8/native (program)';
    return 'native';
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node core';
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + '/dist/'.length).split('/').slice(0, 2).join('/');
  return url;
}

function whereOf(frame: CallFrame): string {
  if (frame.url === '') return '';
  const i = frame.url.indexOf('/dist/');
  const short = i >= 0 ? frame.url.slice(i + '/dist/'.length) : frame.url.replace(/^.*\/node_modules\//, '');
  return `${short.replace(/^file:\/\//, '')}:${frame.lineNumber + 1}`;
}

function summarise(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Self time per node: each sample's delta belongs to the node sampled.
  const self = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
    totalUs += dt;
  }
  const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'}|${f.url}|${f.lineNumber}`;
  const selfByFn = new Map<string, { frame: CallFrame; us: number }>();
  const areaUs = new Map<string, number>();
  const inclusive = new Map<string, { frame: CallFrame; us: number }>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const key = keyOf(node.callFrame);
    const entry = selfByFn.get(key) ?? { frame: node.callFrame, us: 0 };
    entry.us += us;
    selfByFn.set(key, entry);
    const area = areaOf(node.callFrame);
    areaUs.set(area, (areaUs.get(area) ?? 0) + us);
    // Inclusive time of callsim's own functions: credit every distinct src/ function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      if (!frame.url.includes('/dist/src/')) continue;
      const k = keyOf(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? { frame, us: 0 };
      e.us += us;
      inclusive.set(k, e);
    }
  }
  const idleUs = areaUs.get('idle') ?? 0;
  const busyUs = totalUs - idleUs;
  const fn = (e: { frame: CallFrame; us: number }): FunctionTime => ({
    name: e.frame.functionName || '(anonymous)',
    where: whereOf(e.frame),
    area: areaOf(e.frame),
    ms: e.us / 1000,
    percent: busyUs > 0 ? (e.us / busyUs) * 100 : 0,
  });
  return {
    file,
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    areas: [...areaUs.entries()]
      .filter(([a]) => a !== 'idle')
      .map(([area, us]) => ({ area, ms: us / 1000, percent: busyUs > 0 ? (us / busyUs) * 100 : 0 }))
      .sort((a, b) => b.ms - a.ms),
    topSelf: [...selfByFn.values()].filter((e) => areaOf(e.frame) !== 'idle').sort((a, b) => b.us - a.us).slice(0, top).map(fn),
    topSrcInclusive: [...inclusive.values()].sort((a, b) => b.us - a.us).slice(0, top).map(fn),
  };
}

function print(s: ProfileSummary): void {
  const pct = (v: number): string => `${v.toFixed(1).padStart(5)}%`;
  const lines: string[] = [];
  lines.push(`${path.basename(s.file)}: ${(s.totalMs / 1000).toFixed(1)} s profiled, ${(s.busyMs / 1000).toFixed(1)} s busy (percentages are of busy time)`);
  lines.push('  by package:');
  for (const a of s.areas.slice(0, 12)) lines.push(`    ${pct(a.percent)}  ${a.area}`);
  lines.push('  top self time:');
  for (const f of s.topSelf) lines.push(`    ${pct(f.percent)}  ${f.name}  ${f.where}`);
  lines.push('  callsim src/ functions by total (inclusive) time:');
  for (const f of s.topSrcInclusive) lines.push(`    ${pct(f.percent)}  ${f.name}  ${f.where}`);
  process.stdout.write(lines.join('\n') + '\n\n');
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const files = args.filter((_, i) => topAt < 0 || (i !== topAt && i !== topAt + 1));
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile>... [--top N]\n');
  process.exit(2);
}
for (const file of files) print(summarise(file, top));
