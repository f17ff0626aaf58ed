// Security: Twilio request signatures on the WebSocket upgrade and /twiml (403 before any call
// handler exists), a cap on concurrent calls and on message size, no secret in any log line or
// in /calls, and /calls that can be switched off or kept to localhost.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMediaServer, type MediaServerOptions, type RunningMediaServer } from '../src/server/media-server.js';
import { isLoopbackAddress } from '../src/server/routes.js';
import { DEFAULT_STREAM_TOKEN_TTL_MS, STREAM_TOKEN_PARAMETER, StreamTokens } from '../src/server/stream-token.js';
import { MAX_MESSAGE_BYTES } from '../src/twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature, formParams, validateTwilioSignature } from '../src/twilio/signature.js';
import { RawTwilio, SILENT_FRAME, eventually, sid as sidOf } from './helpers/raw-twilio.js';
import { captureLog, finishedCall, healthyCall, signedDialling, startedCall, upgradeStatus, type CapturedLog } from './helpers/robustness.js';

// Shaped like the real things, so pattern-based scrubbing gets no help from an odd format.
const AUTH_TOKEN = randomBytes(16).toString('hex');
const API_KEY = `sk-proj-${randomBytes(24).toString('base64url')}`;
const CALLS_TOKEN = randomBytes(18).toString('base64url');
const BEARER = { authorization: `Bearer ${CALLS_TOKEN}` };

const servers: RunningMediaServer[] = [];
async function serve(options: MediaServerOptions): Promise<RunningMediaServer> {
  const server = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 400 } }, ...options });
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

