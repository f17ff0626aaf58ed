// The witness in the gate beyond the planted bugs: callsim serve passes every model-side check
// (in-process, on a bad line, and as a server command reached through the environment the gate hands it, with
// the openai SDK's own TLS client); a transcoding agent is tied to its sessions by time at
// --concurrency 1 and said to be ambiguous when calls overlap; who spoke first; the wire-only
// mode says why each check could not run; a simulator URL that answers nonsense is refused.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { runGate, type GateCallResult, type GateOptions } from '../src/gate/gate.js';
import { runReplay } from '../src/caller/replay.js';
import { ModelWitness } from '../src/gate/witness/witness.js';
import { remoteSource, SessionSourceError } from '../src/gate/witness/source.js';
import { assertBuilt, FIXTURE, gateCli, modelProblems, modelStatuses, NODE_AGENT } from './helpers/witness-cli.js';

const ALL = ['realtime', 'burst', 'early-media'] as const;

function gate(options: Partial<GateOptions>): ReturnType<typeof runGate> {
  return runGate({ fixtures: [FIXTURE], directions: ['inbound', 'outbound'], timings: [...ALL], speed: 1, concurrency: 6, target: { kind: 'builtin' }, expectAudio: true, ...options });
}

const agentTarget = (args: string): GateOptions['target'] => ({ kind: 'command', command: `${NODE_AGENT} --port {port} ${args}`, wsPath: '/media-stream', readyTimeoutMs: 15_000 });
const agentPlacement: GateOptions['placement'] = { webhook: { path: '/incoming-call' } };

function skipReasons(call: GateCallResult): string[] {
  return [...new Set(call.checks.filter((c) => c.name.startsWith('model-')).map((c) => `${c.status}: ${c.reason}`))];
}

