// GitHub Actions: an `::error` annotation per failing call, and a Markdown job summary. The
// annotations are workflow commands on stderr (the runner reads commands from both output
// streams); their text is escaped as the Actions toolkit escapes it (% CR LF in the message, and
// : , in properties), so nothing a server printed can end the command or start another. GitHub
// shows 10 error annotations per step: past 9 failing calls the tenth says how many more there
// are. The summary is appended to $GITHUB_STEP_SUMMARY (or written to `github=FILE`), kept under
// the 1 MiB a step's summary may take.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { GateCallResult, GateResult } from '../gate/gate.js';
import { printable } from '../text/printable.js';
import { figureText, summarizeFigures } from './figures.js';
import { groupFindings } from './findings.js';
import { writeReport, type Reporter, type ReporterContext, type RunCommand, type RunFailure } from './reporter.js';

/** Error annotations GitHub shows for one step. */
export const ANNOTATIONS_SHOWN = 10;
/** What a step's summary may take (1 MiB), less room for the note that it was cut. */
const SUMMARY_BYTES = 1024 * 1024 - 512;
const FINDINGS_PER_CALL = 5;
const SUMMARY_GROUPS = 50;
const SUMMARY_ROWS = 500;
const SUMMARY_LOG_LINES = 12;

/** A workflow command's message: % CR LF escaped (actions/toolkit's escapeData). */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value: also : and , (escapeProperty). */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function errorCommand(title: string, lines: readonly string[]): string {
  // Each line made printable first: a peer's newline cannot become ours, only ours become %0A.
  return `::error title=${escapeProperty(printable(title))}::${escapeData(lines.map(printable).join('\n'))}\n`;
}

/** The annotations of a finished run, at most ANNOTATIONS_SHOWN. */
export function annotations(result: GateResult, command: RunCommand): string[] {
  const failing = result.calls.filter((c) => c.verdict === 'fail');
  const items: string[] = failing.map((call) => {
    const lines = call.findings.slice(0, FINDINGS_PER_CALL).map((f) => `${f.kind}: ${f.message}`);
    if (call.findings.length > FINDINGS_PER_CALL) lines.push(`… and ${call.findings.length - FINDINGS_PER_CALL} more findings`);
    if (call.callSid !== null) lines.push(`callSid ${call.callSid}`);
    return errorCommand(`callsim ${command}: ${call.id}`, lines);
  });
  if (result.unattributed.length > 0) {
    items.push(errorCommand(`callsim ${command}: server output not tied to any call`, result.unattributed.slice(0, FINDINGS_PER_CALL).map((f) => f.message)));
  }
  if (result.interrupted !== null) {
    items.push(errorCommand(`callsim ${command}: interrupted`, [`the run was interrupted (${result.interrupted}); ${result.notRun.length} calls did not run`]));
  }
  if (items.length <= ANNOTATIONS_SHOWN) return items;
  const shown = items.slice(0, ANNOTATIONS_SHOWN - 1);
  shown.push(errorCommand(`callsim ${command}: ${items.length - shown.length} more failures`, [`${items.length - shown.length} more failing calls or problems than GitHub shows as annotations: see the job summary`]));
  return shown;
}

/** Text for a Markdown paragraph or table cell: HTML and Markdown punctuation escaped, peer control characters visible. */
export function markdownText(text: string): string {
  return printable(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]#|~]/g, (c) => `\\${c}`);
}

/** A fenced block that no backtick run inside it can close. */
function fenced(lines: readonly string[]): string[] {
  const text = lines.map(printable).join('\n');
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [fence, text, fence];
}

function verdictHeading(result: GateResult, command: RunCommand): string {
  if (result.interrupted !== null) return `## callsim ${command}: interrupted (${markdownText(result.interrupted)})`;
  return result.verdict === 'pass' ? `## callsim ${command}: passed ✅` : `## callsim ${command}: failed ❌`;
}