describe('the signature scheme, against Twilio\'s published vectors', () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };

  it('reproduces the documented example and rejects any change to it', () => {
    expect(computeTwilioSignature('12345', url, params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(validateTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(true);
    expect(validateTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, { ...params, Digits: '1235' })).toBe(false);
    expect(validateTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', `${url}&x=1`, params)).toBe(false);
    expect(validateTwilioSignature('54321', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(false);
    expect(validateTwilioSignature('12345', undefined, url, params)).toBe(false);
    expect(validateTwilioSignature('12345', '', url, params)).toBe(false);
    expect(validateTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8', url, params)).toBe(false);
    expect(validateTwilioSignature('', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(false);
  });

  it('parameters: sorted by name, repeated names with each distinct value sorted, from a form body', () => {
    const body = 'To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B14158675309&Caller=%2B14158675309';
    expect(computeTwilioSignature('12345', url, formParams(body))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    const repeated = formParams('Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234');
    expect(computeTwilioSignature('12345', url, repeated)).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
  });

  it('the URL as Twilio wrote it, with or without an explicit port', () => {
    // Twilio's mixed-case vector: the host is signed as written.
    expect(validateTwilioSignature('12345', 'g9IN/x4Cft2g517EjYvEvM/W7LU=', 'https://MyCompany.com/myapp.php?foo=1&bar=2', params)).toBe(true);
    const signedWithPort = computeTwilioSignature('12345', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', params);
    expect(validateTwilioSignature('12345', signedWithPort, url, params)).toBe(true);
    expect(validateTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', params)).toBe(true);
  });

  it('JSON webhooks: bodySHA256 in the URL, no parameters, and the body must hash to it', () => {
    const body = '{"property": "value", "boolean": true}';
    const hash = createHash('sha256').update(body).digest('hex');
    expect(hash).toBe('0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620');
    const jsonUrl = `https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=${hash}`;
    const signature = computeTwilioSignature('12345', jsonUrl);
    expect(validateTwilioSignature('12345', signature, jsonUrl, {}, body)).toBe(true);
    expect(validateTwilioSignature('12345', signature, jsonUrl, {}, body.replace('true', 'false'))).toBe(false);
  });
});

describe('signatures required when TWILIO_AUTH_TOKEN is set', () => {
  let server: RunningMediaServer;
  let signedWs: string;
  beforeAll(async () => {
    server = await startMediaServer({ port: 0, quiet: true, twilioAuthToken: AUTH_TOKEN, model: { backend: 'simulator', simulator: { answerMs: 400 } } });
    // What Twilio dials (through a TLS proxy) and signs: wss:// and the Host it connects to.
    signedWs = `wss://127.0.0.1:${server.port}/media`;
  });
  afterAll(async () => {
    await server.close();
  });

  const sig = (value: string): Record<string, string> => ({ [TWILIO_SIGNATURE_HEADER]: value });
  it.each([
    ['no signature', () => ({})],
    ['an empty signature', () => sig('')],
    ['garbage', () => sig('not-a-signature')],
    ['the auth token itself', () => sig(AUTH_TOKEN)],
    ['a signature made with another token', (port: number) => sig(computeTwilioSignature('other-token', `wss://127.0.0.1:${port}/media`))],
    ['a signature for another URL', () => sig(computeTwilioSignature(AUTH_TOKEN, 'wss://evil.example.com/media'))],
    ['a signature for another path', (port: number) => sig(computeTwilioSignature(AUTH_TOKEN, `wss://127.0.0.1:${port}/twiml`))],
    ['a signature for ws:// instead of wss://', (port: number) => sig(computeTwilioSignature(AUTH_TOKEN, `ws://127.0.0.1:${port}/media`))],
  ] as Array<[string, (port: number) => Record<string, string>]>)('WebSocket upgrade with %s: 403, and no call handler is created', async (_what, headers) => {
    const before = server.stats();
    expect(await upgradeStatus(server.wsUrl, headers(server.port))).toBe(403);
    const after = server.stats();
    expect(after.rejectedSignatures).toBe(before.rejectedSignatures + 1);
    expect(after.liveCalls).toBe(0);
    expect(server.calls().length).toBe(before.liveCalls + before.finishedCallsKept);
  });

  it('a valid signature: the call is accepted and runs', async () => {
    const dialling = await signedDialling(server, AUTH_TOKEN);
    expect(dialling.headers[TWILIO_SIGNATURE_HEADER]).toBe(computeTwilioSignature(AUTH_TOKEN, signedWs));
    const { snapshot, closeCode, mediaReceived } = await healthyCall(server, dialling);
    expect(closeCode).toBe(1000);
    expect(snapshot.errors).toEqual([]);
    expect(mediaReceived).toBeGreaterThan(0);
  });

  it('/twiml: unsigned, tampered or replayed requests get 403; a signed POST or GET gets TwiML', async () => {
    const twimlUrl = `http://127.0.0.1:${server.port}/twiml`;
    const body = 'CallSid=CA0123456789abcdef0123456789abcdef&Direction=outbound-api&From=%2B14155550100';
    const signature = computeTwilioSignature(AUTH_TOKEN, twimlUrl, formParams(body));
    const post = (sig: string | null, payload = body, path = '/twiml'): Promise<Response> =>
      fetch(`${server.httpUrl}${path}`, { method: 'POST', body: payload, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(sig === null ? {} : { [TWILIO_SIGNATURE_HEADER]: sig }) } });

    expect((await post(null)).status).toBe(403);
    expect((await post('bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==')).status).toBe(403);
    expect((await post(signature, body.replace('outbound-api', 'inbound'))).status).toBe(403);
    expect((await post(signature, `${body}&Extra=1`)).status).toBe(403);
    expect((await post(signature, body, '/incoming-call')).status).toBe(403);
    const ok = await post(signature);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<Parameter name="direction" value="outbound"/>');

    const getUrl = `${twimlUrl}?direction=outbound`;
    const getSig = computeTwilioSignature(AUTH_TOKEN, getUrl);
    expect((await fetch(`${server.httpUrl}/twiml?direction=outbound`, { headers: { [TWILIO_SIGNATURE_HEADER]: getSig } })).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/twiml?direction=inbound`, { headers: { [TWILIO_SIGNATURE_HEADER]: getSig } })).status).toBe(403);
    // /healthz stays open for load balancers.
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });
});

describe('per-call stream tokens (signatures checked)', () => {
  const refusedStart = async (server: RunningMediaServer, headers: Record<string, string>, callSid: string | undefined, parameters: Record<string, string>): Promise<{ code: number; reason: string; callSid: string }> => {
    const ids = callSid === undefined ? undefined : { accountSid: 'AC1', callSid, streamSid: sidOf('MZ') };
    const call = new RawTwilio(server.wsUrl, { headers, parameters, ...(ids ? { ids } : {}) });
    await call.opened;
    call.connected();
    call.start('inbound');
    call.sendMedia(SILENT_FRAME);
    return { code: await call.closed, reason: call.closeReason, callSid: call.callSid };
  };

  it('one captured upgrade signature opens no call: five streams with it and arbitrary callSids, each refused at its start (1008)', async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN });
    const captured = { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, `wss://127.0.0.1:${server.port}/media`) };
    const results = await Promise.all(Array.from({ length: 5 }, () => refusedStart(server, captured, undefined, {})));
    for (const r of results) expect([r.code, r.reason]).toEqual([1008, 'stream token missing']);
    expect(server.stats()).toMatchObject({ liveCalls: 0, rejectedStreamTokens: 5 });
    for (const r of results) expect(server.call(r.callSid)).toBeNull();
    const refused = server.calls().filter((c) => c.errors.some((e) => e.code === 'invalid_stream_token'));
    expect(refused).toHaveLength(5);
    for (const c of refused) expect(c.counters.audioInChunks).toBe(0);
  });

  it("a token opens its own call's stream, once; another callSid's, a spent, a forged or an expired one is refused", async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN });
    const dialling = await signedDialling(server, AUTH_TOKEN);
    // The token travels in the TwiML, as a <Parameter> of the <Stream>, as Twilio passes it on.
    expect(dialling.twiml).toMatch(/<Stream url="wss:\/\/127\.0\.0\.1:\d+\/media">\s*<Parameter name="direction" value="inbound"\/>\s*<Parameter name="callsimStreamToken" value="\d+\.[A-Za-z0-9_-]{43}"\/>/);
    const other = await signedDialling(server, AUTH_TOKEN);
    expect(await refusedStart(server, dialling.headers, other.ids.callSid, dialling.parameters)).toMatchObject({ code: 1008, reason: 'stream token wrong' });
    const good = await healthyCall(server, dialling);
    expect(good.closeCode).toBe(1000);
    expect(good.snapshot.errors).toEqual([]);
    expect(await refusedStart(server, dialling.headers, dialling.ids.callSid, dialling.parameters)).toMatchObject({ code: 1008, reason: 'stream token spent' });
    expect(await refusedStart(server, dialling.headers, dialling.ids.callSid, { [STREAM_TOKEN_PARAMETER]: 'not-a-token' })).toMatchObject({ code: 1008, reason: 'stream token malformed' });
    const forged = new StreamTokens('some-other-auth-token').mint(other.ids.callSid);
    expect(await refusedStart(server, dialling.headers, other.ids.callSid, { [STREAM_TOKEN_PARAMETER]: forged })).toMatchObject({ code: 1008, reason: 'stream token wrong' });
    const stale = new StreamTokens(AUTH_TOKEN, DEFAULT_STREAM_TOKEN_TTL_MS, () => Date.now() - 10 * 60_000).mint(other.ids.callSid);
    expect(await refusedStart(server, dialling.headers, other.ids.callSid, { [STREAM_TOKEN_PARAMETER]: stale })).toMatchObject({ code: 1008, reason: 'stream token expired' });
    expect(server.stats().rejectedStreamTokens).toBe(5);
    // The other call's own token still opens its stream.
    expect((await healthyCall(server, other)).closeCode).toBe(1000);
  });

  it('the token check: verdicts, and spent tokens forgotten once they expire', () => {
    let now = 1_700_000_000_000;
    const tokens = new StreamTokens(AUTH_TOKEN, 60_000, () => now);
    const sid = sidOf('CA');
    const token = tokens.mint(sid);
    expect(tokens.spend(undefined, sid)).toBe('missing');
    expect(tokens.spend('', sid)).toBe('missing');
    expect(tokens.spend(`${token}x`, sid)).toBe('malformed');
    expect(tokens.spend(token, sidOf('CA'))).toBe('wrong');
    expect(tokens.spend(token.replace(/^\d+/, (e) => String(Number(e) + 1)), sid)).toBe('wrong');
    expect(tokens.spend(token, sid)).toBe('ok');
    expect(tokens.spend(token, sid)).toBe('spent');
    expect(tokens.spentCount).toBe(1);
    now += 61_000;
    expect(tokens.spend(token, sid)).toBe('expired');
    expect(tokens.spentCount).toBe(0);
  });
});

describe('signatures behind a proxy', () => {
  it('with --public-url, the signed URL is the public one, whatever Host says', async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN, publicUrl: 'https://agent.example.com' });
    const publicSig = computeTwilioSignature(AUTH_TOKEN, 'wss://agent.example.com/media');
    const localSig = computeTwilioSignature(AUTH_TOKEN, `wss://127.0.0.1:${server.port}/media`);
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: localSig })).toBe(403);
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: publicSig })).toBe(101);
    const body = 'CallSid=CA1&Direction=inbound';
    const twimlSig = computeTwilioSignature(AUTH_TOKEN, 'https://agent.example.com/twiml', formParams(body));
    const res = await fetch(`${server.httpUrl}/twiml`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', [TWILIO_SIGNATURE_HEADER]: twimlSig } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<Stream url="wss://agent.example.com/media">');
  });

  it('a public URL that is not an http(s) URL fails the start, not the first call', async () => {
    // Parsed per request, "agent.example.com" used to throw inside the upgrade handler and take
    // the process down with every live call.
    for (const bad of ['agent.example.com', 'ftp://agent.example.com']) {
      await expect(startMediaServer({ quiet: true, twilioAuthToken: AUTH_TOKEN, publicUrl: bad })).rejects.toThrow(/public URL must/);
    }
  });

  it('without it, under --trust-proxy, X-Forwarded-Proto gives the scheme Twilio used', async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN, trustProxy: true });
    const sig = computeTwilioSignature(AUTH_TOKEN, `https://127.0.0.1:${server.port}/twiml`);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: sig } })).status).toBe(403);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: sig, 'x-forwarded-proto': 'https' } })).status).toBe(200);
  });

  it('without --trust-proxy, X-Forwarded-Proto is anyone\'s to send and is ignored', async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN });
    const httpsSig = computeTwilioSignature(AUTH_TOKEN, `https://127.0.0.1:${server.port}/twiml`);
    const httpSig = computeTwilioSignature(AUTH_TOKEN, `http://127.0.0.1:${server.port}/twiml`);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: httpsSig, 'x-forwarded-proto': 'https' } })).status).toBe(403);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: httpSig, 'x-forwarded-proto': 'https' } })).status).toBe(200);
  });

  it('without --public-url, a signature made for another host is refused even with Host set to match', async () => {
    const log = captureLog();
    const server = await serve({ twilioAuthToken: AUTH_TOKEN, logger: log.logger, quiet: false });
    // Another deployment on the same Twilio account (same auth token) signed these.
    const otherHost = 'staging.example.com';
    const upgradeSig = computeTwilioSignature(AUTH_TOKEN, `wss://${otherHost}/media`);
    expect(await upgradeStatus(server.wsUrl, { host: otherHost, [TWILIO_SIGNATURE_HEADER]: upgradeSig })).toBe(403);
    const body = 'CallSid=CA0123456789abcdef0123456789abcdef&Direction=inbound';
    const twimlSig = computeTwilioSignature(AUTH_TOKEN, `http://${otherHost}/twiml`, formParams(body));
    // fetch will not send a Host of our choosing; a plain request will.
    const hookStatus = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, path: '/twiml', method: 'POST', headers: { host: otherHost, 'content-type': 'application/x-www-form-urlencoded', [TWILIO_SIGNATURE_HEADER]: twimlSig } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(hookStatus).toBe(403);
    expect(server.stats().rejectedSignatures).toBe(2);
    expect(log.records().filter((r) => r.hostNotOurs === true)).toHaveLength(2);
    // The healthy twin: signed for this server's own address (also by the name localhost).
    expect(await upgradeStatus(server.wsUrl, { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, `wss://127.0.0.1:${server.port}/media`) })).toBe(101);
    expect(await upgradeStatus(server.wsUrl, { host: `localhost:${server.port}`, [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, `wss://localhost:${server.port}/media`) })).toBe(101);
    // And it said so at start.
    const warning = log.records().find((r) => String(r.msg).startsWith('Twilio signatures are checked without --public-url'));
    expect(warning?.hosts).toEqual(expect.arrayContaining([`127.0.0.1:${server.port}`, `localhost:${server.port}`]));
  });

  it('no start-up warning with --public-url, or without signatures', async () => {
    for (const options of [{ twilioAuthToken: AUTH_TOKEN, publicUrl: 'https://agent.example.com', callsToken: CALLS_TOKEN }, {}]) {
      const log = captureLog();
      await serve({ ...options, logger: log.logger, quiet: false });
      expect(log.records().filter((r) => r.level === 'warn')).toEqual([]);
    }
  });
});

