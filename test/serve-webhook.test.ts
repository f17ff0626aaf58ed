// callsim serve's side of the call flow: its voice webhook takes the direction the way Twilio
// gives it (a POST form field, or a GET query string), --public-url gives a wss:// stream URL and
// keeps a path prefix, and a fork's outbound track is counted on its own, never sent to the model.
import { afterEach, describe, expect, it } from 'vitest';
import { startMediaServer, type MediaServerOptions, type RunningMediaServer } from '../src/server/media-server.js';
import { runReplay } from '../src/caller/replay.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature } from '../src/twilio/signature.js';
import { readTwiml } from '../src/twilio/twiml.js';
import { startVoiceServer, type VoiceServer } from './helpers/voice-server.js';
import { upgradeStatus } from './helpers/robustness.js';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const CALLS_TOKEN = 'calls-token-for-the-tests';
const HELLO = 'fixtures/hello-8k-mulaw.wav';

const closers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const server of closers.splice(0)) await server.close();
});

async function serve(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const server = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 400 } }, ...options });
  closers.push(server);
  return server;
}

async function streamOf(response: Response): Promise<{ url: string; direction: string | undefined }> {
  const plan = readTwiml(await response.text());
  if (plan.kind !== 'stream') throw new Error(`no stream in the TwiML: ${JSON.stringify(plan)}`);
  return { url: plan.stream.url, direction: plan.stream.parameters.direction };
}

describe('callsim serve: the voice webhook', () => {
  it('takes Direction from a POST form or from a GET query string (outbound-api, outbound-dial → outbound); ?direction= still wins', async () => {
    const server = await serve();
    const post = (body: string) => fetch(`${server.httpUrl}/twiml`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await streamOf(await post('CallSid=CA1&Direction=outbound-api'))).direction).toBe('outbound');
    expect((await streamOf(await post('CallSid=CA1&Direction=inbound'))).direction).toBe('inbound');
    expect((await streamOf(await fetch(`${server.httpUrl}/twiml?CallSid=CA1&Direction=outbound-api`))).direction).toBe('outbound');
    expect((await streamOf(await fetch(`${server.httpUrl}/incoming-call?CallSid=CA1&Direction=outbound-dial`))).direction).toBe('outbound');
    expect((await streamOf(await fetch(`${server.httpUrl}/twiml?CallSid=CA1`))).direction).toBe('inbound');
    expect((await streamOf(await fetch(`${server.httpUrl}/twiml?Direction=outbound-api&direction=inbound`))).direction).toBe('inbound');
  });

  it('a signed GET webhook (as the fake Twilio sends one) is accepted and answers the outbound direction', async () => {
    // With signatures checked, callsim serve's /calls needs its bearer token too.
    const server = await serve({ twilioAuthToken: AUTH_TOKEN, callsToken: CALLS_TOKEN });
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, webhookMethod: 'GET', authToken: AUTH_TOKEN, statsToken: CALLS_TOKEN, direction: 'outbound', timing: { mode: 'burst' }, expectAudio: true });
    expect(report.failures).toEqual([]);
    expect(report.serverSnapshot?.direction).toBe('outbound');
    expect(server.stats().rejectedSignatures).toBe(0);
  });
});

describe('callsim serve: --public-url', () => {
  it('an http:// public URL still gives a wss:// stream URL: Twilio refuses ws:// (31922)', async () => {
    const server = await serve({ publicUrl: 'http://agent.example.com' });
    expect((await streamOf(await fetch(`${server.httpUrl}/twiml`, { method: 'POST', body: '' }))).url).toBe('wss://agent.example.com/media');
  });

  it('keeps a path prefix: the stream URL is under it, routes answer with or without it, signatures are over the prefixed URL', async () => {
    const server = await serve({ publicUrl: 'https://proxy.example.com/agent/', twilioAuthToken: AUTH_TOKEN });
    const body = 'CallSid=CA1&Direction=outbound-api';
    const twimlSig = computeTwilioSignature(AUTH_TOKEN, 'https://proxy.example.com/agent/twiml', { CallSid: 'CA1', Direction: 'outbound-api' });
    const headers = { 'content-type': 'application/x-www-form-urlencoded', [TWILIO_SIGNATURE_HEADER]: twimlSig };
    // A proxy that passes the prefix through, and one that strips it: the same URL was signed.
    for (const path of ['/agent/twiml', '/twiml']) {
      const res = await fetch(`${server.httpUrl}${path}`, { method: 'POST', body, headers });
      expect(res.status).toBe(200);
      expect(await streamOf(res)).toEqual({ url: 'wss://proxy.example.com/agent/media', direction: 'outbound' });
    }
    const unprefixedSig = computeTwilioSignature(AUTH_TOKEN, 'https://proxy.example.com/twiml', { CallSid: 'CA1', Direction: 'outbound-api' });
    expect((await fetch(`${server.httpUrl}/twiml`, { method: 'POST', body, headers: { ...headers, [TWILIO_SIGNATURE_HEADER]: unprefixedSig } })).status).toBe(403);

    const upgradeSig = computeTwilioSignature(AUTH_TOKEN, 'wss://proxy.example.com/agent/media');
    expect(await upgradeStatus(`${server.wsUrl.replace('/media', '/agent/media')}`, { [TWILIO_SIGNATURE_HEADER]: upgradeSig })).toBe(101);
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: upgradeSig })).toBe(101);
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, 'wss://proxy.example.com/media') })).toBe(403);
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, 'ws://proxy.example.com/agent/media') })).toBe(403);
    expect((await fetch(`${server.httpUrl}/agent/healthz`)).status).toBe(200);
  });

  it('a public URL with a query string or fragment is refused at start', async () => {
    for (const bad of ['https://agent.example.com/?tenant=1', 'https://agent.example.com/#x']) {
      await expect(startMediaServer({ quiet: true, publicUrl: bad })).rejects.toThrow(/without a query string or fragment/);
    }
  });
});

describe('callsim serve: a fork with the outbound track', () => {
  it('counts outbound-track frames on their own, never sends them to the model, and records unexpected_track once', async () => {
    const server = await serve();
    // A voice webhook elsewhere forks the call to callsim serve's /media, both tracks.
    const forker: VoiceServer = await startVoiceServer({
      twiml: () => `<Response><Start><Stream url="wss://127.0.0.1:${server.port}/media" track="both_tracks"/></Start><Pause length="60"/></Response>`,
    });
    closers.push(forker);
    const report = await runReplay({ file: HELLO, url: forker.wsUrl, webhook: { path: '/twiml' }, statsUrl: server.httpUrl, timing: { mode: 'burst' }, tailMs: 300 });
    expect(report.call.tracks).toEqual(['inbound', 'outbound']);
    expect(report.call.outboundTrackFramesSent).toBeGreaterThan(0);
    const counters = report.stats.counters;
    expect(counters?.audioInChunks).toBe(report.call.framesSent);
    expect(counters?.outboundTrackChunks).toBe(report.call.outboundTrackFramesSent);
    // Only the caller's audio reaches the model.
    expect(counters?.modelAudioAppends).toBe(report.call.framesSent);
    const errors = (report.serverSnapshot?.errors ?? []) as Array<{ code: string }>;
    expect(errors.filter((e) => e.code === 'unexpected_track')).toHaveLength(1);
    // callsim serve answers as on a bidirectional stream, and Twilio would refuse that on a fork.
    expect(report.call.wireErrors.map((e) => e.kind)).toContain('message_on_fork');
  });
});
