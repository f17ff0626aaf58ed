// The pre-deploy gate against real servers: the built-in one, and planted faulty ones started as
// child processes (Node and Python), exactly as a CI step would run them.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runGate, type GateCallResult } from '../src/gate/gate.js';
import * as forgetfulOutbound from './servers/forgetful-outbound.mjs';
import { GATE_CONFIG_SCHEMA, GateConfigError, loadGateConfig, validateGateConfig } from '../src/gate/config.js';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-gate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function byId(calls: GateCallResult[], direction: string, timing: string): GateCallResult {
  const call = calls.find((c) => c.direction === direction && c.timing === timing);
  if (!call) throw new Error(`no ${direction} ${timing} call in the result`);
  return call;
}

function findingText(call: GateCallResult): string {
  return call.findings.map((f) => `${f.kind}: ${f.message}\n${f.lines.join('\n')}`).join('\n');
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/callsim.js', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('callsim gate', () => {
  it('passes every direction and timing against the built-in server', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound', 'outbound'],
      timings: ['realtime', 'burst', 'early-media'],
      speed: 4,
      concurrency: 3,
      target: { kind: 'builtin' },
      expectAudio: true,
    });
    expect(result.calls).toHaveLength(6);
    expect(result.calls.map((c) => [c.id, c.findings])).toEqual(result.calls.map((c) => [c.id, []]));
    expect(result.verdict).toBe('pass');
    for (const call of result.calls) {
      expect(call.serverCounters?.audioInChunks).toBe(call.framesSent);
      expect(call.serverCounters?.audioOutChunks).toBe(call.framesReceived);
      expect(call.framesReceived).toBeGreaterThan(0);
    }
  });

  it('names the outbound calls of a server that uses a counter only the inbound path set', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound', 'outbound'],
      timings: ['realtime', 'burst'],
      speed: 4,
      concurrency: 2,
      target: { kind: 'command', command: 'node test/servers/forgetful-outbound.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: true,
    });
    expect(result.verdict).toBe('fail');
    for (const timing of ['realtime', 'burst']) {
      expect(byId(result.calls, 'inbound', timing).findings).toEqual([]);
      const outbound = byId(result.calls, 'outbound', timing);
      expect(outbound.verdict).toBe('fail');
      const text = findingText(outbound);
      expect(text).toContain("TypeError: Cannot read properties of undefined (reading 'push')");
      expect(text).toMatch(/audioOutChunks is null/);
      expect(outbound.serverCounters?.audioOutChunks).toBeNull();
      expect(outbound.findings.some((f) => f.kind === 'crash-signature')).toBe(true);
    }
  });

  it('a --url target is dialled directly: the direction reaches the server only through --param direction={direction}, and the run says so', async () => {
    const planted = await forgetfulOutbound.start({ port: 0, quiet: true });
    try {
      const run = (params?: Record<string, string>) =>
        runGate({
          fixtures: [FIXTURE],
          directions: ['inbound', 'outbound'],
          timings: ['burst'],
          speed: 4,
          concurrency: 2,
          target: { kind: 'url', url: `ws://127.0.0.1:${planted.port}/media` },
          expectAudio: true,
          ...(params !== undefined ? { placement: { params } } : {}),
        });
      const labelled = await run();
      // The outbound path never ran: both calls pass, and the run says why that proves nothing.
      expect(labelled.calls.map((c) => [c.direction, c.placement, c.verdict])).toEqual([['inbound', 'direct', 'pass'], ['outbound', 'direct', 'pass']]);
      // A --url target without --simulator-url: the model side cannot be seen, and the run says so.
      const blind = 'model-side checks skipped on every call: no model leg seen: a --url server is watched only through a callsim simulator it uses (--simulator-url)';
      expect(labelled.notes).toEqual(['2 of 2 calls ran in direct mode (no webhook step): the direction only labels them, and the server could not learn it (give --param name={direction}, or a webhook)', blind]);
      const carried = await run({ direction: '{direction}' });
      expect(byId(carried.calls, 'inbound', 'burst').verdict).toBe('pass');
      expect(byId(carried.calls, 'outbound', 'burst').verdict).toBe('fail');
      expect(carried.notes[0]).toMatch(/learned the direction only from the parameter direction/);
      // Through its webhook, as Twilio calls it, the same server fails the same way.
      const hooked = await runGate({
        fixtures: [FIXTURE], directions: ['outbound'], timings: ['burst'], speed: 4, concurrency: 1,
        target: { kind: 'url', url: `ws://127.0.0.1:${planted.port}/media` }, expectAudio: true, placement: { webhook: { path: '/twiml' } },
      });
      expect(hooked.calls.map((c) => [c.placement, c.verdict])).toEqual([['webhook', 'fail']]);
      expect(hooked.notes).toEqual([blind]);
    } finally {
      await planted.close();
    }
  });

  it('a server command without a webhook: /twiml answers 404, the calls run in direct mode, and the run says so', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound'],
      timings: ['burst'],
      speed: 4,
      concurrency: 1,
      target: { kind: 'command', command: 'node test/servers/wrong-streamsid.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: false,
    });
    expect(result.calls[0]?.placement).toBe('direct');
    expect(result.notes.join('\n')).toMatch(/the target has no voice webhook at http:\/\/127\.0\.0\.1:\d+\/twiml \(HTTP 404\): the call was dialled directly/);
  });

  it('catches a server that crashes only under burst timing', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound'],
      timings: ['realtime', 'early-media', 'burst'],
      speed: 1, // the planted server keeps up with real time, not faster
      concurrency: 1,
      target: { kind: 'command', command: 'node test/servers/burst-race.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: true,
    });
    expect(byId(result.calls, 'inbound', 'realtime').findings).toEqual([]);
    expect(byId(result.calls, 'inbound', 'early-media').findings).toEqual([]);
    const burst = byId(result.calls, 'inbound', 'burst');
    expect(burst.verdict).toBe('fail');
    expect(findingText(burst)).toContain('TypeError: Cannot set properties of undefined');
    expect(burst.findings.map((f) => f.kind)).toContain('server-exit');
    expect(result.serverExit).toBe('exited with code 1');
  });

  it('does not blame a call for what the server prints once the gate stops it', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound'],
      timings: ['burst'],
      speed: 4,
      concurrency: 1,
      target: { kind: 'command', command: 'CALLSIM_TEST_NOISY_SHUTDOWN=1 node test/servers/forgetful-outbound.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: true,
    });
    expect(result.unattributed).toEqual([]);
    expect(result.calls.map((c) => c.findings)).toEqual([[]]);
    expect(result.verdict).toBe('pass');
  });

  it('runs a Python server through --server-cmd and reports its AttributeError on the outbound path', async () => {
    const result = await runGate({
      fixtures: [FIXTURE],
      directions: ['inbound', 'outbound'],
      timings: ['burst'],
      speed: 4,
      concurrency: 2,
      target: { kind: 'command', command: 'python3 test/servers/attribute_error_server.py --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: true,
    });
    expect(byId(result.calls, 'inbound', 'burst').findings).toEqual([]);
    const outbound = byId(result.calls, 'outbound', 'burst');
    expect(outbound.verdict).toBe('fail');
    const crash = outbound.findings.find((f) => f.kind === 'crash-signature');
    expect(crash?.message).toContain("AttributeError: 'Call' object has no attribute 'greeting_marks'");
    expect(crash?.lines.join('\n')).toContain('Traceback (most recent call last)');
    // The traceback belongs to the outbound call alone.
    expect(result.unattributed).toEqual([]);
  });

  it('as a CLI: exit 1 with a JUnit report naming the failing call, exit 2 on bad usage', async () => {
    const junit = path.join(tmp, 'gate.xml');
    const failed = await runCli(['gate', FIXTURE, '--server-cmd', 'node test/servers/forgetful-outbound.mjs --port {port}', '--timing', 'burst', '--junit', junit]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('GATE FAILED');
    expect(failed.stdout).toMatch(/hello-8k-mulaw\.wav\s+outbound\s+burst\s+FAIL/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="callsim gate" tests="2" failures="1"/);
    // The call's properties come first, then its failure.
    expect(xml).toMatch(/<testcase classname="callsim.gate.outbound" name="hello-8k-mulaw.wav outbound burst"[^>]*>\s*(?:<properties>(?:\s*<property [^>]*\/>)*\s*<\/properties>\s*)?<failure message="[^"]+"/);
    expect(xml).toContain('TypeError');

    expect((await runCli(['gate', '--timing', 'sometimes'])).code).toBe(2);
    const empty = await runCli(['gate', FIXTURE, '--direction', ',']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('nothing to test');
    const noFolder = await runCli(['gate', FIXTURE, '--junit', path.join(tmp, 'missing', 'gate.xml')]);
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr).toContain('does not exist');
    // A file where the folder should be: refused up front, not after the run.
    const fileAsFolder = await runCli(['gate', FIXTURE, '--junit', path.join(FIXTURE, 'gate.xml')]);
    expect(fileAsFolder.code).toBe(2);
    expect(fileAsFolder.stderr).toContain('is not a directory');
    const missing = await runCli(['gate', 'fixtures/nope.wav']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('fixtures/nope.wav: file not found');
    const badConfig = path.join(tmp, 'bad.json');
    writeFileSync(badConfig, JSON.stringify({ gate: { concurency: 2 } }));
    const bad = await runCli(['gate', '--config', badConfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown key gate.concurency');

    // The webhook choice is one choice, and --param belongs to direct mode.
    const [both, paramOnBuiltin, badDelay, badMethod] = await Promise.all([
      runCli(['gate', FIXTURE, '--webhook', 'http://127.0.0.1:9/twiml', '--webhook-path', '/twiml']),
      runCli(['gate', FIXTURE, '--param', 'direction={direction}']),
      runCli(['gate', FIXTURE, '--network-delay-ms', '40-20']),
      runCli(['gate', FIXTURE, '--webhook-method', 'PUT']),
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('use --webhook or --webhook-path, not both');
    expect(paramOnBuiltin.code).toBe(2);
    expect(paramOnBuiltin.stderr).toContain('--param sets customParameters in direct mode only');
    expect(badDelay.code).toBe(2);
    expect(badDelay.stderr).toContain('network delay range 40–20 ms is empty');
    expect(badMethod.code).toBe(2);
    expect(badMethod.stderr).toContain('a webhook method is GET or POST');
  });

  it('reads callsim.config.json and prints the matrix', async () => {
    const config = path.join(tmp, 'callsim.config.json');
    writeFileSync(config, JSON.stringify({ gate: { fixtures: [FIXTURE], directions: ['outbound'], timings: ['burst'], json: path.join(tmp, 'gate.json') } }));
    // The fixture named twice (by file and by its folder's listing) is replayed once.
    const ok = await runCli(['gate', '--config', config, FIXTURE, FIXTURE]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/hello-8k-mulaw\.wav\s+outbound\s+burst\s+pass/);
    expect(ok.stdout).toContain('GATE PASSED 1/1');
    const json = JSON.parse(readFileSync(path.join(tmp, 'gate.json'), 'utf8')) as { verdict: string; calls: unknown[] };
    expect(json.verdict).toBe('pass');
    expect(json.calls).toHaveLength(1);
  });

  it('--reporter junit=FILE --reporter json=FILE2 writes both, and only those: no table, no progress', async () => {
    const junit = path.join(tmp, 'reported.xml');
    const json = path.join(tmp, 'reported.json');
    const run = await runCli(['gate', FIXTURE, '--server-cmd', 'node test/servers/forgetful-outbound.mjs --port {port}', '--timing', 'burst', '--reporter', `junit=${junit}`, '--reporter', `json=${json}`]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toContain('[1/2]');
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="callsim gate" tests="2" failures="1"/);
    const result = JSON.parse(readFileSync(json, 'utf8')) as { verdict: string; calls: Array<{ id: string; verdict: string }> };
    expect(result.verdict).toBe('fail');
    expect(result.calls.map((c) => [c.id, c.verdict])).toEqual([
      ['hello-8k-mulaw.wav inbound burst', 'pass'],
      ['hello-8k-mulaw.wav outbound burst', 'fail'],
    ]);
  });

  it('--reporter: an unknown name, two reports on stdout or a missing folder are usage errors before any call', async () => {
    const [unknown, twoOnStdout, noFolder] = await Promise.all([
      runCli(['gate', FIXTURE, '--reporter', 'pdf=report.pdf']),
      runCli(['gate', FIXTURE, '--reporter', 'table', '--json']),
      runCli(['gate', FIXTURE, '--reporter', `json=${path.join(tmp, 'missing', 'gate.json')}`]),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown reporter "pdf" (known: table, json, junit, html, github, progress)');
    expect(twoOnStdout.code).toBe(2);
    expect(twoOnStdout.stderr).toContain('only one report can go to stdout');
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr).toContain('does not exist');
    for (const run of [unknown, twoOnStdout, noFolder]) expect(run.stdout).toBe('');
  });
});

describe('callsim.config.json (gate/config.ts)', () => {
  const file = 'callsim.config.json';
  const problem = (gate: unknown): string => {
    try {
      validateGateConfig(file, { gate });
    } catch (err) {
      expect(err).toBeInstanceOf(GateConfigError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('accepts a full gate object, wrapped in "gate" or bare', () => {
    const gate = {
      fixtures: ['fixtures'], directions: ['inbound', 'outbound'], timings: ['realtime', 'burst', 'early-media'], speed: 1, concurrency: 4, serverCmd: 'node server.js', junit: 'gate.xml', expectAudio: false, tailMs: 0,
      webhookPath: '/incoming-call', webhookMethod: 'GET', params: { direction: '{direction}' }, allowServerHangup: true, networkDelayMs: '20-40', congestionMs: 500,
    };
    expect(validateGateConfig(file, { gate })).toEqual(gate);
    expect(validateGateConfig(file, gate)).toEqual(gate);
    expect(validateGateConfig(file, { gate: { webhook: false } })).toEqual({ webhook: false });
    expect(validateGateConfig(file, { gate: { webhook: 'https://agent.example.com/twiml', networkDelayMs: 30 } })).toEqual({ webhook: 'https://agent.example.com/twiml', networkDelayMs: 30 });
  });

  it('names the file and the key, and says what the key must be', () => {
    expect(problem({ concurency: 2 })).toMatch(/^callsim\.config\.json: unknown key gate\.concurency \(known: fixtures, directions, timings, speed, concurrency, /);
    expect(problem({ speed: 0 })).toBe('callsim.config.json: gate.speed must be a number > 0');
    expect(problem({ speed: '2' })).toBe('callsim.config.json: gate.speed must be a number > 0');
    expect(problem({ directions: ['inbound', 'sideways'] })).toBe('callsim.config.json: gate.directions must be an array of inbound|outbound');
    expect(problem({ timings: 'burst' })).toBe('callsim.config.json: gate.timings must be an array of realtime|burst|early-media');
    expect(problem({ readyTimeoutMs: 99 })).toBe('callsim.config.json: gate.readyTimeoutMs must be a number ≥ 100');
    expect(problem({ serverCmd: '' })).toBe('callsim.config.json: gate.serverCmd must be a non-empty string');
    expect(problem({ expectAudio: 'yes' })).toBe('callsim.config.json: gate.expectAudio must be true or false');
    expect(problem({ webhook: 'ftp://agent/twiml' })).toBe('callsim.config.json: gate.webhook must be an http(s) URL, or false for direct mode');
    expect(problem({ webhook: true })).toBe('callsim.config.json: gate.webhook must be an http(s) URL, or false for direct mode');
    expect(problem({ webhookPath: 'twiml' })).toBe('callsim.config.json: gate.webhookPath must be a path starting with /');
    expect(problem({ params: { direction: 1 } })).toBe('callsim.config.json: gate.params must be an object of string values');
    expect(problem({ networkDelayMs: 'slow' })).toBe('callsim.config.json: gate.networkDelayMs must be a number ≥ 0 or a range like "20-40"');
    expect(problem([])).toBe('callsim.config.json: expected an object with a "gate" object');
  });

  it('reads files: not found and not JSON are errors with the file name', () => {
    const notJson = path.join(tmp, 'not.json');
    writeFileSync(notJson, '{ gate: ');
    expect(() => loadGateConfig(path.join(tmp, 'nope.json'))).toThrow(/nope\.json: file not found/);
    expect(() => loadGateConfig(notJson)).toThrow(/not\.json: not valid JSON/);
  });

  it('the same schema gives a JSON Schema (for editors; issue 15 ships it)', () => {
    const schema = z.toJSONSchema(GATE_CONFIG_SCHEMA) as { additionalProperties: boolean; properties: Record<string, { type?: string; exclusiveMinimum?: number }> };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toContain('serverCmd');
    expect(schema.properties.speed).toMatchObject({ type: 'number', exclusiveMinimum: 0 });
  });
});
