// JUnit XML for CI test tabs: one testcase per call, its named checks (the model side's too) as
// properties with what each saw, a failure per failing call with its findings.
import type { GateCallResult, GateResult } from '../gate/gate.js';
import { escapeXml } from '../text/xml.js';
import { writeReport, type Reporter, type ReporterContext, type RunCommand } from './reporter.js';

function secondsAttr(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** Each named check as a property: `check.NAME` = "pass|fail|skip: what it saw". */
function checkProperties(call: GateCallResult): string {
  if (call.checks.length === 0) return '';
  const props = call.checks.map((c) => `        <property name="check.${escapeXml(c.name)}" value="${escapeXml(`${c.status}: ${c.reason}`)}"/>`);
  return `\n      <properties>\n${props.join('\n')}\n      </properties>`;
}

export function formatJunit(result: GateResult, command: RunCommand = 'gate'): string {
  const suite = `callsim ${command}`;
  // Server output no call could be tied to fails the gate: it is a failing test case too, so a
  // CI test tab never shows green for a red gate.
  const serverCase = result.unattributed.length > 0;
  const tests = result.calls.length + (serverCase ? 1 : 0);
  const failures = result.calls.filter((c) => c.verdict === 'fail').length + (serverCase ? 1 : 0);
  const cases = result.calls.map((c) => {
    const open = `    <testcase classname="callsim.${command}.${c.direction}" name="${escapeXml(c.id)}" time="${secondsAttr(c.durationMs)}">${checkProperties(c)}`;
    if (c.verdict === 'pass') return c.checks.length === 0 ? `${open}</testcase>` : `${open}\n    </testcase>`;
    const first = c.findings[0]?.message ?? 'failed';
    const body = c.findings.map((f) => [`${f.kind}: ${f.message}`, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n');
    return `${open}\n      <failure message="${escapeXml(first)}" type="${escapeXml(c.findings[0]?.kind ?? 'failure')}">${escapeXml(`callSid ${c.callSid ?? '-'}\n${body}`)}</failure>\n    </testcase>`;
  });
  if (serverCase) {
    const first = result.unattributed[0]?.message ?? 'server output';
    const body = result.unattributed.map((f) => [f.message, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n\n');
    cases.push(`    <testcase classname="callsim.${command}.server" name="server output" time="0.000">\n      <failure message="${escapeXml(first)}" type="crash-signature">${escapeXml(body)}</failure>\n    </testcase>`);
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${suite}" tests="${tests}" failures="${failures}" time="${secondsAttr(result.durationMs)}">`,
    `  <testsuite name="${suite}: ${escapeXml(result.target)}" tests="${tests}" failures="${failures}" errors="0" time="${secondsAttr(result.durationMs)}" timestamp="${escapeXml(result.startedAt)}">`,
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
