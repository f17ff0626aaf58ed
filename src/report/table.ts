// The text report for people: the gate's table and failure list, or a replay's single-call view.
// Written once, at the end of the run, to stdout (or a file, without colours).
import path from 'node:path';
import type { ReplayCheck, ReplayReport } from '../caller/replay.js';
import type { GateCallResult, GateResult } from '../gate/gate.js';
import { padEndVisible, visibleLength } from '../text/columns.js';
import { printable } from '../text/printable.js';
import type { Style } from '../text/style.js';
import { conversationColumns, conversationLines, thresholdLine } from './conversation.js';
import { counterRows, counterText } from './counters.js';
import { figureText, summarizeFigures } from './figures.js';
import { groupFindings, type FindingGroup } from './findings.js';
import { writeReport, type Reporter, type ReporterContext, type RunCommand, type RunEnd, type RunFailure } from './reporter.js';

/** A failure's log excerpt stops here; the JSON report has every line. */
const EXCERPT_LINES = 8;
/** Calls named under a finding; the rest are counted. */
const LISTED_CALLS = 10;

/**
 * The gate's report for people: the findings first, each once with the calls it was found in,
 * then the table of calls and the figures, and the verdict on the last line, so the end of the
 * output, what a terminal or a CI log shows, is the table and the verdict.
 */
export function formatGateTable(result: GateResult, style: Style): string {
  const out: string[] = [];
  let previous: FindingGroup | null = null;
  for (const group of groupFindings(result)) {
    out.push(...groupLines(group, previous, style), '');
    previous = group;
  }
  out.push(...tableLines(result, style));
  if (result.notRun.length > 0) {
    const ids = result.notRun.slice(0, LISTED_CALLS).map((cell) => printable(cell.id)).join(', ');
    const more = result.notRun.length > LISTED_CALLS ? `, and ${result.notRun.length - LISTED_CALLS} more` : '';
    out.push('', style.yellow(`not run (${printable(result.interrupted ?? 'interrupted')}): ${ids}${more}`));
  }
  if (result.serverExit !== null) out.push('', style.gray(`server process ${printable(result.serverExit)}`));
  if (result.notes.length > 0) out.push('', ...result.notes.map((note) => style.dim(`note: ${printable(note)}`)));
  out.push('', ...summarizeFigures(result.calls).map((figure) => style.dim(`${figure.label.padEnd(20)} ${figureText(figure)}`)));
  const thresholds = thresholdLine(result);
  if (thresholds !== null) out.push(style.dim(thresholds));
  const failed = result.calls.filter((c) => c.verdict === 'fail').length;
  const passed = result.calls.length - failed;
  const verdict =
    result.interrupted !== null
      ? style.bold(style.yellow(`GATE INTERRUPTED (${printable(result.interrupted)})`))
      : result.verdict === 'pass'
        ? style.bold(style.green('GATE PASSED'))
        : style.bold(style.red('GATE FAILED'));
  const notRun = result.notRun.length > 0 ? `, ${result.notRun.length} not run,` : '';
  out.push('', `${verdict} ${passed}/${result.calls.length} calls passed${notRun} against ${printable(result.target)} in ${seconds(result.durationMs, '')}`);
  return out.join('\n');
}

