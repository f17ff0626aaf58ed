// Nothing a server sends can forge callsim's own output: against a server whose close reason,
// events, /calls answer and crash lines are full of newlines, carriage returns, ANSI escapes
// (clear screen, window title), bidi overrides, U+2028 and U+FFFE, `callsim replay` and `callsim
// gate` print all of it escaped, no line of theirs can be a forged "PASS", and the JUnit file
// stays well-formed XML.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import * as hostileText from './servers/hostile-text.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin/callsim.js');
const HELLO = join(ROOT, 'fixtures/hello-8k-mulaw.wav');
/** What must never reach a terminal from a peer (newline and tab are callsim's own layout). */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]/;

const closers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const server of closers.splice(0)) await server.close();
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

function expectClean(output: string): void {
  const bad = UNSAFE.exec(output);
  expect(bad === null ? null : `U+${(bad[0].codePointAt(0) ?? 0).toString(16)} at ${bad.index}: ${JSON.stringify(output.slice(Math.max(0, bad.index - 40), bad.index + 40))}`).toBeNull();
  for (const line of output.split('\n')) expect(line).not.toMatch(/^\s*(?:✓\s*)?PASS\b/);
}

describe('a server whose strings attack the terminal', () => {
  it('callsim replay: every server string escaped on its own line, the call failed, no forged PASS', async () => {
    const server = await hostileText.start({ port: 0, quiet: true });
    closers.push(server);
    const { code, stdout, stderr } = await run(['replay', '--url', `ws://127.0.0.1:${server.port}/media`, '--stats-url', `http://127.0.0.1:${server.port}`, '--burst', '--tail', '0', HELLO]);
    expect(code).toBe(1);
    expectClean(stdout);
    expectClean(stderr);
    expect(stdout).toMatch(/^FAIL /m);
    // What the server said is still there, visibly: its close reason, its unknown event, its counters.
    expect(stdout).toContain('\\x1b]0;pwned\\x07');
    expect(stdout).toContain('unknown event "bogus\\r\\n\\u001b[2J');
    expect(stdout).toContain('evil\\r\\n');
  });

  it('callsim replay --json: the report parses and its strings carry no control character', async () => {
    const server = await hostileText.start({ port: 0, quiet: true });
    closers.push(server);
    const { code, stdout } = await run(['replay', '--url', `ws://127.0.0.1:${server.port}/media`, '--stats-url', `http://127.0.0.1:${server.port}`, '--burst', '--tail', '0', '--json', HELLO]);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { verdict: string; failures: string[]; call: { closeReason: string; wireErrors: Array<{ example: string }> }; stats: { note: string | null; counters: Record<string, unknown> } };
    expect(report.verdict).toBe('fail');
    for (const text of [...report.failures, report.call.closeReason, ...report.call.wireErrors.map((e) => e.example), ...Object.keys(report.stats.counters)]) expectClean(text);
  });

  it('callsim gate --server-cmd: crash lines, findings and the JUnit file escaped; the JUnit is well-formed XML', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callsim-injection-'));
    try {
      const junit = join(dir, 'gate.xml');
      const { code, stdout, stderr } = await run([
        'gate',
        '--server-cmd',
        `${process.execPath} ${join(ROOT, 'test/servers/hostile-text.mjs')} --port {port}`,
        '--direction',
        'inbound',
        '--timing',
        'burst',
        '--junit',
        junit,
        HELLO,
      ]);
      expect(code).toBe(1);
      expectClean(stdout);
      expectClean(stderr);
      expect(stdout).toContain('GATE FAILED');
      // The crash line the server printed is a finding (its \r ends a line, as on a terminal), escaped.
      expect(stdout).toMatch(/crash-signature: TypeError in server stderr: TypeError: call CA[0-9a-f]{32} failed\n/);
      expect(stdout).toContain('| \\x1b[2J\\x1b]0;pwned\\x07\\u202e\\u2028\\ufffePASS healthy call');
      const xml = readFileSync(junit, 'utf8');
      expectClean(xml.replace(/\n/g, ''));
      const lint = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile('xmllint', ['--noout', junit], (error, _out, err) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr: err }));
      });
      expect(lint).toEqual({ code: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
