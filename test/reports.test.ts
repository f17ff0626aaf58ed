// The reports of one real gate run against a planted server whose outbound calls all crash the
// same way (forgetful-outbound: 9 failing outbound calls, 9 healthy inbound ones): the findings
// grouped in the table, the JUnit validated against a JUnit schema (test/junit.xsd) with its
// properties and system-err, the GitHub annotations and job summary, and the HTML report opened
// in a real headless Chromium (Debian's), which must make no network request and log no error.
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate, type GateResult } from '../src/gate/gate.js';
import { formatGateTable, formatHtmlFailure, formatJunit, formatJunitFailure, githubAnnotations, githubSummary, ReporterGroup, type TextSink } from '../src/report/index.js';
import { PLAIN } from '../src/text/style.js';

const FIXTURES = ['fixtures/greeting-44k-stereo.wav', 'fixtures/hello-8k-mulaw.wav', 'fixtures/question-16k-pcm16.wav'];
const FORGETFUL = 'node test/servers/forgetful-outbound.mjs --port {port}';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-reports-'));
const ARTIFACTS = path.resolve('artifacts');
const files = { html: path.join(tmp, 'gate.html'), junit: path.join(tmp, 'gate.xml'), summary: path.join(tmp, 'summary.md'), json: path.join(tmp, 'gate.json') };

