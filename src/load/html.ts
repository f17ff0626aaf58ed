// `callsim load --html FILE`: the ramp as one self-contained page in the HTML report's style
// (src/report/html): its charts (what the caller heard against the jitter limit, and the CPU the
// server and the generator took, by step, the capacity marked) drawn here as static SVG, and the
// step table. No script at all: the page's CSP allows only its own stylesheet, by hash.
import { createHash } from 'node:crypto';
import { escapeHtml } from '../report/html/page.js';
import { REPORT_CSS } from '../report/html/style.js';
import { describeCapacity, LOAD_LEGEND, VERDICT_TEXT } from './table.js';
import type { LoadResult, LoadStep } from './types.js';

const CHART_CSS = `
.chart svg { display: block; width: 100%; max-width: 760px; height: auto; }
.chart .axis { stroke: var(--line); stroke-width: 1; }
.chart text { fill: var(--muted); font-size: 11px; font-family: system-ui, sans-serif; }
.chart .limit { stroke: var(--fail); stroke-dasharray: 4 3; stroke-width: 1; }
.chart .capacity { stroke: var(--pass); stroke-dasharray: 2 3; stroke-width: 1.5; }
.chart .series-a { stroke: var(--caller); fill: none; stroke-width: 1.5; }
.chart .series-b { stroke: var(--model); fill: none; stroke-width: 1.5; }
.chart .dot-pass { fill: var(--pass); } .chart .dot-fail { fill: var(--fail); } .chart .dot-other { fill: var(--warn); }
.chart .dot-a { fill: var(--caller); } .chart .dot-b { fill: var(--model); }
.sw-a { background: var(--caller); } .sw-b { background: var(--model); }
`;
const CSS = REPORT_CSS + CHART_CSS;
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS, 'utf8').digest('base64')}'; base-uri 'none'; form-action 'none'`;

const W = 760;
const H = 240;
const PAD = { left: 48, right: 16, top: 12, bottom: 32 };

interface Point {
  calls: number;
  value: number | null;
  className: string;
}

