// JUnit XML for CI test tabs, in the shape Jenkins' junit-10.xsd describes and its JUnit plugin
// reads (test/junit.xsd is our own schema of it): one testcase per call with its figures and
// counters as properties, its failure, and its own server log lines as system-err; a cell the run
// never reached is skipped; a run that was interrupted or never started is an error case, so a
// CI tab never shows green (or "no report found") for a gate that did not pass.
import os from 'node:os';
import type { GateCallResult, GateResult } from '../gate/gate.js';
import { escapeXml } from '../text/xml.js';
import { summarizeFigures } from './figures.js';
import { writeReport, type Reporter, type ReporterContext, type RunCommand, type RunFailure } from './reporter.js';

function secondsAttr(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** junit-10.xsd's timestamp: ISO 8601 without a zone ("2014-01-21T16:17:18"); ours is UTC. */
function timestampAttr(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString().slice(0, 19);
}

function attrs(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${escapeXml(String(value))}"`)
    .join('');
}

function properties(values: ReadonlyArray<readonly [string, string]>, indent: string): string[] {
  if (values.length === 0) return [];
  return [`${indent}<properties>`, ...values.map(([name, value]) => `${indent}  <property${attrs({ name, value })}/>`), `${indent}</properties>`];
}

/** What a CI dashboard can chart per call: where it ran, what it measured, what the server counted. */
function callProperties(call: GateCallResult): Array<[string, string]> {
  const props: Array<[string, string]> = [
    ['callSid', call.callSid ?? ''],
    ['fixture', call.fixture],
    ['direction', call.direction],
    ['timing', call.timing],
    ['framesSent', String(call.framesSent)],
    ['framesReceived', String(call.framesReceived)],
  ];
  // A figure never measured has no property: absent, not 0.
  for (const [name, value] of Object.entries(call.figures)) if (value !== null) props.push([name, String(Math.round(value * 10) / 10)]);
  // A scenario's turns, each with its own (step 3's response latency: step3.responseMs).
  for (const turn of call.turns) {
    if (turn.responseMs !== null) props.push([`step${turn.step}.responseMs`, String(turn.responseMs)]);
    if (turn.bargeInMs !== null) props.push([`step${turn.step}.bargeInMs`, String(turn.bargeInMs)]);
  }
  // A counter the server reported as not a number is "null", as in the JSON report.
  for (const [name, value] of Object.entries(call.serverCounters ?? {})) props.push([`server.${name}`, value === null ? 'null' : String(value)]);
  // Each named check, the model side's included, with what it saw.
  for (const check of call.checks) props.push([`check.${check.name}`, `${check.status}: ${check.reason}`]);
  return props;
}

function testcase(classname: string, name: string, ms: number, body: string[]): string {
  const open = `    <testcase${attrs({ classname, name, time: secondsAttr(ms) })}>`;
  return body.length === 0 ? `${open}</testcase>` : [open, ...body, '    </testcase>'].join('\n');
}

function systemErr(lines: readonly string[]): string[] {
  return lines.length === 0 ? [] : [`      <system-err>${escapeXml(lines.join('\n'))}</system-err>`];
}

function callCase(call: GateCallResult, command: RunCommand): string {
  const body = properties(callProperties(call), '      ');
  if (call.verdict === 'fail') {
    const first = call.findings[0];
    const text = call.findings.map((f) => [`${f.kind}: ${f.message}`, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n');
    body.push(`      <failure${attrs({ message: first?.message ?? 'failed', type: first?.kind ?? 'failure' })}>${escapeXml(`callSid ${call.callSid ?? '-'}\n${text}`)}</failure>`);
  }
  body.push(...systemErr(call.serverLog?.lines ?? []));
  return testcase(`callsim.${command}.${call.direction}`, call.id, call.durationMs, body);
}

interface Suite {
  command: RunCommand;
  target: string;
  startedAt: string;
  durationMs: number;
  cases: string[];
  counts: { tests: number; failures: number; errors: number; skipped: number };
  properties: Array<[string, string]>;
}

function document(suite: Suite): string {
  const { tests, failures, errors, skipped } = suite.counts;
  const name = `callsim ${suite.command}`;
  const time = secondsAttr(suite.durationMs);
  return (
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<testsuites${attrs({ name, tests, failures, errors, time })}>`,
      `  <testsuite${attrs({ name: `${name}: ${suite.target}`, tests, failures, errors, skipped, time, timestamp: timestampAttr(suite.startedAt), hostname: os.hostname() })}>`,
      ...properties(suite.properties, '    '),
      ...suite.cases,
      '  </testsuite>',
      '</testsuites>',
    ].join('\n') + '\n'
  );
}

export function formatJunit(result: GateResult, command: RunCommand = 'gate'): string {
  const cases = result.calls.map((call) => callCase(call, command));
  for (const cell of result.notRun) {
    cases.push(testcase(`callsim.${command}.${cell.direction}`, cell.id, 0, [`      <skipped${attrs({ message: `not run: the run was interrupted (${result.interrupted ?? 'aborted'})` })}/>`]));
  }
  // Server output no call could be tied to fails the gate: it is a failing test case too, so a
  // CI test tab never shows green for a red gate.
  const serverCase = result.unattributed.length > 0;
  if (serverCase) {
    const first = result.unattributed[0]?.message ?? 'server output';
    const body = result.unattributed.map((f) => [f.message, ...f.lines.map((l) => `  | ${l}`)].join('\n')).join('\n\n');
    cases.push(testcase(`callsim.${command}.server`, 'server output', 0, [`      <failure${attrs({ message: first, type: 'crash-signature' })}>${escapeXml(body)}</failure>`]));
  }
  if (result.interrupted !== null) {
    const message = `the run was interrupted (${result.interrupted}) after ${result.calls.length} of ${result.calls.length + result.notRun.length} calls`;
    cases.push(testcase(`callsim.${command}.run`, 'the run', result.durationMs, [`      <error${attrs({ message, type: 'interrupted' })}/>`]));
  }
  const failures = result.calls.filter((c) => c.verdict === 'fail').length + (serverCase ? 1 : 0);
  const props: Array<[string, string]> = [['target', result.target]];
  for (const figure of summarizeFigures(result.calls)) {
    if (figure.p50 !== null) props.push([`${figure.name}.p50`, String(Math.round(figure.p50))]);
    if (figure.p95 !== null) props.push([`${figure.name}.p95`, String(Math.round(figure.p95))]);
  }
  return document({
    command,
    target: result.target,
    startedAt: result.startedAt,
    durationMs: result.durationMs,
    cases,
    counts: { tests: cases.length, failures, errors: result.interrupted !== null ? 1 : 0, skipped: result.notRun.length },
    properties: props,
  });
}

/** A run that never had a result (the server did not start): one error case saying why, with the output that explains it. */
export function formatJunitFailure(command: RunCommand, failure: RunFailure, startedAt: string, durationMs: number): string {
  const body = [`      <error${attrs({ message: failure.message, type: 'run-failure' })}/>`, ...systemErr(failure.output)];
  return document({
    command,
    target: failure.target ?? 'no server',
    startedAt,
    durationMs,
    cases: [testcase(`callsim.${command}.run`, 'the run', durationMs, body)],
    counts: { tests: 1, failures: 0, errors: 1, skipped: 0 },
    properties: failure.target === null ? [] : [['target', failure.target]],
  });
}

export function junitReporter(context: ReporterContext): Reporter {
  let started = { iso: new Date().toISOString(), at: Date.now() };
  return {
    onRunStart() {
      started = { iso: new Date().toISOString(), at: Date.now() };
    },
    async onRunEnd(run) {
      await writeReport(context, formatJunit(run.result, context.command));
    },
    async onRunFailure(failure) {
      await writeReport(context, formatJunitFailure(context.command, failure, started.iso, Date.now() - started.at));
    },
  };
}