function tableLines(result: GateResult, style: Style): string[] {
  const extra = conversationColumns(result.calls);
  const header = ['fixture', 'direction', 'timing', 'verdict', 'sent', 'recv', 'srv in', 'srv out', 'time', ...(extra?.header ?? [])];
  const rows = result.calls.map((c) => [
    printable(path.basename(c.fixture)) + (result.repeat > 1 ? ` #${c.repeat}` : ''),
    c.direction,
    c.timing,
    c.verdict === 'pass' ? style.green('pass') : style.red('FAIL'),
    String(c.framesSent),
    String(c.framesReceived),
    counterText(c.serverCounters, 'audioInChunks', style),
    counterText(c.serverCounters, 'audioOutChunks', style),
    seconds(c.durationMs, ''),
    ...(extra?.cells(c) ?? []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]): string => cells.map((cell, i) => padEndVisible(cell, widths[i] ?? 0)).join('  ');
  return [style.bold(line(header)), ...rows.map(line)];
}

function sameCalls(a: FindingGroup | null, b: FindingGroup): boolean {
  return a !== null && a.calls.length === b.calls.length && a.calls.every((call, i) => call === b.calls[i]);
}

/** One finding, once: what it is, the calls it was found in (not again when the last finding's were the same), and its log excerpt. */
function groupLines(group: FindingGroup, previous: FindingGroup | null, style: Style): string[] {
  const out: string[] = [];
  const callName = (call: GateCallResult): string => printable(call.id) + (call.callSid ? style.gray(` (${call.callSid})`) : '');
  if (group.calls.length === 0) {
    out.push(style.red(`✗ server output not tied to any call: ${printable(group.message)}`));
  } else {
    out.push(`${style.red('✗')} ${style.yellow(group.kind)}: ${printable(group.message)}`);
    if (group.calls.length === 1) {
      out.push(`    in ${callName(group.calls[0] as GateCallResult)}`);
    } else if (sameCalls(previous, group)) {
      out.push(`    in the same ${group.calls.length} calls`);
    } else {
      out.push(`    in ${group.calls.length} calls:`);
      for (const call of group.calls.slice(0, LISTED_CALLS)) out.push(`      ${callName(call)}`);
      if (group.calls.length > LISTED_CALLS) out.push(`      … and ${group.calls.length - LISTED_CALLS} more`);
    }
  }
  for (const l of group.lines.slice(0, EXCERPT_LINES)) out.push(style.gray(`      | ${printable(l)}`));
  return out;
}

function seconds(ms: number, unitSpace = ' '): string {
  return `${(ms / 1000).toFixed(1)}${unitSpace}s`;
}

function checkLine(check: ReplayCheck, style: Style): string {
  const mark = check.status === 'pass' ? style.green('✓') : check.status === 'fail' ? style.red('✗') : style.dim('–');
  const name = check.status === 'skip' ? style.dim(check.name.padEnd(24)) : check.name.padEnd(24);
  return `  ${mark} ${name} ${style.dim(printable(check.reason))}`;
}

/** How Twilio set the call up: webhook and TwiML, or direct mode; and what the report should know. */
function flowLines(report: ReplayReport, style: Style): string[] {
  const flow = report.callFlow;
  const lines: string[] = [];
  if (flow.webhook !== null) {
    const status = flow.webhook.status === null ? 'no answer' : `HTTP ${flow.webhook.status}`;
    lines.push(`  webhook      ${flow.webhook.method} ${printable(flow.webhook.url)} → ${status}${flow.webhook.signed ? ' (signed)' : ''}`);
  }
  if (flow.stream !== null) {
    const verb = flow.stream.verb === null ? 'direct' : `<${flow.stream.verb}><Stream>`;
    const dialled = flow.stream.dialledUrl !== flow.stream.url ? ` dialled as ${printable(flow.stream.dialledUrl)}` : '';
    const params = Object.keys(flow.stream.parameters).length;
    lines.push(`  stream       ${verb} ${printable(flow.stream.url)}${dialled} · tracks ${flow.stream.tracks.join('+') || '-'} · ${params} parameter${params === 1 ? '' : 's'}`);
  }
  for (const note of [flow.fallback, flow.directionNote, ...flow.notes]) if (note !== null) lines.push(style.dim(`  note: ${printable(note)}`));
  const model = report.model;
  if (model !== null) {
    const sessions = model.sessions.map((s) => `${s.id} (${s.tiedBy})`).join(', ');
    const clock = model.clockOffsetMs === null || model.clockOffsetMs === 0 ? '' : ` · its clock ${model.clockOffsetMs > 0 ? '+' : ''}${Math.round(model.clockOffsetMs)} ms from ours`;
    lines.push(`  model        ${sessions || printable(model.correlation.detail)} · at ${printable(model.source)}${clock}`);
  }
  return lines;
}

/** What the caller saw of the call: frames, latency, how it closed, playback. */
function callLines(report: ReplayReport, style: Style): string[] {
  const { call } = report;
  const lines = [
    `  frames       sent ${call.framesSent} (${call.audioFramesSent} audio + ${call.silenceFramesSent} silence)` +
      `, received ${call.framesReceived} (${call.bytesReceived} bytes)`,
    `  first audio  ${call.firstAudioLatencyMs === null ? 'no audio came back' : `${call.firstAudioLatencyMs} ms`}`,
    `  duration     ${seconds(call.durationMs)}`,
  ];
  const when = call.serverClosedBeforeStop ? style.red('before stop') : call.stopSent ? 'after stop' : 'without stop';
  lines.push(`  closed       by ${call.closedBy ?? 'nobody'} ${when}, code ${call.closeCode ?? '—'}${call.closeReason ? ` "${printable(call.closeReason)}"` : ''}`);
  if (call.marksReceived > 0 || call.clearsReceived > 0) {
    lines.push(
      `  playback     ${call.marksReceived} marks (${call.marksEchoed} echoed, ${call.marksPendingAtEnd} unplayed at hang-up)` +
        `, ${call.clearsReceived} clears (${call.audioClearedMs} ms dropped)`,
    );
  }
  return lines;
}

/** A replay's report for people (no trailing newline). `quiet` keeps only the verdict and failures. */
export function formatReplayReport(report: ReplayReport, style: Style, quiet = false): string {
  const lines: string[] = [];
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const passed = report.checks.filter((c) => c.status === 'pass').length;
  if (!quiet) {
    const target = report.target.builtInServer ? `${report.target.url} (built-in server)` : report.target.url;
    const pace = report.timing.mode === 'burst' ? 'burst' : `real time ×${report.timing.speed}`;
    lines.push(`${style.bold('callsim replay')} ${report.fixture.file} → ${target}`);
    lines.push(
      style.dim(
        `  ${report.direction} call · ${pace} · ${report.conversation !== null ? `a scripted caller, ${report.conversation.steps.length} steps` : `audio ${seconds(report.fixture.durationMs)} (${report.fixture.frames} frames)`} · ` +
          `call ${report.call.callSid}`,
      ),
    );
    lines.push('', ...flowLines(report, style));
    if (report.call.connected) {
      lines.push(...callLines(report, style), ...conversationLines(report, style), '', ...counterRows(report, style));
      if (report.stats.note) lines.push(style.dim(`  note: ${printable(report.stats.note)}`));
      lines.push('');
    }
    lines.push(...report.checks.map((check) => checkLine(check, style)));
    if (report.savedAudio) {
      lines.push(
        report.savedAudio.error === null
          ? style.dim(`  saved ${report.savedAudio.frames} frames of the agent's audio to ${report.savedAudio.file}`)
          : style.red(`  could not save audio to ${report.savedAudio.file}: ${report.savedAudio.error}`),
      );
    }
    lines.push('');
  }
  if (report.verdict === 'pass') {
    lines.push(`${style.bold(style.green('PASS'))} ${style.green(`healthy call: ${passed} checks passed`)}`);
  } else {
    lines.push(`${style.bold(style.red('FAIL'))} ${style.red(`${failed} of ${passed + failed} checks failed`)}`);
    for (const failure of report.failures) lines.push(style.red(`  • ${printable(failure)}`));
  }
  return lines.join('\n');
}

/** The run that never got a result: on its own file with the output that explains it; on stdout the verdict line (the CLI has put the error and output on stderr). */
export function formatRunFailure(command: RunCommand, failure: RunFailure, style: Style, withOutput: boolean): string {
  const lines = withOutput ? failure.output.slice(-EXCERPT_LINES * 3).map((l) => style.gray(`  | ${printable(l)}`)) : [];
  return [...lines, `${style.bold(style.red(`${command.toUpperCase()} ERROR`))} ${printable(failure.message)}`].join('\n');
}

export function tableReporter(context: ReporterContext): Reporter {
  return {
    async onRunEnd(run: RunEnd) {
      const text = run.replay !== null ? formatReplayReport(run.replay, context.style, context.quiet) : formatGateTable(run.result, context.style);
      await writeReport(context, `${text}\n`);
    },
    async onRunFailure(failure) {
      await writeReport(context, `${formatRunFailure(context.command, failure, context.style, context.file !== null)}\n`);
    },
  };
}
