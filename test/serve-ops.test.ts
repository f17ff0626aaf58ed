// `callsim serve` as an operator meets it: a start that cannot listen is one line and exit 2,
// with nothing left listening; GET /metrics is Prometheus text (parsed here by a Prometheus
// text-format parser) whose counters match what GET /calls says of the same calls, served under
// the same rules as /calls.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { runReplay } from '../src/caller/replay.js';
import { startMediaServer, type RunningMediaServer } from '../src/server/media-server.js';
import type { CallSnapshot } from '../src/server/call-snapshot.js';
import { eventually, RawTwilio, SILENT_FRAME } from './helpers/raw-twilio.js';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const servers: RunningMediaServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(options: Parameters<typeof startMediaServer>[0] = {}): Promise<RunningMediaServer> {
  const server = await startMediaServer({ port: 0, quiet: true, ...options });
  servers.push(server);
  return server;
}

async function blockedPort(): Promise<{ port: number; release(): Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  return { port: (blocker.address() as net.AddressInfo).port, release: () => new Promise((resolve) => blocker.close(() => resolve())) };
}

function serveCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const began = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/callsim.js', 'serve', ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - began });
    });
  });
}

/** Listening sockets this process holds (an http server, an embedded simulator). */
function listeners(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
}

describe('callsim serve that cannot listen', () => {
  it('a port in use: one line with a hint, exit 2 within a second, and the process gone', async () => {
    const blocked = await blockedPort();
    try {
      const run = await serveCli(['--port', String(blocked.port)]);
      expect(run.code).toBe(2);
      expect(run.ms).toBeLessThan(1000);
      expect(run.stderr).toBe(`callsim serve: cannot listen on 127.0.0.1:${blocked.port}: the port is in use (--port 0 picks a free one)\n`);
      expect(run.stdout).toBe('');
    } finally {
      await blocked.release();
    }
  });

  it('a /calls token shorter than 16 characters, from the option or CALLSIM_CALLS_TOKEN: one line, exit 2', async () => {
    const run = await serveCli(['--port', '0', '--calls-token', 'short']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^callsim serve: .*--calls-token.*at least 16 characters/);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stdout).toBe('');
    process.env.CALLSIM_CALLS_TOKEN = 'short';
    try {
      const fromEnv = await serveCli(['--port', '0']);
      expect(fromEnv.code).toBe(2);
      expect(fromEnv.stderr).toMatch(/at least 16 characters/);
    } finally {
      delete process.env.CALLSIM_CALLS_TOKEN;
    }
  });

  it('an address this machine does not have: one line, exit 2, a hint about --host', async () => {
    const run = await serveCli(['--host', '203.0.113.9', '--port', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('callsim serve: cannot listen on 203.0.113.9:0: no such address on this machine (--host 127.0.0.1, or 0.0.0.0 for every interface)\n');
  });

  it('in-process: startMediaServer rejects, and leaves nothing listening (its embedded simulator closed)', async () => {
    const blocked = await blockedPort();
    try {
      const before = listeners();
      await expect(startMediaServer({ port: blocked.port, quiet: true })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      // Handles go once their close callbacks have run, a few ms after.
      expect(await eventually(listeners, (n) => n === before, 1000)).toBe(before);
      // The count can move: a server that did start holds two (itself and its simulator).
      const running = await serve();
      expect(listeners()).toBe(before + 2);
      await running.close();
      servers.splice(servers.indexOf(running), 1);
      expect(await eventually(listeners, (n) => n === before, 1000)).toBe(before);
    } finally {
      await blocked.release();
    }
  });
});

function family(families: PrometheusFamily[], name: string): PrometheusFamily {
  const found = families.find((f) => f.name === name);
  if (!found) throw new Error(`no metric ${name}`);
  return found;
}

function value(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  const sample = family(families, name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(sample.value ?? sample.count);
}

async function scrape(server: RunningMediaServer): Promise<{ families: PrometheusFamily[]; contentType: string | null }> {
  const response = await fetch(`${server.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  return { families: parsePrometheusTextFormat(await response.text()), contentType: response.headers.get('content-type') };
}

const sum = (calls: CallSnapshot[], pick: (c: CallSnapshot) => number): number => calls.reduce((total, c) => total + pick(c), 0);

describe('GET /metrics', () => {
  it('Prometheus text whose counters match GET /calls, by direction, with errors by code and latency histograms', async () => {
    const server = await serve();
    const [inbound, outbound] = await Promise.all([
      // Through the server's voice webhook, as Twilio calls: that is how it learns each call's direction.
      runReplay({ file: FIXTURE, url: server.wsUrl, webhook: { path: '/twiml' }, direction: 'inbound', timing: { mode: 'burst' }, tailMs: 400, expectAudio: true }),
      runReplay({ file: FIXTURE, url: server.wsUrl, webhook: { path: '/twiml' }, direction: 'outbound', timing: { mode: 'realtime', speed: 4 }, tailMs: 400, expectAudio: true }),
    ]);
    expect([inbound.verdict, outbound.verdict]).toEqual(['pass', 'pass']);
    // A caller who sends garbage: its errors are counted by their codes.
    const raw = new RawTwilio(server.wsUrl);
    await raw.opened;
    raw.connected();
    raw.start('inbound');
    raw.send('{ not json');
    raw.send({ event: 'dance' });
    raw.sendMedia(SILENT_FRAME);
    raw.stop();
    await raw.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));

    // GET /calls is a page of summaries; each call's details (its error records) are at /calls/:callSid.
    const page = ((await (await fetch(`${server.httpUrl}/calls`)).json()) as { calls: Array<{ callSid: string }> }).calls;
    const calls = await Promise.all(page.map(async (c) => (await (await fetch(`${server.httpUrl}/calls/${c.callSid}`)).json()) as CallSnapshot));
    expect(calls).toHaveLength(3);
    const { families, contentType } = await scrape(server);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const direction of ['inbound', 'outbound'] as const) {
      const mine = calls.filter((c) => c.direction === direction);
      expect(value(families, 'callsim_calls_started_total', { direction })).toBe(mine.length);
      expect(value(families, 'callsim_calls_ended_total', { direction })).toBe(mine.length);
      expect(value(families, 'callsim_calls_live', { direction })).toBe(0);
      expect(value(families, 'callsim_audio_in_chunks_total', { direction })).toBe(sum(mine, (c) => c.counters.audioInChunks));
      expect(value(families, 'callsim_audio_out_chunks_total', { direction })).toBe(sum(mine, (c) => c.counters.audioOutChunks));
      expect(value(families, 'callsim_model_reconnects_total', { direction })).toBe(sum(mine, (c) => c.counters.modelReconnects));
      expect(value(families, 'callsim_backlog_warnings_total', { direction, queue: 'twilio' })).toBe(sum(mine, (c) => c.counters.backlogWarnings));
      expect(value(families, 'callsim_backlog_warnings_total', { direction, queue: 'model' })).toBe(sum(mine, (c) => c.counters.modelBacklogWarnings));
    }
    expect(value(families, 'callsim_audio_in_chunks_total', { direction: 'inbound' })).toBe(inbound.call.framesSent + 1);
    const codes = new Map<string, number>();
    for (const error of calls.flatMap((c) => c.errors)) codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
    expect([...codes.keys()].sort()).toEqual(['malformed_json', 'unknown_event']);
    for (const [code, count] of codes) expect(value(families, 'callsim_call_errors_total', { code })).toBe(count);

    const forwarding = family(families, 'callsim_forwarding_latency_seconds');
    expect(forwarding.type).toBe('HISTOGRAM');
    // One observation per append to the model: every caller frame, when one frame is one append.
    const appended = sum(calls, (c) => c.counters.modelAudioAppends - c.queues.toModel);
    expect(Number(forwarding.metrics[0]?.count)).toBe(appended);
    const firstAudio = family(families, 'callsim_first_audio_latency_seconds');
    expect(Number(firstAudio.metrics[0]?.count)).toBe(calls.filter((c) => c.counters.audioOutChunks > 0).length);
    // The server's first audio can only come after the caller's own clock started; it is no later than the caller heard it.
    expect(Number(firstAudio.metrics[0]?.sum)).toBeGreaterThan(0);
    expect(Number(firstAudio.metrics[0]?.sum)).toBeLessThanOrEqual(((inbound.call.firstAudioLatencyMs ?? 0) + (outbound.call.firstAudioLatencyMs ?? 0)) / 1000 + 0.1);
    expect(value(families, 'callsim_refused_total', { reason: 'capacity' })).toBe(0);
  });

  it('counts a live call as live, and its frames so far', async () => {
    const server = await serve();
    const raw = new RawTwilio(server.wsUrl);
    await raw.opened;
    raw.connected();
    raw.start('outbound');
    for (let i = 0; i < 7; i++) raw.sendMedia(SILENT_FRAME);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const { families } = await scrape(server);
    expect(value(families, 'callsim_calls_live', { direction: 'outbound' })).toBe(1);
    expect(value(families, 'callsim_audio_in_chunks_total', { direction: 'outbound' })).toBe(7);
    expect(value(families, 'callsim_calls_ended_total', { direction: 'outbound' })).toBe(0);
    raw.stop();
    await raw.closed;
  });

  it('under the rules of /calls: none with --no-calls-endpoint', async () => {
    const server = await serve({ exposeCalls: false });
    expect((await fetch(`${server.httpUrl}/metrics`)).status).toBe(404);
  });

  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

  it.skipIf(external === undefined)('and with --calls-localhost-only, 403 to any peer but loopback (counted)', async () => {
    const server = await serve({ host: '0.0.0.0', callsLocalOnly: true });
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200);
    const remote = await fetch(`http://${external ?? ''}:${server.port}/metrics`);
    expect(remote.status).toBe(403);
    expect(await remote.json()).toEqual({ error: '/metrics is served to localhost only' });
    expect(server.stats().rejectedCallsRequests).toBe(1);
    const { families } = await scrape(server);
    expect(value(families, 'callsim_refused_total', { reason: 'calls_endpoint' })).toBe(1);
  });
});