describe('caps', () => {
  it('concurrent calls: beyond maxCalls a start gets 1013 and, once the slots are taken, the upgrade 503 with no handler; a slot frees when a call ends', async () => {
    // A slot is taken by a valid start, not by the upgrade: a socket that never starts holds none.
    const server = await serve({ maxCalls: 3 });
    const attempts = Array.from({ length: 10 }, () => new RawTwilio(server.wsUrl));
    await Promise.all(attempts.map((a) => a.opened));
    for (const a of attempts) {
      a.connected();
      a.start('inbound');
    }
    const refused = await eventually(() => attempts.filter((a) => a.closeCode !== null), (r) => r.length === 7);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect([r.closeCode, r.closeReason]).toEqual([1013, 'at capacity']);
    expect(server.liveCalls()).toBe(3);
    expect(server.stats().rejectedAtCapacity).toBe(7);
    // A refused start never names its record: it cannot shadow the call it claimed to be.
    expect(server.call(refused[0]?.callSid ?? '')).toBeNull();
    expect(server.calls().filter((c) => c.errors.some((e) => e.code === 'at_capacity'))).toHaveLength(7);
    const handlers = server.calls().length;
    const overflow = new RawTwilio(server.wsUrl);
    await expect(overflow.opened).rejects.toThrow(/503/);
    expect(server.calls().length).toBe(handlers);
    expect(server.stats().rejectedAtCapacity).toBe(8);
    const accepted = attempts.filter((a) => a.closeCode === null);
    expect(accepted).toHaveLength(3);
    accepted[0]?.ws.close();
    await eventually(() => server.liveCalls(), (n) => n === 2);
    const late = await startedCall(server);
    late.sendMedia(SILENT_FRAME);
    late.stop();
    expect(await late.closed).toBe(1000);
    for (const a of accepted.slice(1)) a.ws.close();
  });

  it(`message size: a frame of exactly ${MAX_MESSAGE_BYTES} bytes is read, one byte more closes with 1009`, async () => {
    const server = await serve({});
    const call = await startedCall(server);
    const frame = (size: number): string => {
      const head = `{"event":"media","streamSid":"${call.streamSid}","media":{"payload":"`;
      const tail = '"}}';
      const payloadLength = Math.floor((size - head.length - tail.length) / 4) * 4;
      const text = head + 'A'.repeat(payloadLength) + tail;
      return text + ' '.repeat(size - text.length); // JSON allows trailing whitespace
    };
    call.send(frame(MAX_MESSAGE_BYTES));
    await eventually(() => server.call(call.callSid)?.counters.audioInChunks ?? 0, (n) => n === 1);
    call.send(frame(MAX_MESSAGE_BYTES + 1));
    expect(await call.closed).toBe(1009);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['unexpected_payload_length', 'frame_too_large']);
  });
});

