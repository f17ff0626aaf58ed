// The gate's reports: a table for people, JUnit XML for CI systems, JSON for machines.
import path from 'node:path';
import chalk from 'chalk';
import { escapeXml as xml } from '../text/xml.js';
import type { GateCallResult, GateResult } from './gate.js';

function counter(result: GateCallResult, name: string): string {
  const value = result.serverCounters?.[name];
  if (result.serverCounters === null) return '-';
  // Not reported at all is missing, not broken; null is what JSON makes of NaN.
  if (value === undefined) return chalk.dim('—');
  return value === null ? chalk.red('NaN') : Number.isFinite(value) ? String(value) : chalk.red(String(value));
}

export function formatTable(result: GateResult): string {
  const header = ['fixture', 'direction', 'timing', 'verdict', 'sent', 'recv', 'srv in', 'srv out', 'time'];
  const rows = result.calls.map((c) => [
    path.basename(c.fixture),
    c.direction,
    c.timing,
    c.verdict === 'pass' ? chalk.green('pass') : chalk.red('FAIL'),
    String(c.framesSent),
    String(c.framesReceived),
    counter(c, 'audioInChunks'),
    counter(c, 'audioOutChunks'),
    `${(c.durationMs / 1000).toFixed(1)}s`,
  ]);
  // chalk's escapes take no columns on screen; pad by visible width.
  const visible = (s: string): number => s.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]): string => cells.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - visible(cell))).join('  ');
  const out = [chalk.bold(line(header)), ...rows.map(line)];

  const failed = result.calls.filter((c) => c.verdict === 'fail');
  for (const call of failed) {
    out.push('', chalk.red(`✗ ${call.id}`) + (call.callSid ? chalk.gray(` (${call.callSid})`) : ''));
    for (const finding of call.findings) {
      out.push(`    ${chalk.yellow(finding.kind)}: ${finding.message}`);
      for (const l of finding.lines.slice(0, 8)) out.push(chalk.gray(`      | ${l}`));
    }
  }
  for (const finding of result.unattributed) {
    out.push('', chalk.red(`✗ server output not tied to any call: ${finding.message}`));
    for (const l of finding.lines.slice(0, 8)) out.push(chalk.gray(`      | ${l}`));
  }
  if (result.serverExit !== null) out.push('', chalk.gray(`server process ${result.serverExit}`));
  const passed = result.calls.length - failed.length;
  out.push(
    '',
    (result.verdict === 'pass' ? chalk.green.bold('GATE PASSED') : chalk.red.bold('GATE FAILED')) +
      ` ${passed}/${result.calls.length} calls passed against ${result.target} in ${(result.durationMs / 1000).toFixed(1)}s`,
  );
  return out.join('\n');
}

export function formatJunit(result: GateResult): string {
  // Server output no call could be tied to fails the gate: it is a failing test case too, so a
  // CI test tab never shows green for a red gate.
  const serverCase = result.unattributed.length > 0;
  const tests = result.calls.length + (serverCase ? 1 : 0);
  const failures = result.calls.filter((c) => c.verdict === 'fail').length + (serverCase ? 1 : 0);
  const cases = result.calls.map((c) => {
    const name = xml(c.id);
    const open = `    <testcase classname="callsim.gate.${c.direction}" name="${name}" time="${(c.durationMs / 1000).toFixed(3)}">`;
    if (c.verdict === 'pass') return `${open}</testcase>`;
    const first = c.findings[0]?.message ?? 'failed';
    const body = c.findings.map((f) => [`${f.kind}: ${f.message}`, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n');
    return `${open}\n      <failure message="${xml(first)}" type="${xml(c.findings[0]?.kind ?? 'failure')}">${xml(`callSid ${c.callSid ?? '-'}\n${body}`)}</failure>\n    </testcase>`;
  });
  if (serverCase) {
    const first = result.unattributed[0]?.message ?? 'server output';
    const body = result.unattributed.map((f) => [f.message, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n\n');
    cases.push(`    <testcase classname="callsim.gate.server" name="server output" time="0.000">\n      <failure message="${xml(first)}" type="crash-signature">${xml(body)}</failure>\n    </testcase>`);
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="callsim gate" tests="${tests}" failures="${failures}" time="${(result.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="callsim gate: ${xml(result.target)}" tests="${tests}" failures="${failures}" errors="0" time="${(result.durationMs / 1000).toFixed(3)}" timestamp="${result.startedAt}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
  ].join('\n') + '\n';
}
