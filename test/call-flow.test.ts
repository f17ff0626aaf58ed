// A call the way Twilio places one, on real loopback sockets: the voice webhook (Twilio's
// parameters, signed), the TwiML it answers, the stream that TwiML names (signed upgrade, exactly
// its <Parameter>s, the webhook's SIDs), fork streams and their tracks, what the caller gets when
// no stream opens, direct mode, server hang-ups, and Twilio's strictness on what the server sends.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { runReplay, type ReplayReport } from '../src/caller/replay.js';
import { FRAME_BYTES } from '../src/audio/format.js';
import type { MulawAudio } from '../src/audio/wav.js';
import { connectTwiml, startVoiceServer, type Received, type VoiceServer, type VoiceServerOptions } from './helpers/voice-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HELLO = join(ROOT, 'fixtures/hello-8k-mulaw.wav'); // 2.0 s, 100 frames
const TOKEN = 'f'.repeat(32);

const servers: VoiceServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function voiceServer(options: VoiceServerOptions = {}): Promise<VoiceServer> {
  const server = await startVoiceServer(options);
  servers.push(server);
  return server;
}

function check(report: ReplayReport, name: string): string {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check named ${name}`);
  return found.status;
}

type Message = Received['message'];
const byEvent = (call: Received[], event: string): Message[] => call.filter((r) => r.message.event === event).map((r) => r.message);
const startOf = (call: Received[]): { callSid: string; accountSid: string; streamSid: string; tracks: string[]; customParameters: Record<string, string> } =>
  byEvent(call, 'start')[0]!.start as never;

/** Distinct agent-side frames, so the outbound track's payloads can be told apart. */
function agentAudio(frames: number): MulawAudio {
  const list = Array.from({ length: frames }, (_, i) => Buffer.alloc(FRAME_BYTES, 0x10 + (i % 64)));
  return { frames: list, durationMs: frames * 20, source: { format: 'mu-law', sampleRate: 8000, channels: 1, bitsPerSample: 8 } } as unknown as MulawAudio;
}

describe('the webhook step and the stream it names', () => {
  it.each(['inbound', 'outbound'] as const)('%s: Twilio’s parameters, the same SIDs in start, customParameters exactly the TwiML’s <Parameter>s', async (direction) => {
    const parameters = { agent: 'node-sample', 'tenant id': 'acme &amp; co', empty: '' };
    const server = await voiceServer({ twiml: (host) => connectTwiml(`wss://${host}/media`, parameters) });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, direction, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.failures).toEqual([]);

    const [hit] = server.webhooks;
    expect(hit?.method).toBe('POST');
    expect(hit?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(hit?.params).toMatchObject({
      ApiVersion: '2010-04-01',
      Direction: direction === 'inbound' ? 'inbound' : 'outbound-api',
      CallStatus: direction === 'inbound' ? 'ringing' : 'in-progress',
      From: direction === 'inbound' ? '+14155550100' : '+14155550199',
      To: direction === 'inbound' ? '+14155550199' : '+14155550100',
    });
    expect(hit?.params.Caller).toBe(hit?.params.From);
    expect(hit?.params.Called).toBe(hit?.params.To);
    expect(hit?.headers['x-twilio-signature']).toBeUndefined();

    const call = server.calls[0]!;
    const start = startOf(call);
    // The stream is the webhook's call: same CallSid, same AccountSid.
    expect(start.callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(start.callSid).toBe(hit?.params.CallSid);
    expect(start.accountSid).toBe(hit?.params.AccountSid);
    expect(report.call.callSid).toBe(hit?.params.CallSid);
    expect(start.customParameters).toStrictEqual({ agent: 'node-sample', 'tenant id': 'acme & co', empty: '' });
    expect(report.callFlow).toMatchObject({ mode: 'webhook', directionSource: 'webhook', directionNote: null, setupFailure: null });
    // A wss:// URL on loopback is dialled as ws://, the fake playing the TLS proxy.
    expect(report.callFlow.stream).toMatchObject({ verb: 'Connect', url: `wss://127.0.0.1:${server.port}/media`, dialledUrl: `ws://127.0.0.1:${server.port}/media`, tracks: ['inbound'] });
    expect(check(report, 'webhook')).toBe('pass');
    expect(check(report, 'twiml')).toBe('pass');
  });

  it('signed like Twilio: the webhook and the upgrade validate with the official twilio package, over the wss:// URL', async () => {
    const refused: string[] = [];
    const server = await voiceServer({
      twiml: (host, hit) => {
        const ok = twilio.validateRequest(TOKEN, String(hit.headers['x-twilio-signature'] ?? ''), `http://${host}${hit.path}`, hit.params);
        if (!ok) refused.push('webhook');
        return ok ? connectTwiml(`wss://${host}/media-stream`) : { status: 403 };
      },
      onUpgrade: (upgrade) => {
        const ok = twilio.validateRequest(TOKEN, String(upgrade.headers['x-twilio-signature'] ?? ''), `wss://${upgrade.headers.host}${upgrade.path}`, {});
        if (!ok) refused.push('upgrade');
        return ok ? null : 403;
      },
    });
    const signed = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, authToken: TOKEN, timing: { mode: 'burst' }, tailMs: 0 });
    expect(refused).toEqual([]);
    expect(signed.failures).toEqual([]);
    expect(signed.callFlow.webhook?.signed).toBe(true);
    expect(signed.callFlow.stream?.signedUrl).toBe(`wss://127.0.0.1:${server.port}/media-stream`);

    const wrongToken = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, authToken: 'e'.repeat(32), timing: { mode: 'burst' }, tailMs: 0 });
    expect(refused).toEqual(['webhook']);
    expect(check(wrongToken, 'webhook')).toBe('fail');
    expect(wrongToken.failures[0]).toMatch(/An application error has occurred.*HTTP 403 \(error 11200/);
    expect(server.upgrades).toHaveLength(1);
  });

  it('a GET webhook: the parameters in the query string, the signature over that full URL', async () => {
    const server = await voiceServer();
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, webhookMethod: 'GET', authToken: TOKEN, direction: 'outbound', timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.failures).toEqual([]);
    const hit = server.webhooks[0]!;
    expect(hit.method).toBe('GET');
    expect(hit.body).toBe('');
    expect(hit.params.Direction).toBe('outbound-api');
    expect(twilio.validateRequest(TOKEN, String(hit.headers['x-twilio-signature']), `http://127.0.0.1:${server.port}${hit.path}`, {})).toBe(true);
  });

  it('a relative stream URL resolves against the webhook (http -> ws:// on loopback, accepted with a warning)', async () => {
    const server = await voiceServer({ twiml: () => connectTwiml('/media') });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.failures).toEqual([]);
    expect(report.callFlow.stream?.url).toBe(`ws://127.0.0.1:${server.port}/media`);
    expect(report.callFlow.notes.join('\n')).toMatch(/Twilio refuses anything but wss:\/\/ \(error 31922\)/);
  });
});