describe('secrets', () => {
  let log: CapturedLog;
  let bare: CapturedLog;
  beforeAll(() => {
    // `serve` logs through a logger that scrubs its secrets; the server must not even need that,
    // so a second, bare logger sees the very same lines unscrubbed.
    log = captureLog([API_KEY, AUTH_TOKEN]);
    bare = captureLog();
  });
  const both = {
    debug: (m: string, f?: Record<string, unknown>) => (log.logger.debug(m, f), bare.logger.debug(m, f)),
    info: (m: string, f?: Record<string, unknown>) => (log.logger.info(m, f), bare.logger.info(m, f)),
    warn: (m: string, f?: Record<string, unknown>) => (log.logger.warn(m, f), bare.logger.warn(m, f)),
    error: (m: string, f?: Record<string, unknown>) => (log.logger.error(m, f), bare.logger.error(m, f)),
  };

  it('no API key or auth token in any log line or /calls, whatever is sent or fails', async () => {
    const secretHeaders = { [TWILIO_SIGNATURE_HEADER]: AUTH_TOKEN, authorization: `Bearer ${API_KEY}`, 'x-api-key': API_KEY, 'x-twilio-auth-token': AUTH_TOKEN };
    const dumps: string[] = [];

    // 1. Simulator model, signatures on: good calls, refused upgrades, refused webhooks.
    const sim = await serve({ logger: both, quiet: false, twilioAuthToken: AUTH_TOKEN, callsToken: CALLS_TOKEN });
    await healthyCall(sim, await signedDialling(sim, AUTH_TOKEN));
    expect(await upgradeStatus(sim.wsUrl, secretHeaders)).toBe(403);
    expect(await upgradeStatus(`${sim.wsUrl}?token=${AUTH_TOKEN}&key=${API_KEY}`, secretHeaders)).toBe(403);
    const hook = await fetch(`${sim.httpUrl}/twiml?AuthToken=${AUTH_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...secretHeaders },
      body: `AuthToken=${AUTH_TOKEN}&ApiKey=${API_KEY}`,
    });
    expect(hook.status).toBe(403);
    // A signed call whose peer quotes the secrets back at us: they end up in error records.
    const echo = await startedCall(sim, 'inbound', await signedDialling(sim, AUTH_TOKEN));
    echo.send({ event: API_KEY, streamSid: echo.streamSid });
    echo.send({ event: 'media', streamSid: AUTH_TOKEN, media: { payload: SILENT_FRAME.toString('base64') } });
    echo.send(`{"event":"${AUTH_TOKEN}"`);
    const live = await eventually(() => sim.call(echo.callSid), (s) => s?.counters.protocolErrors === 3);
    expect(live?.counters.protocolErrors).toBe(3);
    dumps.push(await (await fetch(`${sim.httpUrl}/calls`, { headers: BEARER })).text(), await (await fetch(`${sim.httpUrl}/calls/${echo.callSid}`, { headers: BEARER })).text());
    echo.stop();
    await echo.closed;
    dumps.push(await (await fetch(`${sim.httpUrl}/calls`, { headers: BEARER })).text());

    // 2. The OpenAI backend with a (fake) key, pointed at something that is not TLS: every model
    //    connection fails, the reasons are logged and recorded, the call ends.
    const dead = net.createServer((socket) => socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'));
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as net.AddressInfo).port;
    const openai = await serve({
      logger: both,
      quiet: false,
      model: { backend: 'openai', apiKey: API_KEY, baseURL: `http://127.0.0.1:${deadPort}/v1` },
      call: { modelReconnectDelaysMs: [10, 10] },
    });
    const doomed = await startedCall(openai);
    doomed.sendMedia(SILENT_FRAME);
    expect(await doomed.closed).toBe(1011);
    const record = await finishedCall(openai, doomed.callSid);
    expect(record.errors.length).toBeGreaterThan(0);
    dumps.push(await (await fetch(`${openai.httpUrl}/calls`)).text());
    dead.close();

    expect(log.lines.length).toBeGreaterThan(10);
    expect(log.lines.some((l) => l.includes('bad Twilio signature'))).toBe(true);
    expect(log.lines.some((l) => l.includes('model unavailable'))).toBe(true);
    // What reaches the logs from the server itself never carries a secret, scrubbed or not...
    const peerQuoted = new Set([echo.callSid]);
    const serverOwn = bare.lines.filter((l) => ![...peerQuoted].some((sid) => l.includes(sid)));
    for (const text of serverOwn) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(AUTH_TOKEN);
      expect(text).not.toContain(CALLS_TOKEN);
    }
    // ...and what a peer quoted back is scrubbed on the way out, in the log and in /calls.
    for (const text of [...log.lines, ...dumps]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(AUTH_TOKEN);
      expect(text).not.toContain(CALLS_TOKEN);
    }
    expect(dumps.join('').includes('[redacted]')).toBe(true);
  });
});

