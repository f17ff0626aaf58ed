// The reporters, fed the results of real calls: one healthy replay against the built-in server,
// one failing replay against a planted server that forgets an outbound counter. What each
// reporter writes is checked as its reader would: the JUnit by libxml2 (xmllint) and an XML
// parser, the JSON by JSON.parse, the progress line as a CI log or a terminal would show it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReplay, type ReplayReport } from '../src/caller/replay.js';
import type { GateCallResult, GateResult } from '../src/gate/gate.js';
import {
  formatGateTable,
  formatJunit,
  formatReplayReport,
  parseReporterSpec,
  replayCallResult,
  replayCell,
  replayRun,
  reporterConflict,
  ReporterGroup,
  type ReporterSpec,
  type TextSink,
} from '../src/report/index.js';
import { startMediaServer } from '../src/server/media-server.js';
import { COLOUR, PLAIN } from '../src/text/style.js';
import { escapeXml } from '../src/text/xml.js';
import { connectStreamTwiml } from '../src/twilio/twiml.js';
import * as forgetfulOutbound from './servers/forgetful-outbound.mjs';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-report-'));

/** A stdout/stderr stand-in that keeps what was written, in order, across every sink sharing `log`. */
class Capture implements TextSink {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    private readonly log: string[] = [],
    private readonly tag = '',
  ) {}
  write(text: string): boolean {
    this.chunks.push(text);
    this.log.push(`${this.tag}${text}`);
    return true;
  }
  text(): string {
    return this.chunks.join('');
  }
}

let healthy: ReplayReport;
let broken: ReplayReport;
let healthyCall: GateCallResult;
let brokenCall: GateCallResult;