describe('when the TwiML opens no stream: what the caller gets', () => {
  const cases: Array<{ name: string; answer: (host: string) => string | { status: number; body?: string }; failure: RegExp; check: 'webhook' | 'twiml' }> = [
    { name: 'HTTP 500', answer: () => ({ status: 500 }), failure: /An application error has occurred.*HTTP 500 \(error 11200/, check: 'webhook' },
    { name: 'a <Say> then <Hangup>', answer: () => '<Response><Say>We are closed</Say><Hangup/></Response>', failure: /hung up on after <Say> "We are closed".*<Hangup>/, check: 'twiml' },
    { name: '<Reject>', answer: () => '<Response><Reject reason="busy"/></Response>', failure: /rejected.*<Reject reason="busy">/, check: 'twiml' },
    { name: 'TwiML that does not parse', answer: () => '<Response><Say>hi</Response>', failure: /An application error has occurred.*error 12100/, check: 'twiml' },
    { name: 'a Stream URL with a query string', answer: (host) => connectTwiml(`wss://${host}/media?token=abc`), failure: /query string.*error 31920/, check: 'twiml' },
    { name: 'a ws:// URL to another host', answer: () => connectTwiml('ws://agent.example.com/media'), failure: /not wss:\/\/ \(error 31922/, check: 'twiml' },
    { name: 'a track <Connect> does not take', answer: (host) => `<Response><Connect><Stream url="wss://${host}/media" track="both_tracks"/></Connect></Response>`, failure: /error 31941/, check: 'twiml' },
    { name: 'a fork with nothing after <Start>', answer: (host) => `<Response><Start><Stream url="wss://${host}/media"/></Start></Response>`, failure: /nothing follows <Start><Stream>/, check: 'twiml' },
  ];
  it.each(cases)('$name', async ({ answer, failure, check: name }) => {
    const server = await voiceServer({ twiml: (host) => answer(host) });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.verdict).toBe('fail');
    expect(check(report, name)).toBe('fail');
    expect(check(report, 'connected')).toBe('skip');
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatch(failure);
    expect(report.call).toMatchObject({ connected: false, ending: 'not_dialled', framesSent: 0 });
    // The callSid is the webhook's: the gate can still tie the server's log lines to it.
    expect(report.call.callSid).toBe(server.webhooks[0]?.params.CallSid);
    expect(server.upgrades).toEqual([]);
  });
});

describe('targets without a webhook, and direct mode', () => {
  it('the default webhook answering 404 falls back to direct mode and says so; an explicit one is the caller’s failure', async () => {
    const server = await voiceServer();
    const fallback = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/none' }, webhookOptional: true, timing: { mode: 'burst' }, tailMs: 0 });
    expect(fallback.failures).toEqual([]);
    expect(fallback.callFlow.mode).toBe('direct');
    expect(fallback.callFlow.fallback).toMatch(/no voice webhook at http:\/\/127\.0\.0\.1:\d+\/none \(HTTP 404\)/);
    expect(check(fallback, 'webhook')).toBe('skip');

    const explicit = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/none' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(explicit.verdict).toBe('fail');
    expect(check(explicit, 'webhook')).toBe('fail');
    expect(explicit.failures[0]).toMatch(/HTTP 404/);
  });

  it('an unreachable webhook is error 11205, not an exception', async () => {
    const server = await voiceServer();
    const port = server.port;
    await server.close();
    servers.length = 0;
    const report = await runReplay({ file: HELLO, url: `ws://127.0.0.1:${port}/media`, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.failures[0]).toMatch(/ECONNREFUSED.*error 11205/);
  });

  it('direct mode: exactly the params given, {direction} filled in; the report says no webhook step ran', async () => {
    const server = await voiceServer();
    const plain = await runReplay({ file: HELLO, url: server.wsUrl, direction: 'outbound', params: { lang: 'en' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(startOf(server.calls[0]!).customParameters).toStrictEqual({ lang: 'en' });
    expect(server.webhooks).toEqual([]);
    expect(plain.callFlow).toMatchObject({ mode: 'direct', webhook: null, directionSource: 'label' });
    expect(plain.callFlow.directionNote).toMatch(/"outbound" only labels this call/);

    const carried = await runReplay({ file: HELLO, url: server.wsUrl, direction: 'outbound', params: { direction: '{direction}', leg: 'a-{direction}' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(startOf(server.calls[1]!).customParameters).toStrictEqual({ direction: 'outbound', leg: 'a-outbound' });
    expect(carried.callFlow.directionNote).toMatch(/only from the parameters direction, leg/);
  });
});

describe('fork streams (<Start><Stream>)', () => {
  const forkTwiml = (track: string) => (host: string) => `<Response><Start><Stream url="wss://${host}/media" track="${track}"><Parameter name="leg" value="fork"/></Stream></Start><Pause length="60"/></Response>`;

  it.each([
    ['inbound_track', ['inbound']],
    ['outbound_track', ['outbound']],
    ['both_tracks', ['inbound', 'outbound']],
  ] as const)('%s: start.tracks and media on exactly those tracks, each numbered on its own; the outbound track carries the agent audio', async (track, tracks) => {
    const server = await voiceServer({ twiml: forkTwiml(track) });
    const agent = agentAudio(40);
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, agentAudio: agent, timing: { mode: 'burst' }, tailMs: 200, expectAudio: true });
    expect(report.failures).toEqual([]);
    expect(check(report, 'audio-returned')).toBe('skip');
    const call = server.calls[0]!;
    expect(startOf(call)).toMatchObject({ tracks: [...tracks], customParameters: { leg: 'fork' } });
    const media = byEvent(call, 'media').map((m) => m.media as { track: string; chunk: string; payload: string });
    expect([...new Set(media.map((m) => m.track))].sort()).toEqual([...tracks].sort());
    for (const side of tracks) {
      const onTrack = media.filter((m) => m.track === side);
      expect(onTrack.map((m) => m.chunk)).toEqual(onTrack.map((_, i) => String(i + 1)));
    }
    const outbound = media.filter((m) => m.track === 'outbound');
    if ((tracks as readonly string[]).includes('outbound')) {
      expect(outbound.length).toBe(report.call.outboundTrackFramesSent);
      for (let i = 0; i < 40; i++) expect(Buffer.from(outbound[i]!.payload, 'base64').equals(agent.frames[i]!)).toBe(true);
      // Past the agent audio, the agent side is line silence.
      expect(Buffer.from(outbound[40]!.payload, 'base64').every((b) => b === 0xff)).toBe(true);
    }
    expect(media.filter((m) => m.track === 'inbound').length).toBe(report.call.framesSent);
    expect(byEvent(call, 'dtmf')).toEqual([]);
  });

  it('takes nothing back: media, mark and clear from the server are error 31924, and no mark is echoed', async () => {
    const server = await voiceServer({
      twiml: forkTwiml('both_tracks'),
      onStart: (ws: WebSocket, start) => {
        const streamSid = String(start.streamSid);
        ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: Buffer.alloc(160, 0x10).toString('base64') } }));
        ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'm1' } }));
        ws.send(JSON.stringify({ event: 'clear', streamSid }));
      },
    });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, dtmf: { digits: '1' }, timing: { mode: 'burst' }, tailMs: 300 });
    expect(check(report, 'wire-protocol')).toBe('fail');
    expect(report.call.wireErrors).toEqual([{ kind: 'message_on_fork', count: 3, example: 'a media message on a <Start><Stream> fork' }]);
    expect(report.failures.join('\n')).toMatch(/error 31924.*3 messages sent back on a unidirectional <Start><Stream> fork/);
    expect(report.call).toMatchObject({ framesReceived: 0, marksReceived: 0, marksEchoed: 0, clearsReceived: 0 });
    expect(byEvent(server.calls[0]!, 'mark')).toEqual([]);
    // Twilio sends dtmf only on bidirectional streams.
    expect(byEvent(server.calls[0]!, 'dtmf')).toEqual([]);
    expect(report.callFlow.notes.join('\n')).toMatch(/DTMF not sent/);
  });
});

