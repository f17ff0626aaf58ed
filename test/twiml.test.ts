// TwiML as Twilio reads it (twilio/twiml.ts) and where a <Stream url> is dialled (caller/stream-url.ts).
import { describe, expect, it } from 'vitest';
import { connectStreamTwiml, readTwiml, TWIML_MAX_BYTES } from '../src/twilio/twiml.js';
import { isLoopbackHost, streamTarget } from '../src/caller/stream-url.js';

const doc = (body: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${body}</Response>`;

describe('readTwiml: what Twilio does with a document', () => {
  it('<Connect><Stream> with <Parameter>s: the stream, its parameters exactly, and what runs after it', () => {
    const plan = readTwiml(doc(`<Say voice="alice">Connecting you &amp; more</Say><Connect><Stream url="wss://a.example.com/media" name="s1"><Parameter name="lang" value="en"/><Parameter name="x&lt;y" value="&quot;1&quot;"/></Stream></Connect><Say>Goodbye</Say>`));
    expect(plan).toEqual({
      kind: 'stream',
      stream: { verb: 'Connect', url: 'wss://a.example.com/media', name: 's1', track: 'inbound_track', parameters: { lang: 'en', 'x<y': '"1"' } },
      before: [{ verb: 'Say', detail: 'Connecting you & more' }],
      after: [{ verb: 'Say', detail: 'Goodbye' }],
    });
  });

  it('callsim serve’s own TwiML reads back as its stream with the direction parameter', () => {
    const plan = readTwiml(connectStreamTwiml('wss://h.example/media', 'outbound', { tenant: 'acme' }));
    expect(plan).toMatchObject({ kind: 'stream', stream: { verb: 'Connect', url: 'wss://h.example/media', parameters: { direction: 'outbound', tenant: 'acme' } }, after: [] });
  });

  it('<Start><Stream track>: a fork on the tracks asked for; the default track is inbound_track', () => {
    for (const track of ['inbound_track', 'outbound_track', 'both_tracks'] as const) {
      expect(readTwiml(doc(`<Start><Stream url="wss://a/b" track="${track}"/></Start><Pause length="30"/>`))).toMatchObject({
        kind: 'stream',
        stream: { verb: 'Start', track, parameters: {} },
        after: [{ verb: 'Pause', detail: '30 s' }],
      });
    }
    expect(readTwiml(doc('<Start><Stream url="wss://a/b"/></Start><Say>hi</Say>'))).toMatchObject({ stream: { track: 'inbound_track' } });
  });

  it('a track <Connect> does not take, or one no verb takes, is error 31941', () => {
    expect(readTwiml(doc('<Connect><Stream url="wss://a/b" track="both_tracks"/></Connect>'))).toMatchObject({ kind: 'error', error: { code: 31941 } });
    expect(readTwiml(doc('<Start><Stream url="wss://a/b" track="left"/></Start><Pause/>'))).toMatchObject({ kind: 'error', error: { code: 31941 } });
  });

  it('a <Stream> without url is error 31923', () => {
    expect(readTwiml(doc('<Connect><Stream/></Connect>'))).toMatchObject({ kind: 'error', error: { code: 31923 } });
  });

  it('calls that end without a stream: <Hangup>, <Reject>, an empty <Response>, a verb callsim does not follow, a misspelt verb', () => {
    expect(readTwiml(doc('<Say>We are closed</Say><Hangup/>'))).toMatchObject({ kind: 'no-stream', ending: 'hangup', verbs: [{ verb: 'Say', detail: 'We are closed' }, { verb: 'Hangup' }] });
    expect(readTwiml(doc('<Reject reason="busy"/>'))).toMatchObject({ kind: 'no-stream', ending: 'reject', verbs: [{ verb: 'Reject', detail: 'busy' }] });
    expect(readTwiml(doc(''))).toMatchObject({ kind: 'no-stream', ending: 'end-of-document', verbs: [] });
    expect(readTwiml('<Response/>')).toMatchObject({ kind: 'no-stream', ending: 'end-of-document' });
    expect(readTwiml(doc('<Say>Hello</Say>'))).toMatchObject({ kind: 'no-stream', ending: 'end-of-document', verbs: [{ verb: 'Say' }] });
    expect(readTwiml(doc('<Gather input="speech"/>'))).toMatchObject({ kind: 'no-stream', ending: 'not-followed' });
    expect(readTwiml(doc('<Connect><Room>r</Room></Connect>'))).toMatchObject({ kind: 'no-stream', ending: 'not-followed' });
    const misspelt = readTwiml(doc('<connect><stream url="wss://a/b"/></connect>'));
    expect(misspelt).toMatchObject({ kind: 'no-stream', ending: 'not-followed' });
    expect(misspelt.kind === 'no-stream' && misspelt.detail).toMatch(/case-sensitive/);
  });

  it('a <Start> of something other than a stream is passed through to the next verb', () => {
    expect(readTwiml(doc('<Start><Transcription/></Start><Connect><Stream url="wss://a/b"/></Connect>'))).toMatchObject({ kind: 'stream', before: [{ verb: 'Start', detail: '<Transcription>' }] });
  });

  it('documents Twilio cannot read: not XML (12100), leading space before the declaration (12100), another root (12102), over 64 kB (11750), a DOCTYPE', () => {
    expect(readTwiml('<Response><Say>oops</Response>')).toMatchObject({ kind: 'error', error: { code: 12100 } });
    expect(readTwiml(' <?xml version="1.0"?><Response/>')).toMatchObject({ kind: 'error', error: { code: 12100 } });
    expect(readTwiml('Thanks for calling!')).toMatchObject({ kind: 'error', error: { code: 12100 } });
    expect(readTwiml('')).toMatchObject({ kind: 'error', error: { code: 12100 } });
    expect(readTwiml('<Resp><Say>x</Say></Resp>')).toMatchObject({ kind: 'error', error: { code: 12102 } });
    expect(readTwiml(doc(`<Say>${'a'.repeat(TWIML_MAX_BYTES)}</Say>`))).toMatchObject({ kind: 'error', error: { code: 11750 } });
    const bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Response><Say>&b;</Say></Response>';
    expect(readTwiml(bomb)).toMatchObject({ kind: 'error', error: { code: 12100 } });
  });
});

describe('streamTarget: where a <Stream url> is dialled and what is signed', () => {
  it('wss:// on a public host: dialled and signed as written', () => {
    expect(streamTarget('wss://agent.example.com/media', 'https://agent.example.com/twiml')).toEqual({
      ok: true, url: 'wss://agent.example.com/media', dialUrl: 'wss://agent.example.com/media', signUrl: 'wss://agent.example.com/media', warning: null,
    });
  });

  it('wss:// on loopback: dialled as ws:// (callsim plays the TLS proxy), signed as the wss:// URL', () => {
    for (const host of ['127.0.0.1:5050', 'localhost:5050', '[::1]:5050', '127.3.4.5']) {
      const target = streamTarget(`wss://${host}/media-stream`, null);
      expect(target).toMatchObject({ ok: true, dialUrl: `ws://${host}/media-stream`, signUrl: `wss://${host}/media-stream`, warning: null });
    }
  });

  it('ws:// on loopback is accepted with a warning; ws:// anywhere else is error 31922, as are other schemes', () => {
    expect(streamTarget('ws://127.0.0.1:5050/media', null)).toMatchObject({ ok: true, dialUrl: 'ws://127.0.0.1:5050/media', warning: expect.stringContaining('31922') });
    expect(streamTarget('ws://agent.example.com/media', null)).toMatchObject({ ok: false, code: 31922 });
    expect(streamTarget('https://agent.example.com/media', null)).toMatchObject({ ok: false, code: 31922 });
    expect(streamTarget('wss://127.0.0.1.example.com/media', null)).toMatchObject({ ok: true, dialUrl: 'wss://127.0.0.1.example.com/media' });
  });

  it('a relative URL resolves against the webhook, keeping its security (https -> wss, http -> ws)', () => {
    expect(streamTarget('/media', 'https://agent.example.com/voice/twiml')).toMatchObject({ ok: true, url: 'wss://agent.example.com/media' });
    expect(streamTarget('media', 'https://agent.example.com/voice/twiml')).toMatchObject({ ok: true, url: 'wss://agent.example.com/voice/media' });
    expect(streamTarget('/media', 'http://127.0.0.1:5050/twiml')).toMatchObject({ ok: true, url: 'ws://127.0.0.1:5050/media', warning: expect.any(String) });
    expect(streamTarget('/media', null)).toMatchObject({ ok: false, code: 31923 });
  });

  it('a query string is refused (TwiML <Stream>: pass values as <Parameter>s); a broken URL is 31923', () => {
    expect(streamTarget('wss://agent.example.com/media?token=abc', null)).toMatchObject({ ok: false, code: 31920, message: expect.stringContaining('<Parameter>') });
    expect(streamTarget('wss://exa mple/media', null)).toMatchObject({ ok: false, code: 31923 });
  });

  it('loopback hosts', () => {
    expect(['127.0.0.1', '127.255.0.9', 'localhost', 'LOCALHOST', '[::1]', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['128.0.0.1', '10.0.0.1', 'localhost.example.com', '127.0.0.1.nip.io', '[::2]'].some(isLoopbackHost)).toBe(false);
  });
});
