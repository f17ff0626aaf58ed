// GET /calls: a page of summaries (newest first, capped, with a link to the next page), the
// details of one call at /calls/:callSid, and a bearer token in front of both whenever one is set
// and always when Twilio signatures are checked. What the replay reads (GET /calls/:callSid, the
// same snapshot) keeps working, with the token.
import { afterEach, describe, expect, it } from 'vitest';
import { runReplay } from '../src/caller/replay.js';
import type { CallsPage } from '../src/server/call-snapshot.js';
import { MAX_PAGE_LIMIT } from '../src/server/calls-route.js';
import { startMediaServer, type MediaServerOptions, type RunningMediaServer } from '../src/server/media-server.js';
import { RawTwilio } from './helpers/raw-twilio.js';
import { captureLog, finishedCall, signedDialling, startedCall } from './helpers/robustness.js';

const TOKEN = 'a-calls-token-of-some-length';
const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const HELLO = 'fixtures/hello-8k-mulaw.wav';

const servers: RunningMediaServer[] = [];
async function serve(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const server = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 400 } }, ...options });
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** `count` short calls, each with `badFrames` unknown events on its record; their callSids, oldest first. */
async function callsWithErrors(server: RunningMediaServer, count: number, badFrames: number): Promise<string[]> {
  const sids: string[] = [];
  for (let i = 0; i < count; i++) {
    const call = await startedCall(server);
    // A long event name: each error record is as large as a record gets (200 characters).
    for (let e = 0; e < badFrames; e++) call.send({ event: `x${'y'.repeat(300)}`, streamSid: call.streamSid });
    call.stop();
    await call.closed;
    sids.push(call.callSid);
  }
  await finishedCall(server, sids.at(-1) ?? '');
  return sids;
}

async function page(server: RunningMediaServer, query = '', headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; body: CallsPage }> {
  const res = await fetch(`${server.httpUrl}/calls${query}`, { headers });
  const text = await res.text();
  return { status: res.status, bytes: Buffer.byteLength(text), body: JSON.parse(text) as CallsPage };
}