class Capture implements TextSink {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

let result: GateResult;
const stderr = new Capture();

beforeAll(async () => {
  const reporters = new ReporterGroup(
    [
      { name: 'html', file: files.html },
      { name: 'junit', file: files.junit },
      { name: 'github', file: files.summary },
      { name: 'json', file: files.json },
    ],
    { command: 'gate', stdout: new Capture(), stderr, timeline: true },
  );
  const total = FIXTURES.length * 2 * 3;
  await reporters.onRunStart({ total, plan: null });
  result = await runGate({
    fixtures: FIXTURES,
    directions: ['inbound', 'outbound'],
    timings: ['realtime', 'burst', 'early-media'],
    speed: 4,
    concurrency: 4,
    target: { kind: 'command', command: FORGETFUL, wsPath: '/media', readyTimeoutMs: 10_000 },
    expectAudio: true,
    onCallDone: (call, done, _total, report) => reporters.onCallEnd({ result: call, report, done, total }),
  });
  await reporters.onRunEnd({ result, replay: null });
  expect(reporters.errors).toEqual([]);
}, 90_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function xmllintSchema(file: string): { ok: boolean; stderr: string } {
  const run = spawnSync('xmllint', ['--noout', '--schema', 'test/junit.xsd', file], { encoding: 'utf8' });
  if (run.error) throw run.error;
  return { ok: run.status === 0, stderr: run.stderr };
}

describe('the run behind the reports', () => {
  it('is 9 outbound calls failing alike and 9 healthy inbound ones', () => {
    expect(result.calls).toHaveLength(18);
    expect(result.calls.filter((c) => c.verdict === 'fail').map((c) => c.direction)).toEqual(Array(9).fill('outbound'));
  });
});

describe('the table groups identical findings', () => {
  const TYPE_ERROR = "✗ crash-signature: TypeError in server stderr: TypeError: Cannot read properties of undefined (reading 'push')";

  it('prints the crash once, "in 9 calls", with the list; then the table; the verdict last', () => {
    const text = formatGateTable(result, PLAIN);
    expect(text.split('\n').filter((line) => line === TYPE_ERROR)).toHaveLength(1);
    const at = text.indexOf(TYPE_ERROR);
    // The nine calls are listed once, under the first finding they share; the next say so.
    expect(text.split('\n')[1]).toBe('    in 9 calls:');
    for (const call of result.calls.filter((c) => c.verdict === 'fail')) expect(text.split('\n')).toContain(`      ${call.id} (${call.callSid})`);
    expect(text.slice(at).split('\n')[1]).toBe('    in the same 9 calls');
    // One stack trace for nine crashes.
    expect(text.match(/at sendGreeting/g)).toHaveLength(1);
    expect(text.search(/^fixture\s+direction/m)).toBeGreaterThan(at);
    expect(text.split('\n').at(-1)).toMatch(/^GATE FAILED 9\/18 calls passed against node test\/servers\/forgetful-outbound\.mjs --port \{port\} in \d+\.\ds$/);
    // Nine copies of each finding with its stack would be several hundred lines.
    expect(text.split('\n').length).toBeLessThan(70);
  });
});

describe('JUnit', () => {
  it('validates against the JUnit schema, and the schema rejects what a reader would', () => {
    expect(xmllintSchema(files.junit)).toEqual({ ok: true, stderr: `${files.junit} validates\n` });
    const xml = readFileSync(files.junit, 'utf8');
    for (const [broken, why] of [
      [xml.replace(/<testcase classname/, '<testcase nom="x" classname').replace(/ name="[^"]*" time/, ' time'), 'a testcase without a name'],
      [xml.replace(/tests="18"/g, 'tests="eighteen"'), 'a count that is not a number'],
      [xml.replace(/timestamp="([^"]+)"/, 'timestamp="$1.000Z"'), 'a timestamp with a zone'],
      [xml.replace(/(<failure[\s\S]*?<\/failure>)\s*(<system-err>[\s\S]*?<\/system-err>)/, '$2$1'), 'system-err before failure'],
    ] as const) {
      const file = path.join(tmp, 'broken.xml');
      writeFileSync(file, broken);
      expect(xmllintSchema(file).ok, why).toBe(false);
    }
  });

  it('each call carries its properties and its own server log lines as system-err', () => {
    const xml = readFileSync(files.junit, 'utf8');
    expect(xml).toContain(`hostname="${os.hostname()}"`);
    expect(xml).toMatch(/timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"/);
    const cases = xml.split('<testcase ').slice(1);
    expect(cases).toHaveLength(18);
    for (const call of result.calls) {
      const body = cases.find((c) => c.includes(`name="${call.id}"`)) ?? '';
      expect(body).toContain(`<property name="callSid" value="${call.callSid}"/>`);
      expect(body).toContain(`<property name="server.audioInChunks" value="${call.serverCounters?.audioInChunks}"/>`);
      if (call.figures.firstAudioMs !== null) expect(body).toContain(`<property name="firstAudioMs" value="${Math.round(call.figures.firstAudioMs!)}"/>`);
      const systemErr = /<system-err>([\s\S]*?)<\/system-err>/.exec(body)?.[1] ?? '';
      if (call.verdict === 'fail') {
        expect(body).toContain('<property name="server.audioOutChunks" value="null"/>');
        expect(systemErr).toContain(`[call ${call.callSid}] error handling message:`);
        expect(systemErr).toContain('TypeError: Cannot read properties of undefined');
        // Not another call's crash.
        for (const other of result.calls) if (other !== call) expect(systemErr).not.toContain(other.callSid);
      } else {
        expect(systemErr).not.toContain('TypeError');
      }
    }
    expect(xml).toMatch(/<property name="firstAudioMs.p50" value="\d+"\/>/);
  });

  it('an interrupted run: the cells not run are skipped, the run itself is an error; still valid', () => {
    const interrupted: GateResult = { ...result, calls: result.calls.slice(0, 4), notRun: result.calls.slice(4).map(({ id, fixture, direction, timing, kind, repeat, cellId }) => ({ id, fixture, direction, timing, kind, repeat, cellId })), interrupted: 'SIGINT', verdict: 'fail' };
    const file = path.join(tmp, 'interrupted.xml');
    writeFileSync(file, formatJunit(interrupted));
    expect(xmllintSchema(file).ok).toBe(true);
    const xml = readFileSync(file, 'utf8');
    expect(xml.match(/<skipped message="not run: the run was interrupted \(SIGINT\)"\/>/g)).toHaveLength(14);
    expect(xml).toMatch(/<testcase classname="callsim.gate.run" name="the run" time="[\d.]+">\s*<error message="the run was interrupted \(SIGINT\) after 4 of 18 calls" type="interrupted"\/>/);
    expect(xml).toMatch(/<testsuite [^>]*tests="19" failures="\d+" errors="1" skipped="14"/);
  });

  it('a run that never started: one error case with the server output, and characters XML cannot carry removed', () => {
    const file = path.join(tmp, 'failed.xml');
    writeFileSync(file, formatJunitFailure('gate', { message: 'cannot start the server: exited with code 3 \u0000\u001b[31m', output: ['Traceback (most recent call last):', 'bad \uFFFF byte \u0007'], target: 'python3 app.py', interrupted: null }, new Date().toISOString(), 1234));
    expect(xmllintSchema(file).ok).toBe(true);
    const xml = readFileSync(file, 'utf8');
    expect(xml).toContain('<error message="cannot start the server: exited with code 3 [31m" type="run-failure"/>');
    expect(xml).toContain('<system-err>Traceback (most recent call last):\nbad  byte </system-err>');
    expect(xml).toMatch(/tests="1" failures="0" errors="1"/);
  });
});

describe('the github reporter', () => {
  it('one ::error annotation per failing call, escaped as a workflow command, none for the passing ones', () => {
    const lines = stderr.text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(9);
    const failing = result.calls.filter((c) => c.verdict === 'fail');
    for (const [i, line] of lines.entries()) {
      expect(line.startsWith(`::error title=callsim gate%3A ${failing[i]!.id}::`)).toBe(true);
      expect(line).toContain('%0Acrash-signature: TypeError in server stderr');
      expect(line.endsWith(`%0AcallSid ${failing[i]!.callSid}`)).toBe(true);
    }
  });

  it('what a server printed can neither end the command nor start another', () => {
    const forged = { ...result, calls: [{ ...result.calls.find((c) => c.verdict === 'fail')!, findings: [{ kind: 'crash-signature' as const, message: 'boom\n::error::forged 100%\r\n::add-mask::x', lines: [] }] }] };
    const [annotation] = githubAnnotations(forged, 'gate');
    expect(annotation?.split('\n').filter(Boolean)).toHaveLength(1);
    expect(annotation).toContain('boom\\n::error::forged 100%25\\r\\n::add-mask::x');
  });

  it('past ten, nine annotations and a tenth that says how many more (GitHub shows ten a step)', () => {
    const failing = result.calls.filter((c) => c.verdict === 'fail');
    const many = { ...result, calls: [...failing, ...failing.map((c) => ({ ...c, id: `${c.id} again` }))] };
    const out = githubAnnotations(many, 'gate');
    expect(out).toHaveLength(10);
    expect(out[9]).toMatch(/^::error title=callsim gate%3A 9 more failures::9 more failing calls or problems than GitHub shows as annotations: see the job summary\n$/);
  });

  it('a Markdown job summary: verdict, figures, the grouped findings and every call', () => {
    const md = readFileSync(files.summary, 'utf8');
    expect(md).toBe(githubSummary(result, 'gate'));
    expect(md.split('\n')[0]).toBe('## callsim gate: failed ❌');
    expect(md).toContain('**9/18 calls passed** against node test/servers/forgetful-outbound.mjs --port {port} in ');
    expect(md).toMatch(/\| first audio \| p50 \d+ ms · p95 \d+ ms · max \d+ ms \(18 calls\) \|/);
    expect(md).toContain('| response latency | not measured by this run |');
    expect(md).toContain("- **crash-signature**: TypeError in server stderr: TypeError: Cannot read properties of undefined (reading 'push') — in 9 calls");
    expect(md.match(/^\| .* \| \*\*FAIL\*\* \|/gm)).toHaveLength(9);
  });

  it('appends to $GITHUB_STEP_SUMMARY when given no file', async () => {
    const summary = path.join(tmp, 'step-summary.md');
    writeFileSync(summary, '# earlier step\n');
    const before = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summary;
    try {
      await new ReporterGroup([{ name: 'github', file: null }], { command: 'gate', stdout: new Capture(), stderr: new Capture() }).onRunEnd({ result, replay: null });
    } finally {
      if (before === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = before;
    }
    const text = readFileSync(summary, 'utf8');
    expect(text.startsWith('# earlier step\n## callsim gate: failed ❌\n')).toBe(true);
  });
});

describe('the JSON report', () => {
  it('with --timeline, every call carries its timeline', () => {
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as { calls: Array<{ framesSent: number; timeline: { caller: { t: number[] } } | null }> };
    expect(json.calls).toHaveLength(18);
    for (const call of json.calls) expect(call.timeline?.caller.t).toHaveLength(call.framesSent);
  });
});

// ---- the HTML report in a real browser ---------------------------------------------------------

interface PageCheck {
  /** Requests the page made for anything but itself. */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

let context: BrowserContext;
let server: http.Server;
let base = '';
const pages = new Map<string, string>();

beforeAll(async () => {
  // Served from loopback, so that every request the page could make goes through the route below.
  server = http.createServer((req, res) => {
    const body = pages.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  context = await chromium.launchPersistentContext(mkdtempSync(path.join(os.tmpdir(), 'callsim-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
});
afterAll(async () => {
  await context?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

/** Opens `html` as a page and watches it: every request but the page's own is stopped and noted. */
async function open(name: string, html: string): Promise<{ page: Page; check: PageCheck }> {
  pages.set(`/${name}`, html);
  const page = await context.newPage();
  const check: PageCheck = { requests: [], errors: [] };
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === `${base}/${name}`) return route.continue();
    check.requests.push(url);
    return route.abort();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') check.errors.push(message.text());
  });
  page.on('pageerror', (error) => check.errors.push(error.message));
  await page.goto(`${base}/${name}`, { waitUntil: 'load' });
  await page.waitForTimeout(200);
  return { page, check };
}

describe('the HTML report', () => {
  it('is one file with nothing to fetch: no URL outside the page but data: ones', () => {
    const html = readFileSync(files.html, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-[^']+'; script-src 'sha256-[^']+'; img-src data:; media-src data:/);
    expect(html).not.toMatch(/\b(?:src|href)="(?!#|data:)/);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('in Chromium: no request, no console error, one timeline per call, the failing calls’ findings on view', async () => {
    const { page, check } = await open('gate.html', readFileSync(files.html, 'utf8'));
    try {
      expect(check).toEqual({ requests: [], errors: [] });
      expect(await page.locator('.timeline').count()).toBe(result.calls.length);
      expect(await page.locator('#verdict').textContent()).toBe('failed');
      const failing = page.locator('details.call.fail');
      expect(await failing.count()).toBe(9);
      for (let i = 0; i < 9; i++) {
        const section = failing.nth(i);
        await expect.poll(() => section.locator('.timeline svg').count()).toBe(1);
        const finding = section.locator('li.finding', { hasText: "TypeError: Cannot read properties of undefined (reading 'push')" });
        expect(await finding.isVisible()).toBe(true);
        // The crash is on the timeline, at the moment it was printed.
        expect(await section.locator('.timeline svg path.note').count()).toBeGreaterThan(0);
      }
      // A passing call is closed; opening it draws its timeline.
      const passing = page.locator('details.call.pass').first();
      expect(await passing.locator('.timeline svg').count()).toBe(0);
      await passing.locator('> summary').click();
      await expect.poll(() => passing.locator('.timeline svg').count()).toBe(1);
      // The filter: only the outbound calls.
      await page.selectOption('select[data-filter="direction"]', 'outbound');
      expect(await page.locator('tr.row:visible').count()).toBe(9);
      expect(await page.locator('#filter-count').textContent()).toBe('9 of 18 calls');
      await page.selectOption('select[data-filter="direction"]', '');
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'html-report.png'), fullPage: true });
      expect(check).toEqual({ requests: [], errors: [] });
    } finally {
      await page.close();
    }
  });

  it('on a phone (390 px): nothing wider than the screen, the timeline fitted to it', async () => {
    const { page, check } = await open('gate-phone.html', readFileSync(files.html, 'utf8'));
    try {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(300);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      const svgWidth = await page.locator('details.call.fail .timeline svg').first().evaluate((svg) => svg.getBoundingClientRect().width);
      expect(svgWidth).toBeLessThanOrEqual(390);
      expect(svgWidth).toBeGreaterThan(280);
      await page.screenshot({ path: path.join(ARTIFACTS, 'html-report-phone.png'), fullPage: false });
      expect(check).toEqual({ requests: [], errors: [] });
    } finally {
      await page.close();
    }
  });

  it('the check can fail: a page that loads an image is caught (blocked by the CSP, and seen when there is none)', async () => {
    const html = readFileSync(files.html, 'utf8');
    const leaking = html.replace('</main>', `<img src="${base}/leak.png" alt=""></main>`);
    const withCsp = await open('leak-csp.html', leaking);
    expect(withCsp.check.errors.join('\n')).toMatch(/Content Security Policy/);
    await withCsp.page.close();
    const withoutCsp = await open('leak.html', leaking.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''));
    expect(withoutCsp.check.requests).toEqual([`${base}/leak.png`]);
    await withoutCsp.page.close();
  });

  it('a run that never started is a page too, saying why', async () => {
    const html = formatHtmlFailure({ message: 'cannot start the server: exited with code 3 <b>not bold</b>', output: ['Error: listen EADDRINUSE'], target: 'node server.js', interrupted: null }, 'gate', new Date().toISOString(), 500);
    const { page, check } = await open('failed.html', html);
    try {
      expect(await page.locator('#run-failure').textContent()).toBe('cannot start the server: exited with code 3 <b>not bold</b>');
      expect(await page.locator('#verdict').textContent()).toBe('could not run');
      expect(check).toEqual({ requests: [], errors: [] });
    } finally {
      await page.close();
    }
  });
});