/** x by log2 of the calls (the steps double), y linear from 0. */
function chart(title: string, unit: string, series: Array<{ name: string; className: string; dotClass?: string; points: Point[] }>, limit: number | null, capacity: number | null): string {
  const all = series.flatMap((s) => s.points);
  const calls = [...new Set(all.map((p) => p.calls))].sort((a, b) => a - b);
  if (calls.length === 0) return '';
  const values = all.map((p) => p.value).filter((v): v is number => v !== null);
  const top = Math.max(1, ...values, limit === null ? 0 : limit * 1.5) * 1.1;
  const lo = Math.log2(calls[0]!);
  const hi = Math.log2(calls[calls.length - 1]!);
  const x = (n: number): number => PAD.left + (hi === lo ? 0.5 : (Math.log2(n) - lo) / (hi - lo)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [
    `<line class="axis" x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}"/>`,
    `<line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}"/>`,
    `<text x="4" y="${PAD.top + 8}">${escapeHtml(unit)}</text>`,
    `<text x="${W - PAD.right}" y="${H - 4}" text-anchor="end">concurrent calls</text>`,
  ];
  for (const n of calls) parts.push(`<text x="${x(n).toFixed(1)}" y="${H - PAD.bottom + 14}" text-anchor="middle">${n}</text>`);
  for (const v of [0, top / 2, top]) parts.push(`<text x="${PAD.left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v)}</text>`);
  if (limit !== null) parts.push(`<line class="limit" x1="${PAD.left}" y1="${y(limit).toFixed(1)}" x2="${W - PAD.right}" y2="${y(limit).toFixed(1)}"/><text x="${W - PAD.right}" y="${(y(limit) - 4).toFixed(1)}" text-anchor="end">limit ${limit}</text>`);
  if (capacity !== null) parts.push(`<line class="capacity" x1="${x(capacity).toFixed(1)}" y1="${PAD.top}" x2="${x(capacity).toFixed(1)}" y2="${H - PAD.bottom}"/><text x="${(x(capacity) + 4).toFixed(1)}" y="${PAD.top + 10}">capacity ${capacity}</text>`);
  for (const s of series) {
    const measured = [...s.points].filter((p) => p.value !== null).sort((a, b) => a.calls - b.calls);
    if (measured.length > 1) parts.push(`<polyline class="${s.className}" points="${measured.map((p) => `${x(p.calls).toFixed(1)},${y(p.value!).toFixed(1)}`).join(' ')}"/>`);
    for (const p of measured) parts.push(`<circle class="${s.dotClass ?? p.className}" cx="${x(p.calls).toFixed(1)}" cy="${y(p.value!).toFixed(1)}" r="3.5"><title>${escapeHtml(`${s.name} at ${p.calls} calls: ${p.value!.toFixed(1)} ${unit}`)}</title></circle>`);
  }
  const legend = series.map((s) => `<span>${series.length > 1 ? `<i class="sw ${s.className === 'series-a' ? 'sw-a' : 'sw-b'}"></i>` : ''}${escapeHtml(s.name)}</span>`).join(' ');
  return `<h2>${escapeHtml(title)}</h2><div class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">${parts.join('')}</svg><p class="legend muted">${legend}</p></div>`;
}

const dot = (step: LoadStep): string => (step.verdict === 'pass' ? 'dot-pass' : step.verdict === 'fail' ? 'dot-fail' : 'dot-other');
const cell = (v: number | null, digits = 1): string => (v === null ? '<span class="muted">—</span>' : v.toFixed(digits));

function stepsTable(steps: readonly LoadStep[]): string {
  const head = ['calls', 'result', 'up', 'failed', 'lost', 'jitter p99 ms', 'gaps', 'response p50 ms', 'server CPU %', 'server µs/frame', 'generator CPU %', 'send slip p99 ms', 'other %'];
  const rows = steps.map((s) => {
    const verdictClass = s.verdict === 'pass' ? 'pass' : s.verdict === 'fail' ? 'fail' : 'warn';
    return `<tr><td class="num">${s.calls}</td><td class="${verdictClass}">${VERDICT_TEXT[s.verdict]}</td><td class="num">${s.setup.opened}</td><td class="num">${s.setup.failed + s.droppedCalls}</td><td class="num">${s.callerFrames.lost + (s.agentAudio.lost ?? 0)}</td><td class="num">${cell(s.agentAudio.jitterMs.p99)}</td><td class="num">${s.agentAudio.gaps}</td><td class="num">${cell(s.responseLatencyMs.p50, 0)}</td><td class="num">${cell(s.server?.cpuPercent ?? null, 0)}</td><td class="num">${cell(s.server?.cpuMicrosPerFrame ?? null)}</td><td class="num">${cell(s.generator.cpuPercent, 0)}</td><td class="num">${cell(s.generator.sendSlipMs.p99)}</td><td class="num">${cell(s.machine?.otherPercent ?? null, 0)}</td></tr>`;
  });
  const why = steps.filter((s) => s.reasons.length > 0).map((s) => `<li><b>${s.calls} calls</b>: ${escapeHtml(s.reasons.join('; '))}</li>`);
  return `<h2>Steps</h2><div class="scroll"><table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>${why.length > 0 ? `<ul class="findings">${why.join('')}</ul>` : ''}`;
}

export function formatLoadHtml(result: LoadResult): string {
  const steps = result.steps;
  const capacity = result.capacity.calls;
  const jitter = chart(
    'What the caller heard: p99 jitter of the agent\'s audio',
    'ms',
    [{ name: 'p99 jitter (a dot a step: green pass, red the server failed, amber the generator or the model slipped)', className: 'series-a', points: steps.map((s) => ({ calls: s.calls, value: s.agentAudio.jitterMs.p99, className: dot(s) })) }],
    result.config.thresholds.jitterP99Ms,
    capacity,
  );
  const cpu = chart(
    'CPU, % of one core',
    '%',
    [
      { name: 'the server (its process tree)', className: 'series-a', dotClass: 'dot-a', points: steps.map((s) => ({ calls: s.calls, value: s.server?.cpuPercent ?? null, className: '' })) },
      { name: 'the generator (its worker threads)', className: 'series-b', dotClass: 'dot-b', points: steps.map((s) => ({ calls: s.calls, value: s.generator.cpuPercent, className: '' })) },
    ],
    null,
    capacity,
  );
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>callsim load: ${escapeHtml(describeCapacity(result.capacity))}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body><main>',
    `<h1>callsim load: ${escapeHtml(result.target.label)}</h1>`,
    `<p class="muted">${escapeHtml(`${result.startedAt} · ${result.durationS} s · ${result.config.callAudio} · hold ${result.config.holdS} s per step · ${result.config.workers} generator workers · ${result.machine.cores} cores, Node ${result.machine.node}`)}</p>`,
    `<p><b>${escapeHtml(describeCapacity(result.capacity))}</b></p>`,
    jitter,
    cpu,
    steps.length > 0 ? stepsTable(steps) : '<p class="muted">no step was measured</p>',
    ...result.notes.map((note) => `<p class="muted">note: ${escapeHtml(note)}</p>`),
    `<ul class="muted">${LOAD_LEGEND.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`,
    '</main></body>',
    '</html>',
    '',
  ].join('\n');
}
