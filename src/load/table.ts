// The load's text report: one row a step, the reasons a step did not pass, the capacity and what
// it was limited by, and a legend of the columns. Colourless: the CLI colours what it prints.
import { padEndVisible, padStartVisible } from '../text/columns.js';
import { printable } from '../text/printable.js';
import type { LoadCapacity, LoadResult, LoadStep } from './types.js';

const dash = '–';
const ms = (v: number | null): string => (v === null ? dash : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const pct = (v: number | null): string => (v === null ? dash : String(Math.round(v)));
const int = (v: number | null): string => (v === null ? dash : Math.round(v).toLocaleString('en-US'));

export const VERDICT_TEXT: Record<LoadStep['verdict'], string> = {
  pass: 'pass',
  fail: 'FAIL',
  'generator-saturated': 'GENERATOR',
  'model-saturated': 'MODEL',
};

/** The table's columns, in order (the README's 'callsim load' section says what each one is). */
export const LOAD_COLUMNS: readonly string[] = ['calls', 'result', 'up', 'failed', 'sent', 'lost', 'jit p50', 'p99', 'max', 'gaps', 'resp p50', 'p95', 'fwd p99', 'srv CPU%', 'µs/frame', 'KiB/call', 'gen CPU%', 'µs/frame', 'slip p99', 'other%'];

function row(step: LoadStep): string[] {
  const lost = step.callerFrames.lost + (step.agentAudio.lost ?? 0);
  return [
    String(step.calls),
    VERDICT_TEXT[step.verdict],
    String(step.setup.opened),
    String(step.setup.failed + step.droppedCalls),
    int(step.callerFrames.sent),
    int(lost),
    ms(step.agentAudio.jitterMs.p50),
    ms(step.agentAudio.jitterMs.p99),
    ms(step.agentAudio.jitterMs.max),
    int(step.agentAudio.gaps),
    ms(step.responseLatencyMs.p50),
    ms(step.responseLatencyMs.p95),
    ms(step.forwardLatencyMs?.p99 ?? null),
    pct(step.server?.cpuPercent ?? null),
    ms(step.server?.cpuMicrosPerFrame ?? null),
    int(step.server?.memoryPerCallKiB ?? null),
    pct(step.generator.cpuPercent),
    ms(step.generator.cpuMicrosPerFrame),
    ms(step.generator.sendSlipMs.p99),
    pct(step.machine?.otherPercent ?? null),
  ];
}

/** The steps as a table; `paint` may colour the result cell (it must not change its visible width). */
export function formatLoadTable(steps: readonly LoadStep[], paint: (verdict: LoadStep['verdict'], text: string) => string = (_v, t) => t): string {
  const rows = steps.map(row);
  const widths = LOAD_COLUMNS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 1 ? padEndVisible(c, widths[i]!) : padStartVisible(c, widths[i]!))).join('  ');
  const out = [line(LOAD_COLUMNS), widths.map((w) => '─'.repeat(w)).join('  ')];
  rows.forEach((cells, i) => {
    const painted = [...cells];
    painted[1] = paint(steps[i]!.verdict, padEndVisible(cells[1]!, widths[1]!));
    out.push(line(painted));
  });
  return out.join('\n');
}

export function describeCapacity(capacity: LoadCapacity): string {
  const failure = capacity.firstFailure;
  const atLeast = capacity.calls === null ? 'not measured: no step passed' : `at least ${capacity.calls} concurrent calls`;
  switch (capacity.limitedBy) {
    case 'steps':
      return `capacity: ${atLeast} (every step passed; the server's limit is above the largest step)`;
    case 'interrupted':
      return `capacity: ${atLeast} (interrupted before a step failed)`;
    case 'server':
      return `capacity: ${capacity.calls === null ? 'none: the first step failed' : `${capacity.calls} concurrent calls`} — the server missed a threshold at ${failure?.calls ?? '?'} calls, with the generator keeping its timing`;
    case 'generator':
      return `capacity: ${atLeast} — at ${failure?.calls ?? '?'} calls the generator's own timing slipped, so the server's limit was not found (a quieter machine, more cores, or the generator on another machine)`;
    case 'model':
      return `capacity: ${atLeast} — at ${failure?.calls ?? '?'} calls the load's model simulator fell behind, so the server's limit was not found`;
  }
}

export const LOAD_LEGEND = [
  'up/failed: calls set up, and calls that failed at setup or were dropped by the server; sent: caller frames written to the server;',
  'lost: caller frames discarded (socket backed up, as Twilio discards), unsent at hang-up, not counted by the server or never appended at the model, plus agent frames the server sent and the caller never got;',
  "jit: each agent frame's lateness after the one before it (inter-arrival minus that frame's audio length), ms; gaps: the caller's playout buffer ran dry mid-answer;",
  "resp: end of the caller's speech -> the agent's first audio, ms; fwd: caller frame sent -> appended at the model, ms;",
  "srv: the server's whole process tree (CPU % of one core, µs per caller frame, memory per call, – after a larger step); gen: the generator's threads; slip: how late the generator sent frames, ms;",
  "other%: CPU that neither the server nor callsim load used (other processes: noise). A GENERATOR or MODEL step measured callsim load, not the server: it is never counted.",
];

/** What the report says of a step under the table: why it did not pass, and what else went wrong in it. */
export function stepNotes(step: LoadStep): string[] {
  const lines: string[] = [];
  if (step.verdict !== 'pass') lines.push(`${step.calls} calls: ${step.reasons.join('; ')}`);
  if (step.server !== null && step.server.crashLines > 0) lines.push(`${step.calls} calls: the server printed ${step.server.crashLines} crash line${step.server.crashLines === 1 ? '' : 's'}: ${step.server.firstCrashLine ?? ''}`);
  const unreported = step.serverUnreportedCalls ?? 0;
  if (unreported > 0) lines.push(`${step.calls} calls: the server did not report ${unreported} of them on GET /calls/:callSid, so their frames were not checked against its counts`);
  if (step.model !== null && step.model.leftOpen > 0) lines.push(`${step.calls} calls: ${step.model.leftOpen} model session${step.model.leftOpen === 1 ? '' : 's'} still open after the calls hung up`);
  return lines;
}

export function formatLoadReport(result: LoadResult, paint?: (verdict: LoadStep['verdict'], text: string) => string): string {
  const lines = [`callsim load: ${printable(result.target.label)} — ${result.config.callAudio}; hold ${result.config.holdS} s per step; ${result.config.workers} generator worker${result.config.workers === 1 ? '' : 's'}`, ''];
  if (result.steps.length > 0) lines.push(formatLoadTable(result.steps, paint), '');
  for (const step of result.steps) lines.push(...stepNotes(step));
  for (const note of result.notes) lines.push(`note: ${note}`);
  lines.push('', describeCapacity(result.capacity), '', ...LOAD_LEGEND);
  return lines.join('\n');
}

/** One progress line for a finished step. */
export function stepLine(step: LoadStep): string {
  const j = step.agentAudio.jitterMs;
  return (
    `${step.calls} calls: ${VERDICT_TEXT[step.verdict]}; jitter p99 ${ms(j.p99)} ms, ${step.agentAudio.gaps} gaps, ${int(step.callerFrames.lost + (step.agentAudio.lost ?? 0))} lost, ` +
    `response p50 ${ms(step.responseLatencyMs.p50)} ms; server ${pct(step.server?.cpuPercent ?? null)}% CPU, generator ${pct(step.generator.cpuPercent)}% (slip p99 ${ms(step.generator.sendSlipMs.p99)} ms), other ${pct(step.machine?.otherPercent ?? null)}%`
  );
}