describe('callsim serve passes every model-side check', () => {
  it('in-process: each call tied by its call-sid header, every check passes on every direction and timing; the /calls counters still agree', async () => {
    const result = await gate({ witness: { expectFirstSpeaker: { inbound: 'caller', outbound: 'agent' } } });
    expect(result.calls.flatMap(modelProblems)).toEqual([]);
    expect(result.verdict).toBe('pass');
    for (const call of result.calls) {
      expect(call.model?.correlation.method).toBe('call-sid-header');
      expect(Object.values(modelStatuses(call))).toHaveLength(8);
      expect(call.serverCounters?.audioInChunks).toBe(call.framesSent);
    }
    expect(result.notes).toContain('model sessions tied to calls by call-sid-header (6 calls)');
  }, 90_000);

  it('on a bad line (80 ms latency, 40 ms jitter, 2 % loss): every model-side check passes for serve and the planted twin, and an agent losing caller frames still fails model-audio-in', async () => {
    const line = { badLine: { latencyMs: 80, jitterMs: 40, packetLoss: 0.02 }, seed: 7 };
    const clean = await gate({ directions: ['inbound'], timings: ['realtime'] });
    const served = await gate({ placement: line });
    expect(served.calls.flatMap(modelProblems)).toEqual([]);
    expect(served.verdict).toBe('pass');
    // Loss is audio Twilio never had: fewer frames sent, and every one of them reached the model.
    expect(served.calls[0]!.framesSent).toBeLessThan(clean.calls[0]!.framesSent);
    for (const call of served.calls) expect(call.checks.find((c) => c.name === 'model-audio-in')?.reason).toBe(`all ${call.framesSent} caller frames (${(call.framesSent * 0.02).toFixed(1)} s) reached session ${call.model!.sessions[0]!.id} in order, byte for byte (SHA-256 equal)`);
    const twin = await gate({ timings: ['realtime', 'early-media'], target: agentTarget(''), placement: { ...agentPlacement, ...line } });
    expect(twin.calls.flatMap(modelProblems)).toEqual([]);
    // An agent that loses every 10th caller frame on its way to the model is still caught there.
    const lossy = await gate({ directions: ['inbound'], timings: ['realtime'], target: { kind: 'command', command: 'node test/servers/model-agent.mjs --port {port} --lose-every 10', wsPath: '/media', readyTimeoutMs: 15_000 }, placement: line });
    expect(modelStatuses(lossy.calls[0]!)['model-audio-in']).toBe('fail');
  }, 120_000);

  it("lays the model leg on the call's timeline, on the caller's clock: the session opens after the call was dialled and closes after the caller's stop", async () => {
    const report = await runReplay({ file: FIXTURE, direction: 'outbound', witness: new ModelWitness({ source: 'built-in' }) });
    expect(report.verdict).toBe('pass');
    const model = report.timeline.events.filter((e) => e.lane === 'model');
    const at = (kind: string): number => model.find((e) => e.kind === kind)!.t;
    expect(model.map((e) => e.kind)).toEqual(expect.arrayContaining(['session-open', 'session-update', 'first-append', 'response', 'turn', 'truncate', 'session-close']));
    const stop = report.timeline.events.find((e) => e.kind === 'stop')!.t;
    expect(at('session-open')).toBeGreaterThan(0);
    expect(at('session-update')).toBeLessThanOrEqual(at('first-append'));
    expect(at('session-close')).toBeGreaterThanOrEqual(stop);
    // In time order with the caller's own events.
    const times = report.timeline.events.map((e) => e.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Each answer's latency, split: the greeting answers no turn; the answer to the caller does.
    const [greeting, answer] = report.model!.answers;
    expect(greeting).toMatchObject({ trigger: 'client', turnEndedAt: null, modelMs: null });
    expect(answer).toMatchObject({ trigger: 'vad', turnEndedAt: expect.any(Number), modelMs: expect.any(Number), agentMs: expect.any(Number) });
    expect(answer!.modelMs!).toBeGreaterThanOrEqual(0);
    expect(answer!.firstReceivedAt!).toBeGreaterThanOrEqual(answer!.firstDeltaAt!);
    expect(answer!.receivedMs).toBe(answer!.producedMs);
  }, 30_000);

  it('who spoke first is judged against what the user expects: the wrong expectation fails, on the direction it names only', async () => {
    const result = await gate({ timings: ['realtime'], witness: { expectFirstSpeaker: { inbound: 'agent' } } });
    const byDirection = Object.fromEntries(result.calls.map((c) => [c.direction, modelStatuses(c)['model-first-speaker']]));
    // Inbound: callsim serve waits for the caller; outbound has no expectation, so no check.
    expect(byDirection).toEqual({ inbound: 'fail', outbound: undefined });
    const inbound = result.calls.find((c) => c.direction === 'inbound')!;
    expect(inbound.findings.map((f) => f.message).join('\n')).toMatch(/^model-first-speaker: inbound: expected the agent to speak first, but the model heard the caller start to speak/m);
  }, 60_000);

  it('as a --server-cmd: its openai-SDK bridge reaches the gate\'s simulator over TLS from {openaiBaseUrl} and OPENAI_API_KEY, NODE_EXTRA_CA_CERTS trusting its CA', async () => {
    const result = await gate({
      timings: ['realtime', 'burst'],
      target: { kind: 'command', command: `${process.execPath} bin/callsim.js serve --port {port} --model-backend openai --openai-base-url {openaiBaseUrl} --log-level warn`, wsPath: '/media', readyTimeoutMs: 20_000 },
    });
    expect(result.calls.flatMap(modelProblems)).toEqual([]);
    expect(result.verdict).toBe('pass');
    expect(result.calls.map((c) => c.model?.correlation.method)).toEqual(['call-sid-header', 'call-sid-header', 'call-sid-header', 'call-sid-header']);
    expect(result.target).toContain('--openai-base-url https://127.0.0.1:');
  }, 90_000);
});

describe('a server that transcodes (24 kHz PCM16 to the model): no watermark survives, so calls are tied by time', () => {
  it('at --concurrency 1 each call is tied by time and judged (its audio by duration); a leak is still found', async () => {
    const result = await gate({ timings: ['realtime', 'burst'], concurrency: 1, target: agentTarget('--model-format pcm'), placement: agentPlacement });
    expect(result.calls.flatMap(modelProblems)).toEqual([]);
    for (const call of result.calls) {
      expect(call.model?.correlation.method).toBe('time');
      expect(call.checks.find((c) => c.name === 'model-audio-in')?.reason).toMatch(/^by duration \(the audio appended is not the caller's mu-law byte for byte: transcoded, as audio\/pcm\)/);
    }
    const leaky = await gate({ directions: ['inbound'], timings: ['burst'], concurrency: 1, target: agentTarget('--model-format pcm --bug no-model-close'), placement: agentPlacement });
    expect(modelStatuses(leaky.calls[0]!)['model-session-closed']).toBe('fail');
    expect(leaky.calls[0]!.model?.correlation.method).toBe('time');
  }, 90_000);

  it('when calls overlap, a session that could be either call\'s is said to be ambiguous and judged on neither, never guessed', async () => {
    const result = await gate({ timings: ['realtime'], concurrency: 2, target: agentTarget('--model-format pcm'), placement: agentPlacement });
    expect(result.calls).toHaveLength(2);
    for (const call of result.calls) {
      expect(call.model?.correlation).toMatchObject({ method: 'none', ambiguous: true });
      expect(skipReasons(call)).toEqual([expect.stringMatching(/^skip: ambiguous: 2 sessions \(sess_\w+, sess_\w+\) opened while this call and 1 other call ran, and carry no watermark .*; not guessed$/)]);
    }
    expect(result.notes.join('\n')).toMatch(/2 calls have a model session that could be another call's .*--concurrency 1 makes matching by time unambiguous/);
  }, 60_000);
});

describe('placeholders, and servers whose model leg the gate cannot see', () => {
  it('{realtimeUrl} in the command: the agent reaches the simulator over plain ws, and is judged the same', async () => {
    const result = await gate({ directions: ['inbound'], timings: ['burst'], target: { kind: 'command', command: `CALLSIM_REALTIME_WSS_URL={realtimeUrl} ${NODE_AGENT} --port {port}`, wsPath: '/media-stream', readyTimeoutMs: 15_000 }, placement: agentPlacement });
    expect(result.calls.flatMap(modelProblems)).toEqual([]);
    expect(result.calls[0]!.model?.correlation.method).toBe('watermark');
    expect(result.target).toMatch(/CALLSIM_REALTIME_WSS_URL=ws:\/\/127\.0\.0\.1:\d+\/v1\/realtime /);
  }, 60_000);

  it('a server with no model leg skips every model-side check, saying why; --no-simulator says it was not handed one', async () => {
    const target: GateOptions['target'] = { kind: 'command', command: 'node test/servers/forgetful-outbound.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 };
    const none = await gate({ directions: ['inbound'], timings: ['burst'], target });
    expect(none.verdict).toBe('pass');
    expect(skipReasons(none.calls[0]!)).toEqual([expect.stringMatching(/^skip: no model session at the gate's simulator for this call: the server opened none, or its model leg is not this simulator$/)]);
    const blind = await gate({ directions: ['inbound'], timings: ['burst'], target, witness: { simulator: false } });
    expect(skipReasons(blind.calls[0]!)).toEqual(["skip: no model leg seen: --no-simulator, the server command was not handed the gate's simulator"]);
    expect(blind.notes).toContain("model-side checks skipped on every call: no model leg seen: --no-simulator, the server command was not handed the gate's simulator");
  }, 60_000);
});

describe('the CLIs', () => {
  beforeAll(assertBuilt);

  function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['bin/callsim.js', ...args], { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      });
    });
  }

  it('replay against the built-in server lists every model-side check with what it saw', async () => {
    const { code, stdout } = await cli(['replay', '--direction', 'outbound', '--expect-first-speaker', 'outbound=agent', FIXTURE]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}model {8}sess_\w+ \(call-sid-header\) · at the built-in server's embedded simulator$/m);
    for (const name of ['model-session', 'model-audio-in', 'model-configured-first', 'model-session-closed', 'model-truncation', 'model-no-errors', 'model-audio-out', 'model-first-speaker']) {
      expect(stdout).toMatch(new RegExp(`^ {2}✓ ${name} +\\S`, 'm'));
    }
  }, 60_000);

  it('a --simulator-url that is no simulator is a usage error before any call; so is one for a --server-cmd target', async () => {
    // A port nothing listens on: one the kernel just gave out and took back.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closed = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const dead = await cli(['gate', FIXTURE, '--url', `ws://127.0.0.1:${closed}/media`, '--simulator-url', `http://127.0.0.1:${closed}/v1`]);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toContain(`--simulator-url: cannot read the simulator's sessions at http://127.0.0.1:${closed}/v1/callsim/sessions: ECONNREFUSED`);
    const misplaced = await cli(['gate', FIXTURE, '--server-cmd', 'node x.js', '--simulator-url', 'http://127.0.0.1:1/v1']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--simulator-url is for a --url target: a --server-cmd server is handed the gate's own simulator/);
    const replay = await cli(['replay', '--url', 'ws://127.0.0.1:1/media', '--simulator-url', 'ws://127.0.0.1:1/v1/realtime', FIXTURE]);
    expect(replay.code).toBe(2);
    expect(replay.stderr).toMatch(/give the simulator's http:\/\/ baseURL \(the one it prints\), not its ws:\/\/ realtime URL/);
  }, 60_000);

  it('gate against a --url server without --simulator-url: the table says the model side was not seen', async () => {
    const server = await import('./servers/forgetful-outbound.mjs').then((m) => m.start({ port: 0, quiet: true }));
    try {
      const run = await gateCli(['--url', `ws://127.0.0.1:${server.port}/media`, '--timing', 'burst', '--direction', 'inbound']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('note: model-side checks skipped on every call: no model leg seen: a --url server is watched only through a callsim simulator it uses (--simulator-url)');
      expect(run.result.calls[0]!.checks.filter((c) => c.name.startsWith('model-')).every((c) => c.status === 'skip')).toBe(true);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe('a simulator URL that answers with something else', () => {
  async function serve(answer: (res: http.ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/v1`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it('a 404, or JSON that is not session records, is a clear error; a record whose id could forge a line is left out and counted', async () => {
    const notFound = await serve((res) => res.writeHead(404).end());
    await expect(remoteSource(notFound.url).read(0)).rejects.toThrow(SessionSourceError);
    await expect(remoteSource(notFound.url).read(0)).rejects.toThrow(/answered HTTP 404: is it a callsim simulator\?/);
    await notFound.close();
    const other = await serve((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}'));
    await expect(remoteSource(other.url).read(0)).rejects.toThrow(/did not answer with session records/);
    await other.close();
    const good = { id: 'sess_ok', callSid: null, open: false, openedAt: 1000, closedAt: 2000, closedBy: 'client', closeCode: 1000, closeReason: null, configs: [], audioIn: { format: null, formats: [], appends: 0, bytes: 0, ms: 0, sha256: 'x', checkpoints: [], head: '', firstAppendAt: null, lastAppendAt: null }, commits: [], responses: [], truncations: [], errors: [], dropped: { responses: 0, truncations: 0, errors: 0, commits: 0 } };
    const forged = { ...good, id: 'sess_x\n✓ model-audio-in all frames reached' };
    const mixed = await serve((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ now: 5000, sessions: [good, forged, { nonsense: true }] })));
    const source = remoteSource(mixed.url);
    const read = await source.read(0);
    expect(read.sessions.map((s) => s.id)).toEqual(['sess_ok']);
    expect(source.rejected).toBe(2);
    // Its clock is moved onto ours: the record's times shift by the offset the answer's `now` gave.
    expect(read.offsetMs).not.toBeNull();
    expect(read.sessions[0]!.openedAt).toBeCloseTo(1000 - read.offsetMs!, 6);
    await mixed.close();
  });
});

