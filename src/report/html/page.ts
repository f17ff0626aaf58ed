// The HTML report as one self-contained page: the summary, the findings grouped across calls, a
// filterable table of calls, and a section per call (its timeline, findings, checks, server log
// and recording). Everything is rendered here with every text escaped; the page's own script
// (client.ts) only filters and draws. A Content-Security-Policy allows nothing but the page's own
// style and script (by hash) and data: URIs, so the file can make no network request at all.
import { createHash } from 'node:crypto';
import { printable } from '../../text/printable.js';
import { figureText, type FigureSummary } from '../figures.js';
import type { FindingGroup } from '../findings.js';
import { REPORT_SCRIPT } from './client.js';
import type { HtmlCall } from './data.js';
import { REPORT_CSS } from './style.js';

export interface HtmlDocument {
  command: 'replay' | 'gate';
  verdict: 'pass' | 'fail' | 'interrupted' | 'error';
  target: string | null;
  startedAt: string;
  durationMs: number;
  calls: HtmlCall[];
  groups: FindingGroup[];
  figures: FigureSummary[];
  /** Why the run has no result, with the output that explains it. */
  failure: { message: string; output: string[] } | null;
  interrupted: string | null;
  serverExit: string | null;
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text (a peer's too) as HTML text or a quoted attribute value: markup escaped, control characters shown as escapes. */
export function escapeHtml(text: string): string {
  return printable(text).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** JSON inside <script type="application/json">: nothing in it can close the element or open a comment. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const CSP = `default-src 'none'; style-src ${sha256(REPORT_CSS)}; script-src ${sha256(REPORT_SCRIPT)}; img-src data:; media-src data:; base-uri 'none'; form-action 'none'`;

const VERDICT_TEXT: Record<HtmlDocument['verdict'], string> = { pass: 'passed', fail: 'failed', interrupted: 'interrupted', error: 'could not run' };
const VERDICT_CLASS: Record<HtmlDocument['verdict'], string> = { pass: 'pass', fail: 'fail', interrupted: 'warn', error: 'fail' };

const ms = (value: number | null | undefined): string => (typeof value === 'number' ? `${Math.round(value)} ms` : '—');
const secs = (value: number): string => `${(value / 1000).toFixed(1)} s`;

function counterCell(value: HtmlCall['serverIn']): string {
  if (value === 'absent') return '<span class="muted">—</span>';
  return value === null ? '<span class="fail">null</span>' : String(value);
}

function summary(doc: HtmlDocument): string {
  const ran = doc.calls.filter((c) => c.verdict !== 'not-run');
  const passed = ran.filter((c) => c.verdict === 'pass').length;
  const failed = ran.length - passed;
  const notRun = doc.calls.length - ran.length;
  const cards = [
    ['calls passed', `<b class="pass">${passed}</b>`],
    ['calls failed', `<b class="${failed > 0 ? 'fail' : 'muted'}">${failed}</b>`],
    ...(notRun > 0 ? [['not run', `<b class="warn">${notRun}</b>`]] : []),
    ['time', `<b>${secs(doc.durationMs)}</b>`],
  ];
  const figures = doc.figures
    .map((f) => `<tr><td>${escapeHtml(f.label)}</td><td class="num">${f.count > 0 ? ms(f.p50) : '—'}</td><td class="num">${f.count > 0 ? ms(f.p95) : '—'}</td><td class="num">${f.count > 0 ? ms(f.max) : '—'}</td><td class="muted">${escapeHtml(f.count > 0 ? `${f.count} calls${f.missing > 0 ? `, none on ${f.missing}` : ''}` : figureText(f))}</td></tr>`)
    .join('');
  return [
    `<h1>callsim ${doc.command} <span class="badge ${VERDICT_CLASS[doc.verdict]}" id="verdict">${VERDICT_TEXT[doc.verdict]}${doc.interrupted !== null ? ` (${escapeHtml(doc.interrupted)})` : ''}</span></h1>`,
    `<p class="muted">${doc.target !== null ? `against <span class="mono">${escapeHtml(doc.target)}</span> · ` : ''}started ${escapeHtml(doc.startedAt)}</p>`,
    doc.failure !== null ? `<p class="fail" id="run-failure"><b>${escapeHtml(doc.failure.message)}</b></p>${doc.failure.output.length > 0 ? `<pre>${doc.failure.output.map(escapeHtml).join('\n')}</pre>` : ''}` : '',
    doc.serverExit !== null ? `<p class="warn">server process ${escapeHtml(doc.serverExit)}</p>` : '',
    `<div class="cards">${cards.map(([name, value]) => `<div class="card">${value}<span class="muted">${name}</span></div>`).join('')}</div>`,
    '<h2>Latency</h2>',
    `<div class="scroll"><table id="figures"><thead><tr><th>figure</th><th class="num">p50</th><th class="num">p95</th><th class="num">max</th><th>over</th></tr></thead><tbody>${figures}</tbody></table></div>`,
    '<p class="muted">Percentiles are nearest-rank over the calls that measured the figure. A figure this run did not measure is said so, never shown as 0.</p>',
  ].join('\n');
}

function findings(doc: HtmlDocument): string {
  if (doc.groups.length === 0) return '';
  const items = doc.groups.map((group) => {
    const where =
      group.calls.length === 0
        ? 'in server output tied to no call'
        : `in ${group.calls.length === 1 ? '' : `${group.calls.length} calls: `}${group.calls.map((call) => `<a href="#call-${doc.calls.findIndex((c) => c.id === call.id && c.callSid === call.callSid)}">${escapeHtml(call.id)}</a>`).join(', ')}`;
    const lines = group.lines.length > 0 ? `<pre>${group.lines.slice(0, 20).map(escapeHtml).join('\n')}</pre>` : '';
    return `<li><b class="fail">${escapeHtml(group.kind)}</b>: ${escapeHtml(group.message)} <span class="muted">— ${where}</span>${lines}</li>`;
  });
  return `<h2>Findings</h2>\n<ul class="findings" id="findings">${items.join('\n')}</ul>`;
}

function callsTable(doc: HtmlDocument): string {
  const options = (key: 'verdict' | 'direction' | 'timing'): string =>
    [...new Set(doc.calls.map((c) => c[key]))].map((value) => `<option value="${escapeHtml(value)}">${escapeHtml(value)}</option>`).join('');
  const rows = doc.calls.map(
    (call, i) =>
      `<tr class="row" data-index="${i}"><td>${escapeHtml(call.id)}</td><td>${escapeHtml(call.direction)}</td><td>${escapeHtml(call.timing)}</td>` +
      `<td class="${call.verdict}">${call.verdict === 'not-run' ? 'not run' : call.verdict === 'pass' ? 'pass' : 'FAIL'}</td>` +
      `<td class="num wide">${call.framesSent}</td><td class="num wide">${call.framesReceived}</td><td class="num wide">${counterCell(call.serverIn)}</td><td class="num wide">${counterCell(call.serverOut)}</td>` +
      `<td class="num">${ms(call.figures.firstAudioMs)}</td><td class="num">${secs(call.durationMs)}</td></tr>`,
  );
  return [
    '<h2>Calls</h2>',
    '<div class="filters"><input id="filter-text" type="search" placeholder="filter by call or callSid" aria-label="filter calls">',
    `<select data-filter="verdict" aria-label="verdict"><option value="">any verdict</option>${options('verdict')}</select>`,
    `<select data-filter="direction" aria-label="direction"><option value="">any direction</option>${options('direction')}</select>`,
    `<select data-filter="timing" aria-label="timing"><option value="">any timing</option>${options('timing')}</select>`,
    '<span class="muted" id="filter-count"></span></div>',
    '<div class="scroll"><table id="calls"><thead><tr><th>call</th><th>direction</th><th>timing</th><th>verdict</th><th class="num wide">sent</th><th class="num wide">recv</th><th class="num wide">srv in</th><th class="num wide">srv out</th><th class="num">first audio</th><th class="num">time</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody></table></div>`,
  ].join('\n');
}

function callSection(call: HtmlCall, index: number): string {
  if (call.verdict === 'not-run') return '';
  const parts: string[] = [];
  const figures = Object.entries(call.figures).map(([name, value]) => `${escapeHtml(name)} ${ms(value)}`);
  parts.push(`<p class="muted">${escapeHtml(call.fixture)} · ${escapeHtml(call.direction)} · ${escapeHtml(call.timing)} · ${call.framesSent} frames sent, ${call.framesReceived} received · ${secs(call.durationMs)}${figures.length > 0 ? ` · ${figures.join(' · ')}` : ''}</p>`);
  parts.push(
    call.timeline !== null
      ? `<div class="timeline" data-index="${index}"></div><p class="legend muted"><span><i class="sw sw-caller"></i>caller audio</span><span><i class="sw sw-heard"></i>the agent as the caller heard it (paced, cut by clears)</span><span><i class="sw sw-sent"></i>the agent's frames as they arrived</span><span><i class="sw sw-latency"></i>first-audio latency</span><span><i class="sw sw-note"></i>a finding</span></p>`
      : `<div class="timeline" data-index="${index}"><p class="muted">no timeline: ${escapeHtml(call.noTimeline ?? 'no record of the call')}</p></div>`,
  );
  if (call.timeline !== null) {
    const { dropped } = call.timeline;
    if (dropped.callerFrames + dropped.agentFrames + dropped.events > 0) parts.push(`<p class="warn">the timeline is capped: ${dropped.callerFrames} caller frames, ${dropped.agentFrames} agent frames and ${dropped.events} events not kept</p>`);
  }
  if (call.findings.length > 0) {
    parts.push('<h3>Findings</h3>', `<ul class="findings">${call.findings.map((f) => `<li class="finding"><b class="fail">${escapeHtml(f.kind)}</b>: ${escapeHtml(f.message)}${f.lines.length > 0 ? `<pre>${f.lines.map(escapeHtml).join('\n')}</pre>` : ''}</li>`).join('')}</ul>`);
  }
  const unplaced = call.notes.filter((n) => n.t === null);
  if (unplaced.length > 0) parts.push(`<p class="muted">not on the timeline (no moment known): ${unplaced.map((n) => escapeHtml(n.kind)).join(', ')}</p>`);
  if (call.checks.length > 0) {
    const mark = (status: string): string => (status === 'pass' ? '<span class="pass">✓</span>' : status === 'fail' ? '<span class="fail">✗</span>' : '<span class="muted">–</span>');
    parts.push('<h3>Checks</h3>', `<div class="scroll"><table><tbody>${call.checks.map((c) => `<tr><td>${mark(c.status)} ${escapeHtml(c.name)}</td><td class="muted wrap">${escapeHtml(c.reason)}</td></tr>`).join('')}</tbody></table></div>`);
  }
  if (call.serverLog !== null && call.serverLog.lines.length > 0) {
    const shared = call.serverLog.shared > 0 ? ` (${call.serverLog.shared} printed while other calls ran too)` : '';
    parts.push(`<details><summary>server log: ${call.serverLog.lines.length} lines${shared}</summary><pre>${call.serverLog.lines.map(escapeHtml).join('\n')}</pre></details>`);
  }
  if (call.recording !== null) {
    parts.push(
      'dataUri' in call.recording
        ? `<h3>Recording</h3><audio controls preload="none" src="${call.recording.dataUri}"></audio><p class="muted mono">${escapeHtml(call.recording.file)}</p>`
        : `<p class="warn">recording ${escapeHtml(call.recording.file)} not embedded: ${escapeHtml(call.recording.error)}</p>`,
    );
  }
  const verdict = call.verdict === 'pass' ? '<span class="badge pass">pass</span>' : '<span class="badge fail">FAIL</span>';
  return `<details class="call ${call.verdict}" id="call-${index}"${call.verdict === 'fail' ? ' open' : ''}><summary>${verdict} <b>${escapeHtml(call.id)}</b>${call.callSid ? ` <span class="muted mono">${escapeHtml(call.callSid)}</span>` : ''}</summary><div class="call-body">${parts.join('\n')}</div></details>`;
}

/** The whole page. */
export function renderPage(doc: HtmlDocument): string {
  // The script needs only what it draws; the rest is in the markup already.
  const data = { calls: doc.calls.map((call) => ({ id: call.id, callSid: call.callSid, verdict: call.verdict, direction: call.direction, timing: call.timing, timeline: call.timeline, notes: call.notes })) };
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>callsim ${doc.command}: ${VERDICT_TEXT[doc.verdict]}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    summary(doc),
    findings(doc),
    doc.calls.length > 0 ? callsTable(doc) : '',
    doc.calls.map(callSection).join('\n'),
    '</main>',
    `<script type="application/json" id="callsim-data">${scriptJson(data)}</script>`,
    doc.calls.length > 0 ? `<script>${REPORT_SCRIPT}</script>` : '',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