describe('a server that ends the stream itself', () => {
  const closesAfter = (frames: number) => (ws: WebSocket) => {
    let seen = 0;
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { event: string }).event === 'media' && ++seen === frames) ws.close(1000, 'goodbye');
    });
  };

  it('a normal close before stop is "the stream ended", naming what Twilio does next; --allow-server-hangup accepts it', async () => {
    const server = await voiceServer({ twiml: (host) => `<Response><Connect><Stream url="wss://${host}/media"/></Connect><Say>Thanks for calling</Say></Response>`, onStart: closesAfter(10) });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(check(report, 'server-kept-stream-open')).toBe('fail');
    expect(check(report, 'normal-close')).toBe('pass');
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatch(
      /^the caller hears the TwiML after <Connect> instead of the agent \(<Say> "Thanks for calling"\) — the server closed the media stream before stop \(code 1000 "goodbye"\) after \d+ frames: the stream ended, so Twilio goes on with the next verb$/,
    );
    expect(report.failures[0]).not.toMatch(/application error/);

    const allowed = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, allowServerHangup: true, timing: { mode: 'burst' }, tailMs: 0 });
    expect(allowed.failures).toEqual([]);
    expect(check(allowed, 'server-kept-stream-open')).toBe('pass');
  });

  it('with nothing after <Connect>, the caller is hung up on; a 1011 close stays an application error', async () => {
    const server = await voiceServer({ onStart: closesAfter(10) });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.failures[0]).toMatch(/^the caller is hung up on — .*nothing follows <Connect>/);
    const crashing = await voiceServer({ onStart: (ws) => ws.close(1011, 'internal error') });
    const crashed = await runReplay({ file: HELLO, url: crashing.wsUrl, webhook: { path: '/twiml' }, allowServerHangup: true, timing: { mode: 'burst' }, tailMs: 0 });
    expect(crashed.failures[0]).toMatch(/An application error has occurred.*1011/);
  });
});