describe('GET /calls pages', () => {
  it('summaries, newest first, 100 to a page by default, with a next link down to the last page', async () => {
    const server = await serve({ keepFinishedCalls: 300 });
    const sids = await callsWithErrors(server, 250, 0);
    const live = await startedCall(server);
    const first = await page(server);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ total: 251, live: 1, awaitingStart: 0, limit: 100 });
    expect(first.body.calls).toHaveLength(100);
    expect(first.body.calls[0]?.callSid).toBe(live.callSid);
    expect(first.body.calls[1]?.callSid).toBe(sids.at(-1));
    const seen = [...first.body.calls.map((c) => c.callSid)];
    let next = first.body.next;
    let pages = 1;
    while (next !== null) {
      expect(next).toMatch(/^\/calls\?limit=100&before=\d+$/);
      const more = await page(server, next.slice('/calls'.length));
      seen.push(...more.body.calls.map((c) => c.callSid));
      next = more.body.next;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([live.callSid, ...[...sids].reverse()]);
    // A summary has the counters and the error count; the error records are the details.
    expect(first.body.calls[1]).not.toHaveProperty('errors');
    expect(first.body.calls[1]).toMatchObject({ state: 'stopped', errorCount: 0, counters: { audioInChunks: 0 } });
    live.stop();
    await live.closed;
  });

  it(`?limit= from 1 to ${MAX_PAGE_LIMIT}; anything else is a 400`, async () => {
    const server = await serve();
    await callsWithErrors(server, 3, 0);
    expect((await page(server, '?limit=2')).body.calls).toHaveLength(2);
    expect((await page(server, `?limit=${MAX_PAGE_LIMIT}`)).body.calls).toHaveLength(3);
    for (const bad of ['?limit=0', `?limit=${MAX_PAGE_LIMIT + 1}`, '?limit=abc', '?limit=-1', '?limit=1.5', '?before=x', '?before=0']) {
      expect((await fetch(`${server.httpUrl}/calls${bad}`)).status).toBe(400);
    }
  });

  it('1,000 finished calls with full error records: a page stays small; the details are per call', async () => {
    const server = await serve();
    const sids = await callsWithErrors(server, 1000, 51);
    const { body, bytes } = await page(server);
    expect(body.total).toBe(1000);
    expect(body.calls).toHaveLength(100);
    // The whole list was one body of ~15 MB; a page of summaries is a few hundred bytes a call.
    expect(bytes).toBeLessThan(100 * 1024);
    const largest = await page(server, `?limit=${MAX_PAGE_LIMIT}`);
    expect(largest.body.calls).toHaveLength(1000);
    expect(largest.bytes).toBeLessThan(1024 * 1024);
    const detail = await (await fetch(`${server.httpUrl}/calls/${sids[0]}`)).json();
    expect(detail).toMatchObject({ callSid: sids[0], errorCount: 51 });
    expect((detail as { errors: unknown[] }).errors).toHaveLength(51);
  }, 60_000);

  it('/calls/:callSid that is not SID-shaped is a 404 without a lookup', async () => {
    const server = await serve();
    expect((await fetch(`${server.httpUrl}/calls/${encodeURIComponent('CA1\n')}`)).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/calls/${'C'.repeat(100)}`)).status).toBe(404);
  });
});

describe('GET /calls behind a bearer token', () => {
  it('with --calls-token: 401 (with WWW-Authenticate) without it or with a wrong one, 200 with it', async () => {
    const server = await serve({ callsToken: TOKEN });
    const call = await startedCall(server);
    call.stop();
    await call.closed;
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }];
    for (const headers of attempts) {
      const res = await fetch(`${server.httpUrl}/calls`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect((await fetch(`${server.httpUrl}/calls/${call.callSid}`, { headers })).status).toBe(401);
    }
    expect((await page(server, '', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/calls/${call.callSid}`, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect(server.stats().rejectedCallsRequests).toBe(8);
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });

  it('signatures checked and no token set: /calls answers 401 to everyone, and the server said so at start', async () => {
    const log = captureLog();
    const server = await serve({ twilioAuthToken: AUTH_TOKEN, logger: log.logger, quiet: false });
    const call = await startedCall(server, 'inbound', await signedDialling(server, AUTH_TOKEN));
    call.stop();
    await call.closed;
    expect((await fetch(`${server.httpUrl}/calls`)).status).toBe(401);
    expect((await fetch(`${server.httpUrl}/calls/${call.callSid}`)).status).toBe(401);
    expect(log.records().some((r) => r.level === 'warn' && String(r.msg).includes('no /calls token'))).toBe(true);
  });

  it('a token shorter than 16 characters fails the start', async () => {
    await expect(startMediaServer({ quiet: true, callsToken: 'short' })).rejects.toThrow(/at least 16 characters/);
  });

  it('the replay reads a guarded server with the token, and says why it cannot without', async () => {
    const server = await serve({ callsToken: TOKEN });
    const withToken = await runReplay({ file: HELLO, url: server.wsUrl, statsToken: TOKEN, timing: { mode: 'burst' }, tailMs: 300 });
    expect(withToken.stats.available).toBe(true);
    expect(withToken.stats.counters?.audioInChunks).toBe(withToken.call.framesSent);
    expect(withToken.verdict).toBe('pass');
    const without = await runReplay({ file: HELLO, url: server.wsUrl, timing: { mode: 'burst' }, tailMs: 300 });
    expect(without.stats.available).toBe(false);
    expect(without.stats.note).toMatch(/HTTP 401 .*set CALLSIM_CALLS_TOKEN/);
  });
});

describe('a stranger on /calls', () => {
  it('a socket that never started shows up on the page with no callSid, and is not findable by one', async () => {
    const server = await serve();
    const stranger = new RawTwilio(server.wsUrl);
    await stranger.opened;
    const { body } = await page(server);
    expect(body).toMatchObject({ total: 1, live: 0, awaitingStart: 1 });
    expect(body.calls[0]).toMatchObject({ callSid: null, state: 'connected' });
    stranger.ws.close();
    await stranger.closed;
  });
});