beforeAll(async () => {
  const server = await startMediaServer({ port: 0, quiet: true });
  const planted = await forgetfulOutbound.start({ port: 0, quiet: true });
  try {
    [healthy, broken] = await Promise.all([
      runReplay({ file: FIXTURE, url: server.wsUrl, webhook: { path: '/twiml' }, direction: 'inbound', timing: { mode: 'burst' }, tailMs: 300, expectAudio: true }),
      // The planted server learns the direction from its voice webhook, as Twilio calls it.
      runReplay({ file: FIXTURE, url: `ws://127.0.0.1:${planted.port}/media`, webhook: { path: '/twiml' }, direction: 'outbound', timing: { mode: 'burst' }, tailMs: 300 }),
    ]);
  } finally {
    await Promise.all([server.close(), planted.close()]);
  }
  healthyCall = replayCallResult(replayCell(FIXTURE, 'inbound', 'burst'), healthy);
  brokenCall = replayCallResult(replayCell(FIXTURE, 'outbound', 'burst'), broken);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What a gate over both calls returns, with server output no call could be tied to. */
function gateResult(unattributedText = 'TypeError: x is not a function'): GateResult {
  return {
    verdict: 'fail',
    target: 'node server.js --port {port}',
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 4321,
    calls: [healthyCall, brokenCall],
    unattributed: [{ kind: 'crash-signature', message: unattributedText, lines: [unattributedText, '    at main (server.js:1:1)'] }],
    serverExit: null,
    serverOutput: { longLinesCut: 0, charsCut: 0, crashLinesNotKept: 0 },
    strayProcesses: 0,
    interrupted: null,
    notRun: [],
    notes: [],
    figures: [],
    thresholds: {},
    repeat: 1,
  };
}

function xmllint(xml: string): { ok: boolean; stderr: string } {
  const run = spawnSync('xmllint', ['--noout', '-'], { input: xml, encoding: 'utf8' });
  if (run.error) throw run.error;
  return { ok: run.status === 0, stderr: run.stderr };
}

describe('the calls fed to the reporters', () => {
  it('are one healthy and one failing call', () => {
    expect(healthy.verdict).toBe('pass');
    expect(broken.verdict).toBe('fail');
    expect(broken.stats.counters?.audioOutChunks).toBeNull();
    expect(brokenCall.findings.map((f) => f.kind)).toEqual(broken.failures.map(() => 'replay-check'));
    expect(brokenCall.id).toBe('hello-8k-mulaw.wav outbound burst');
  });
});

describe('the XML escaper', () => {
  it('drops what XML 1.0 cannot carry: C0 controls, U+FFFE, U+FFFF, lone surrogates', () => {
    const nasty = 'a\u0000b\u0008c\u000bd\u000ce\u001ff\uFFFEg\uFFFFh\uD800i\uDC00j\uDC00\uD800k';
    expect(escapeXml(nasty)).toBe('abcdefghijk');
  });

  it('keeps TAB, LF, CR, astral characters (a surrogate pair) and the top of the BMP', () => {
    expect(escapeXml('\t\n\r 😀 \uFFFD \uD7FF \uE000')).toBe('\t\n\r 😀 \uFFFD \uD7FF \uE000');
  });

  it('escapes markup for text and either quote', () => {
    expect(escapeXml(`<a href="x" title='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; title=&apos;y&apos;&gt;&amp;amp;&lt;/a&gt;');
  });

  it('is the TwiML builder’s too: a hostile parameter still gives well-formed TwiML', () => {
    const twiml = connectStreamTwiml('wss://agent.example.com/media?a=1&b=2', 'inbound', { note: '"</Stream>\u0001\uFFFF' });
    expect(xmllint(twiml)).toEqual({ ok: true, stderr: '' });
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(twiml) as {
      Response: { Connect: { Stream: { '@_url': string; Parameter: Array<{ '@_name': string; '@_value': string }> } } };
    };
    expect(parsed.Response.Connect.Stream['@_url']).toBe('wss://agent.example.com/media?a=1&b=2');
    expect(parsed.Response.Connect.Stream.Parameter.map((p) => p['@_value'])).toEqual(['inbound', '"</Stream>']);
  });
});

describe('junit', () => {
  it('is well-formed XML with one testcase per call, a failure for the failing one and for unattributed output', () => {
    const xml = formatJunit(gateResult('TypeError <boom> & "bang" \u0000\uFFFE\uD83D in server'));
    expect(xmllint(xml)).toEqual({ ok: true, stderr: '' });
    const parsed = new XMLParser({ ignoreAttributes: false, processEntities: true, htmlEntities: false }).parse(xml) as {
      testsuites: { '@_tests': string; '@_failures': string; testsuite: { '@_name': string; testcase: Array<{ '@_name': string; '@_classname': string; failure?: { '@_message': string; '#text': string } }> } };
    };
    const suites = parsed.testsuites;
    expect([suites['@_tests'], suites['@_failures']]).toEqual(['3', '2']);
    expect(suites.testsuite['@_name']).toBe('callsim gate: node server.js --port {port}');
    const [pass, fail, server] = suites.testsuite.testcase;
    expect(pass?.['@_name']).toBe('hello-8k-mulaw.wav inbound burst');
    expect(pass?.failure).toBeUndefined();
    expect(fail?.['@_classname']).toBe('callsim.gate.outbound');
    expect(fail?.failure?.['@_message']).toBe(broken.failures[0]);
    expect(fail?.failure?.['#text']).toContain(`callSid ${broken.call.callSid}`);
    expect(server?.['@_classname']).toBe('callsim.gate.server');
    expect(server?.failure?.['@_message']).toBe('TypeError <boom> & "bang"  in server');
  });

  it('the check can fail: the same document with the text left unescaped is rejected', () => {
    const raw = formatJunit(gateResult('plain')).replace('plain', 'TypeError <boom> & \uFFFE');
    expect(xmllint(raw).ok).toBe(false);
  });

  it('names a replay run callsim replay', () => {
    const xml = formatJunit(replayRun(healthyCall, healthy).result, 'replay');
    expect(xmllint(xml).ok).toBe(true);
    expect(xml).toMatch(/<testsuites name="callsim replay" tests="1" failures="0"/);
    expect(xml).toContain('<testcase classname="callsim.replay.inbound" name="hello-8k-mulaw.wav inbound burst"');
  });
});

describe('table', () => {
  it('the gate table: a row per call, the broken counter as null, the failures with their log lines', () => {
    const text = formatGateTable(gateResult(), PLAIN);
    expect(text).toMatch(/^fixture\s+direction\s+timing\s+verdict\s+sent\s+recv\s+srv in\s+srv out\s+time$/m);
    expect(text).toMatch(new RegExp(`hello-8k-mulaw\\.wav\\s+inbound\\s+burst\\s+pass\\s+${healthy.call.framesSent}\\s+${healthy.call.framesReceived}\\s+${healthy.call.framesSent}\\s+${healthy.call.framesReceived}\\s`));
    expect(text).toMatch(/hello-8k-mulaw\.wav\s+outbound\s+burst\s+FAIL\s+\d+\s+\d+\s+\d+\s+null\s/);
    // Each finding once, naming the call it was found in; the table after the findings.
    expect(text).toContain(`    in hello-8k-mulaw.wav outbound burst (${broken.call.callSid})`);
    expect(text.indexOf('✗ replay-check:')).toBeLessThan(text.search(/^fixture/m));
    expect(text).toContain('✗ server output not tied to any call: TypeError: x is not a function');
    expect(text).toContain('      |     at main (server.js:1:1)');
    expect(text).toMatch(/GATE FAILED 1\/2 calls passed against node server\.js --port \{port\} in 4\.3s$/);
  });

  it('pads by what shows on screen: colours do not shift the columns', () => {
    const strip = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '');
    const coloured = formatGateTable(gateResult(), COLOUR);
    expect(coloured).toContain('\u001b[');
    expect(strip(coloured)).toBe(formatGateTable(gateResult(), PLAIN));
  });

  it('the replay view: counters server vs wire, the checks, the verdict; quiet keeps only the verdict', () => {
    const text = formatReplayReport(broken, PLAIN);
    expect(text).toMatch(new RegExp(`media in \\(caller → server\\)\\s+${broken.call.framesSent}\\s+${broken.call.framesSent}$`, 'm'));
    expect(text).toMatch(new RegExp(`media out \\(server → caller\\)\\s+null\\s+${broken.call.framesReceived}$`, 'm'));
    expect(text).toMatch(/✗ counters-finite\s+not a finite number: audioOutChunks/);
    expect(text).toMatch(/^FAIL \d+ of \d+ checks failed$/m);
    const quiet = formatReplayReport(broken, PLAIN, true);
    expect(quiet.split('\n')[0]).toMatch(/^FAIL /);
    expect(quiet).not.toContain('counter');
    expect(formatReplayReport(healthy, PLAIN, true)).toBe(`PASS healthy call: ${healthy.checks.filter((c) => c.status === 'pass').length} checks passed`);
  });
});

describe('reporters by name', () => {
  it('parses name[=file] and refuses unknown names, listing the known ones', () => {
    expect(parseReporterSpec('junit=out/gate.xml')).toEqual({ name: 'junit', file: 'out/gate.xml' });
    expect(parseReporterSpec('table')).toEqual({ name: 'table', file: null });
    expect(parseReporterSpec('html=x.html')).toEqual({ name: 'html', file: 'x.html' });
    expect(parseReporterSpec('pdf=x.pdf')).toBe('unknown reporter "pdf" (known: table, json, junit, html, github, progress)');
    expect(parseReporterSpec('toString')).toMatch(/^unknown reporter "toString"/);
    expect(parseReporterSpec('json=')).toMatch(/a file name must follow/);
    expect(parseReporterSpec('progress=log.txt')).toMatch(/writes to stderr and takes no file/);
  });

  it('refuses two reports on stdout or two on one file', () => {
    const spec = (name: ReporterSpec['name'], file: string | null = null): ReporterSpec => ({ name, file });
    expect(reporterConflict([spec('progress'), spec('table'), spec('junit', 'a.xml'), spec('json', 'a.json')])).toBeNull();
    expect(reporterConflict([spec('table'), spec('json')])).toMatch(/only one report can go to stdout \(table, json\)/);
    expect(reporterConflict([spec('junit', 'a.xml'), spec('json', './a.xml')])).toMatch(/both the junit and the json reports would write this file/);
  });
});

describe('the reporters together (ReporterGroup)', () => {
  it('json and junit write their files; the table goes to stdout; a replay run writes the replay report', async () => {
    const stdout = new Capture(false);
    const jsonFile = path.join(tmp, 'gate.json');
    const junitFile = path.join(tmp, 'gate.xml');
    const group = new ReporterGroup(
      [{ name: 'table', file: null }, { name: 'json', file: jsonFile }, { name: 'junit', file: junitFile }],
      { command: 'gate', stdout, stderr: new Capture(false), stdoutStyle: PLAIN },
    );
    const result = gateResult();
    await group.onRunEnd({ result, replay: null });
    expect(group.errors).toEqual([]);
    expect(JSON.parse(readFileSync(jsonFile, 'utf8'))).toEqual(JSON.parse(JSON.stringify(result)));
    expect(xmllint(readFileSync(junitFile, 'utf8')).ok).toBe(true);
    expect(stdout.text()).toBe(`${formatGateTable(result, PLAIN)}\n`);

    const replayOut = new Capture(false);
    const replayGroup = new ReporterGroup([{ name: 'json', file: null }], { command: 'replay', stdout: replayOut });
    await replayGroup.onRunEnd(replayRun(healthyCall, healthy));
    // The timeline (a level per frame) stays out of the JSON unless asked for.
    expect(JSON.parse(replayOut.text())).toEqual(JSON.parse(JSON.stringify({ ...healthy, timeline: undefined })));
    const withTimeline = new Capture(false);
    await new ReporterGroup([{ name: 'json', file: null }], { command: 'replay', stdout: withTimeline, timeline: true }).onRunEnd(replayRun(healthyCall, healthy));
    expect(JSON.parse(withTimeline.text())).toEqual(JSON.parse(JSON.stringify(healthy)));
  });

  it('a report that cannot be written is recorded, and the others are still written', async () => {
    const jsonFile = path.join(tmp, 'still.json');
    const group = new ReporterGroup(
      [{ name: 'junit', file: tmp }, { name: 'json', file: jsonFile }],
      { command: 'gate', stdout: new Capture(false), stderr: new Capture(false) },
    );
    await group.onRunEnd({ result: gateResult(), replay: null });
    expect(group.errors).toHaveLength(1);
    expect(group.errors[0]).toMatchObject({ reporter: 'junit', hook: 'onRunEnd' });
    expect(group.errors[0]?.message).toMatch(/EISDIR/);
    expect(JSON.parse(readFileSync(jsonFile, 'utf8'))).toMatchObject({ verdict: 'fail' });
  });
});

describe('progress', () => {
  const cells = ['a.wav inbound burst', 'a.wav outbound burst', 'b.wav inbound burst'];
  async function feed(group: ReporterGroup, failing: string): Promise<void> {
    await group.onRunStart({ total: cells.length, plan: '3 calls (2 fixtures), concurrency 1' });
    cells.forEach((id, i) => {
      const call = { ...(id === failing ? brokenCall : healthyCall), id };
      group.onCallStart({ cell: call, running: 1, done: i, total: cells.length });
      group.onCallEnd({ result: call, report: null, done: i + 1, total: cells.length });
    });
    await group.onRunEnd({ result: { ...gateResult(), calls: [] }, replay: null });
  }

  it('not on a terminal: the plan, then one line per finished call, no carriage returns', async () => {
    const stderr = new Capture(false);
    await feed(new ReporterGroup([{ name: 'progress', file: null }], { command: 'gate', stdout: new Capture(false), stderr, stderrStyle: PLAIN }), cells[1] as string);
    expect(stderr.text()).toBe(
      [
        'callsim gate: 3 calls (2 fixtures), concurrency 1',
        'callsim gate: [1/3] pass a.wav inbound burst',
        'callsim gate: [2/3] FAIL a.wav outbound burst',
        'callsim gate: [3/3] pass b.wav inbound burst',
        '',
      ].join('\n'),
    );
  });

  it('on a terminal: one line that overwrites itself, cleared before the table prints', async () => {
    const log: string[] = [];
    const stderr = new Capture(true, log, 'err:');
    const stdout = new Capture(true, log, 'out:');
    // Asked for after the table, the live line still ends first.
    const group = new ReporterGroup([{ name: 'table', file: null }, { name: 'progress', file: null }], { command: 'gate', stdout, stderr, stdoutStyle: PLAIN, stderrStyle: PLAIN });
    await feed(group, cells[1] as string);
    const drawn = stderr.chunks.slice(1);
    // Redrawn with a carriage return, over-written with spaces: no newline, no escape code.
    expect(drawn.every((chunk) => chunk.startsWith('\r') && !chunk.includes('\n') && !chunk.includes('\u001b'))).toBe(true);
    expect(drawn.map((chunk) => chunk.trimEnd())).toContain('\rcallsim gate: 1/3 done, 1 running (a.wav outbound burst)');
    expect(drawn.map((chunk) => chunk.trimEnd())).toContain('\rcallsim gate: 2/3 done, 1 failed (last: a.wav outbound burst FAIL)');
    // Cleared (every column the last drawing used blanked) before the table prints.
    const last = drawn.at(-2) ?? '';
    expect(log.at(-2)).toBe(`err:\r${' '.repeat(last.trimEnd().length - 1)}\r`);
    expect(log.at(-1)).toMatch(/^out:/);
    expect(log.at(-1)).toMatch(/^fixture/m);
  });

  it('on a narrow terminal: every drawing fits the width, and a shorter one blanks what the longer left', async () => {
    const stderr = Object.assign(new Capture(true), { columns: 40 });
    await feed(new ReporterGroup([{ name: 'progress', file: null }], { command: 'gate', stdout: new Capture(false), stderr, stderrStyle: COLOUR }), cells[1] as string);
    const drawn = stderr.chunks.slice(1, -1);
    const visible = (chunk: string): string => chunk.replace(/\u001b\[[0-9;]*m/g, '').replace('\r', '');
    for (const chunk of drawn) expect(visible(chunk).length).toBeLessThanOrEqual(39);
    expect(drawn.some((chunk) => visible(chunk).trimEnd().endsWith('…'))).toBe(true);
    // A cut line that was coloured resets the colour: nothing leaks into the next drawing.
    for (const chunk of drawn.filter((c) => c.includes('\u001b[3'))) expect(chunk.trimEnd()).toMatch(/\u001b\[0m$/);
    const widths = drawn.map((chunk) => visible(chunk).length);
    for (let i = 1; i < widths.length; i++) expect(widths[i]).toBeGreaterThanOrEqual(visible(drawn[i - 1] as string).trimEnd().length);
  });

  it('a replay draws its call’s own progress on a terminal, and nothing of it in a log', async () => {
    const progress = { phase: 'audio', elapsedMs: 1200, framesSent: 60, audioFramesSent: 60, audioFrames: 100, framesReceived: 20 } as const;
    for (const tty of [true, false]) {
      const stderr = new Capture(tty);
      const group = new ReporterGroup([{ name: 'progress', file: null }], { command: 'replay', stdout: new Capture(tty), stderr, stderrStyle: PLAIN });
      await group.onRunStart({ total: 1, plan: null });
      group.onCallProgress(progress);
      expect(stderr.text()).toBe(tty ? '\rcallsim replay: audio      1.2 s  60/100 audio frames  sent 60  received 20' : '');
    }
  });
});
