// Security: Twilio request signatures on the WebSocket upgrade and /twiml (403 before any call
// handler exists), a cap on concurrent calls and on message size, no secret in any log line or
// in /calls, and /calls that can be switched off or kept to localhost.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMediaServer, type MediaServerOptions, type RunningMediaServer } from '../src/server/media-server.js';
import { isLoopbackAddress } from '../src/server/routes.js';
import { MAX_MESSAGE_BYTES } from '../src/twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature, formParams, validateTwilioSignature } from '../src/twilio/signature.js';
import { RawTwilio, SILENT_FRAME, eventually } from './helpers/raw-twilio.js';
import { captureLog, finishedCall, healthyCall, startedCall, upgradeStatus, type CapturedLog } from './helpers/robustness.js';

// Shaped like the real things, so pattern-based scrubbing gets no help from an odd format.
const AUTH_TOKEN = randomBytes(16).toString('hex');
const API_KEY = `sk-proj-${randomBytes(24).toString('base64url')}`;

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
    const headers = { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, signedWs) };
    const { snapshot, closeCode, mediaReceived } = await healthyCall(server, headers);
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

  it('without it, X-Forwarded-Proto gives the scheme Twilio used', async () => {
    const server = await serve({ twilioAuthToken: AUTH_TOKEN });
    const sig = computeTwilioSignature(AUTH_TOKEN, `https://127.0.0.1:${server.port}/twiml`);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: sig } })).status).toBe(403);
    expect((await fetch(`${server.httpUrl}/twiml`, { headers: { [TWILIO_SIGNATURE_HEADER]: sig, 'x-forwarded-proto': 'https' } })).status).toBe(200);
  });
});

describe('caps', () => {
  it('concurrent calls: beyond maxCalls the upgrade gets 503 and no handler; a slot frees when a call ends', async () => {
    const server = await serve({ maxCalls: 3 });
    const attempts = Array.from({ length: 10 }, () => new RawTwilio(server.wsUrl));
    const results = await Promise.allSettled(attempts.map((a) => a.opened));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(String(r.reason)).toContain('503');
    expect(server.liveCalls()).toBe(3);
    expect(server.stats().rejectedAtCapacity).toBe(7);
    const accepted = attempts.filter((_a, i) => results[i]?.status === 'fulfilled');
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
    const sim = await serve({ logger: both, quiet: false, twilioAuthToken: AUTH_TOKEN });
    const good = { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(AUTH_TOKEN, `wss://127.0.0.1:${sim.port}/media`) };
    await healthyCall(sim, good);
    expect(await upgradeStatus(sim.wsUrl, secretHeaders)).toBe(403);
    expect(await upgradeStatus(`${sim.wsUrl}?token=${AUTH_TOKEN}&key=${API_KEY}`, secretHeaders)).toBe(403);
    const hook = await fetch(`${sim.httpUrl}/twiml?AuthToken=${AUTH_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...secretHeaders },
      body: `AuthToken=${AUTH_TOKEN}&ApiKey=${API_KEY}`,
    });
    expect(hook.status).toBe(403);
    // A signed call whose peer quotes the secrets back at us: they end up in error records.
    const echo = await startedCall(sim, 'inbound', good);
    echo.send({ event: API_KEY, streamSid: echo.streamSid });
    echo.send({ event: 'media', streamSid: AUTH_TOKEN, media: { payload: SILENT_FRAME.toString('base64') } });
    echo.send(`{"event":"${AUTH_TOKEN}"`);
    const live = await eventually(() => sim.call(echo.callSid), (s) => s?.counters.protocolErrors === 3);
    expect(live?.counters.protocolErrors).toBe(3);
    dumps.push(await (await fetch(`${sim.httpUrl}/calls`)).text(), await (await fetch(`${sim.httpUrl}/calls/${echo.callSid}`)).text());
    echo.stop();
    await echo.closed;
    dumps.push(await (await fetch(`${sim.httpUrl}/calls`)).text());

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
    }
    // ...and what a peer quoted back is scrubbed on the way out, in the log and in /calls.
    for (const text of [...log.lines, ...dumps]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(AUTH_TOKEN);
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