describe('as strict as Twilio on what the server sends', () => {
  it('extra fields and a mark name that is not a string are warning 31951 and dropped; the twin’s messages all play', async () => {
    const send = (bad: boolean) => (ws: WebSocket, start: Record<string, unknown>) => {
      const streamSid = String(start.streamSid);
      const payload = Buffer.alloc(160, 0x10).toString('base64');
      ws.send(JSON.stringify({ event: 'media', streamSid, media: bad ? { payload, track: 'outbound' } : { payload } }));
      ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: bad ? 1 : '1' } }));
      ws.send(JSON.stringify(bad ? { event: 'clear', streamSid, sequenceNumber: '3' } : { event: 'clear', streamSid }));
    };
    const faulty = await voiceServer({ onStart: send(true) });
    const healthy = await voiceServer({ onStart: send(false) });
    const [bad, good] = await Promise.all([
      runReplay({ file: HELLO, url: faulty.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 300 }),
      runReplay({ file: HELLO, url: healthy.wsUrl, webhook: { path: '/twiml' }, timing: { mode: 'burst' }, tailMs: 300 }),
    ]);
    expect(check(bad, 'wire-protocol')).toBe('fail');
    expect(bad.call.wireErrors.map((e) => [e.kind, e.count])).toEqual([['extra_field', 2], ['invalid_field', 1]]);
    expect(bad.failures.join('\n')).toMatch(/warning 31951: Missing or extra field in message/);
    expect(bad.call).toMatchObject({ framesReceived: 0, marksReceived: 0, clearsReceived: 0 });
    expect(good.failures).toEqual([]);
    expect(good.call).toMatchObject({ framesReceived: 1, marksReceived: 1, clearsReceived: 1, marksEchoed: 1 });
  });
});