describe('/calls exposure', () => {
  it('exposeCalls: false serves no /calls at all', async () => {
    const server = await serve({ exposeCalls: false });
    expect((await fetch(`${server.httpUrl}/calls`)).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/calls/CA1`)).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });

  it('loopback detection', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', '128.0.0.1', '', undefined]) expect(isLoopbackAddress(a)).toBe(false);
  });

  it('callsLocalOnly behind a proxy on this host: a forwarded request is refused unless --trust-proxy reads the client from X-Forwarded-For', async () => {
    const get = (server: RunningMediaServer, xff?: string): Promise<number> =>
      fetch(`${server.httpUrl}/calls`, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }).then((r) => r.status);
    // The proxy connects from loopback: the socket says localhost whoever the client is.
    const plain = await serve({ callsLocalOnly: true });
    expect(await get(plain)).toBe(200);
    expect(await get(plain, '203.0.113.7')).toBe(403);
    expect(await get(plain, '127.0.0.1')).toBe(403);
    const proxied = await serve({ callsLocalOnly: true, trustProxy: true });
    expect(await get(proxied, '203.0.113.7')).toBe(403);
    // The last entry is the one the proxy wrote; what the client put before it is not believed.
    expect(await get(proxied, '127.0.0.1, 203.0.113.7')).toBe(403);
    expect(await get(proxied, '203.0.113.7, 127.0.0.1')).toBe(200);
    expect(await get(proxied)).toBe(200);
    expect(plain.stats().rejectedCallsRequests).toBe(2);
    expect(proxied.stats().rejectedCallsRequests).toBe(2);
  });

  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

  it.skipIf(external === undefined)('callsLocalOnly: served to loopback, 403 to any other peer', async () => {
    const server = await serve({ host: '0.0.0.0', callsLocalOnly: true });
    expect((await fetch(`http://127.0.0.1:${server.port}/calls`)).status).toBe(200);
    const remote = await fetch(`http://${external ?? ''}:${server.port}/calls`);
    expect(remote.status).toBe(403);
    expect((await fetch(`http://${external ?? ''}:${server.port}/calls/CA1`)).status).toBe(403);
    expect((await fetch(`http://${external ?? ''}:${server.port}/healthz`)).status).toBe(200);
    expect(server.stats().rejectedCallsRequests).toBe(2);
  });
});