function callName(call: GateCallResult): string {
  return `${markdownText(call.id)}${call.callSid ? ` (\`${call.callSid}\`)` : ''}`;
}

/** The job summary of a finished run. */
export function summaryMarkdown(result: GateResult, command: RunCommand): string {
  const passed = result.calls.filter((c) => c.verdict === 'pass').length;
  const out = [
    verdictHeading(result, command),
    '',
    `**${passed}/${result.calls.length} calls passed**${result.notRun.length > 0 ? `, ${result.notRun.length} not run` : ''} against ${markdownText(result.target)} in ${(result.durationMs / 1000).toFixed(1)} s`,
    '',
    '| figure | across the calls |',
    '| --- | --- |',
    ...summarizeFigures(result.calls).map((figure) => `| ${markdownText(figure.label)} | ${markdownText(figureText(figure))} |`),
  ];
  const groups = groupFindings(result);
  if (groups.length > 0) out.push('', '### Findings');
  for (const group of groups.slice(0, SUMMARY_GROUPS)) {
    const where = group.calls.length === 0 ? 'in server output tied to no call' : group.calls.length === 1 ? `in ${callName(group.calls[0] as GateCallResult)}` : `in ${group.calls.length} calls`;
    out.push('', `- **${markdownText(group.kind)}**: ${markdownText(group.message)} — ${where}`);
    const details = [...(group.calls.length > 1 ? group.calls.map((call) => `- ${callName(call)}`) : []), ...(group.lines.length > 0 ? fenced(group.lines.slice(0, SUMMARY_LOG_LINES)) : [])];
    if (details.length > 0) out.push('', '  <details><summary>calls and log</summary>', '', ...details.map((line) => `  ${line}`), '', '  </details>');
  }
  if (groups.length > SUMMARY_GROUPS) out.push('', `… and ${groups.length - SUMMARY_GROUPS} more findings: see the JSON or HTML report.`);
  out.push('', '### Calls', '', '| call | verdict | sent | received | first audio | time |', '| --- | --- | ---: | ---: | ---: | ---: |');
  for (const call of result.calls.slice(0, SUMMARY_ROWS)) {
    const firstAudio = call.figures.firstAudioMs;
    out.push(`| ${markdownText(call.id)} | ${call.verdict === 'pass' ? 'pass' : '**FAIL**'} | ${call.framesSent} | ${call.framesReceived} | ${typeof firstAudio === 'number' ? `${Math.round(firstAudio)} ms` : '—'} | ${(call.durationMs / 1000).toFixed(1)} s |`);
  }
  if (result.calls.length > SUMMARY_ROWS) out.push('', `… and ${result.calls.length - SUMMARY_ROWS} more calls: see the JSON or HTML report.`);
  if (result.notRun.length > 0) out.push('', `Not run: ${result.notRun.map((cell) => markdownText(cell.id)).join(', ')}`);
  return fitSummary(`${out.join('\n')}\n`);
}

/** A summary of a run that never got a result. */
export function failureMarkdown(failure: RunFailure, command: RunCommand): string {
  const out = [`## callsim ${command}: could not run ❌`, '', markdownText(failure.message)];
  if (failure.output.length > 0) out.push('', ...fenced(failure.output.slice(-SUMMARY_LOG_LINES * 2)));
  return fitSummary(`${out.join('\n')}\n`);
}

function fitSummary(markdown: string): string {
  if (Buffer.byteLength(markdown) <= SUMMARY_BYTES) return markdown;
  const cut = Buffer.from(markdown).subarray(0, SUMMARY_BYTES).toString('utf8');
  return `${cut.slice(0, cut.lastIndexOf('\n'))}\n\n… cut to fit GitHub's 1 MiB summary limit: see the JSON or HTML report.\n`;
}

/** Where the summary goes: the reporter's own file, else the step summary GitHub gave us, else nowhere. */
async function writeSummary(context: ReporterContext, markdown: string): Promise<void> {
  if (context.file !== null) return writeReport(context, markdown);
  const stepSummary = process.env.GITHUB_STEP_SUMMARY;
  if (stepSummary !== undefined && stepSummary !== '') await appendFile(path.resolve(stepSummary), `${markdown}\n`);
}

export function githubReporter(context: ReporterContext): Reporter {
  return {
    async onRunEnd(run) {
      for (const line of annotations(run.result, context.command)) context.stderr.write(line);
      await writeSummary(context, summaryMarkdown(run.result, context.command));
    },
    async onRunFailure(failure) {
      context.stderr.write(errorCommand(`callsim ${context.command}: could not run`, [failure.message]));
      await writeSummary(context, failureMarkdown(failure, context.command));
    },
  };
}
