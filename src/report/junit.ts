// JUnit XML for CI test tabs: one testcase per call, a failure per failing call with its findings;
// each call's figures and its turns' as testcase properties, the run's p50/p95 as the suite's.
import type { GateCallResult, GateResult } from '../gate/gate.js';
import { escapeXml } from '../text/xml.js';
import { writeReport, type Reporter, type ReporterContext, type RunCommand } from './reporter.js';

function secondsAttr(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function propertyLines(values: ReadonlyArray<readonly [string, number]>, indent: string): string[] {
  if (values.length === 0) return [];
  return [`${indent}<properties>`, ...values.map(([name, value]) => `${indent}  <property name="${escapeXml(name)}" value="${escapeXml(String(Math.round(value * 10) / 10))}"/>`), `${indent}</properties>`];
}

/** A figure never measured has no property: absent, not 0. */
function callFigures(call: GateCallResult): Array<[string, number]> {
  const props: Array<[string, number]> = [];
  for (const [name, value] of Object.entries(call.figures)) if (value !== null) props.push([name, value]);
  for (const turn of call.turns) {
    if (turn.responseMs !== null) props.push([`step${turn.step}.responseMs`, turn.responseMs]);
    if (turn.bargeInMs !== null) props.push([`step${turn.step}.bargeInMs`, turn.bargeInMs]);
  }
  return props;
}

export function formatJunit(result: GateResult, command: RunCommand = 'gate'): string {
  const suite = `callsim ${command}`;
  // Server output no call could be tied to fails the gate: it is a failing test case too, so a
  // CI test tab never shows green for a red gate.
  const serverCase = result.unattributed.length > 0;
  const tests = result.calls.length + (serverCase ? 1 : 0);
  const failures = result.calls.filter((c) => c.verdict === 'fail').length + (serverCase ? 1 : 0);
  const cases = result.calls.map((c) => {
    const open = `    <testcase classname="callsim.${command}.${c.direction}" name="${escapeXml(c.id)}" time="${secondsAttr(c.durationMs)}">`;
    const props = propertyLines(callFigures(c), '      ');
    if (c.verdict === 'pass') return props.length === 0 ? `${open}</testcase>` : [open, ...props, '    </testcase>'].join('\n');
    const first = c.findings[0]?.message ?? 'failed';
    const body = c.findings.map((f) => [`${f.kind}: ${f.message}`, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n');
    return [open, ...props, `      <failure message="${escapeXml(first)}" type="${escapeXml(c.findings[0]?.kind ?? 'failure')}">${escapeXml(`callSid ${c.callSid ?? '-'}\n${body}`)}</failure>`, '    </testcase>'].join('\n');
  });
  const suiteProps: Array<[string, number]> = [];
  for (const figure of result.figures) {
    if (figure.p50 !== null) suiteProps.push([`${figure.name}.p50`, figure.p50]);
    if (figure.p95 !== null) suiteProps.push([`${figure.name}.p95`, figure.p95]);
  }
  if (serverCase) {
    const first = result.unattributed[0]?.message ?? 'server output';
    const body = result.unattributed.map((f) => [f.message, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n\n');
    cases.push(`    <testcase classname="callsim.${command}.server" name="server output" time="0.000">\n      <failure message="${escapeXml(first)}" type="crash-signature">${escapeXml(body)}</failure>\n    </testcase>`);
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${suite}" tests="${tests}" failures="${failures}" time="${secondsAttr(result.durationMs)}">`,
    `  <testsuite name="${suite}: ${escapeXml(result.target)}" tests="${tests}" failures="${failures}" errors="0" time="${secondsAttr(result.durationMs)}" timestamp="${escapeXml(result.startedAt)}">`,
    ...propertyLines(suiteProps, '    '),
    ...cases,
    '  </testsuite>',
    '</testsuites>',
  ].join('\n') + '\n';
}

export function junitReporter(context: ReporterContext): Reporter {
  return {
    async onRunEnd(run) {
      await writeReport(context, formatJunit(run.result, context.command));
    },
  };
}
