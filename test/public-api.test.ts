// The README's "from Vitest or Jest" example, run as written: the package imported by its own
// name (through its exports map and the built dist/, as a user's project would), a call replayed
// against a server started in the test, and assertions on the result; the same assertions fail
// against a planted server that crashes on outbound calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay, startMediaServer, type RunningMediaServer } from 'callsim';
import * as forgetfulOutbound from './servers/forgetful-outbound.mjs';

describe('my voice agent', () => {
  let server: RunningMediaServer;
  beforeAll(async () => {
    server = await startMediaServer({ port: 0, quiet: true });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers an outbound call and counts every frame', async () => {
    const report = await replay({ file: 'fixtures/hello-8k-mulaw.wav', url: server.wsUrl, direction: 'outbound', expectAudio: true });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('pass');
    expect(report.call.firstAudioLatencyMs).toBeLessThan(2000);
    expect(report.stats.counters?.audioInChunks).toBe(report.call.framesSent);
  });
});

describe('the same test against a server that crashes on outbound calls', () => {
  it('fails, naming what the caller would hear', async () => {
    const planted = await forgetfulOutbound.start({ port: 0, quiet: true });
    try {
      // It learns the direction from its voice webhook, as Twilio calls it.
      const report = await replay({ file: 'fixtures/hello-8k-mulaw.wav', url: `ws://127.0.0.1:${planted.port}/media`, webhook: { path: '/twiml' }, direction: 'outbound', timing: { mode: 'burst' }, expectAudio: true });
      expect(report.verdict).toBe('fail');
      expect(report.failures[0]).toMatch(/^the caller hears: "An application error has occurred" — the server closed the media stream before stop \(code 1011/);
    } finally {
      await planted.close();
    }
  });
});
