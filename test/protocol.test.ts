// The wire contract both sides import: every event parses to its typed form, and anything
// malformed comes back as a typed error value instead of an exception.
import { describe, expect, it } from 'vitest';
import { OutboundFrameBuilder, base64DecodedLength, isBase64, parseServerMessage, parseTwilioMessage } from '../src/twilio/codec.js';

describe('isBase64', () => {
  it('accepts real base64 of every padding length', () => {
    for (let n = 0; n < 10; n++) {
      const text = Buffer.alloc(n, 0xa5).toString('base64');
      expect(isBase64(text)).toBe(true);
      expect(base64DecodedLength(text)).toBe(n);
    }
    expect(isBase64(Buffer.from([0xfb, 0xff, 0xbf]).toString('base64'))).toBe(true); // '+' and '/'
  });

  it('rejects what Buffer.from would silently skip', () => {
    for (const bad of ['abc', 'ab!d', 'ab=d', '====', 'a===', 'ab cd', 'abé=', 'YWJj\n', 'YW-_']) expect(isBase64(bad)).toBe(false);
  });
});

describe('parseTwilioMessage', () => {
  const payload = Buffer.alloc(160, 0xff).toString('base64');

  it('parses each Twilio event', () => {
    const start = parseTwilioMessage(
      JSON.stringify({
        event: 'start',
        sequenceNumber: '1',
        start: { accountSid: 'AC1', streamSid: 'MZ1', callSid: 'CA1', tracks: ['inbound'], customParameters: { direction: 'outbound', n: 3 }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
        streamSid: 'MZ1',
      }),
    );
    expect(start).toEqual({
      ok: true,
      message: {
        event: 'start',
        sequenceNumber: '1',
        streamSid: 'MZ1',
        start: { accountSid: 'AC1', streamSid: 'MZ1', callSid: 'CA1', tracks: ['inbound'], customParameters: { direction: 'outbound' }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
      },
    });
    const media = parseTwilioMessage(JSON.stringify({ event: 'media', sequenceNumber: '2', streamSid: 'MZ1', media: { track: 'inbound', chunk: '1', timestamp: '20', payload } }));
    expect(media.ok && media.message.event === 'media' && media.message.media.payload).toBe(payload);
    // Numbers where Twilio sends strings are normalised, not rejected.
    const numeric = parseTwilioMessage(JSON.stringify({ event: 'media', sequenceNumber: 2, streamSid: 'MZ1', media: { chunk: 1, timestamp: 20, payload } }));
    expect(numeric).toEqual({ ok: true, message: { event: 'media', sequenceNumber: '2', streamSid: 'MZ1', media: { track: 'inbound', chunk: '1', timestamp: '20', payload } } });
    expect(parseTwilioMessage('{"event":"mark","sequenceNumber":"3","streamSid":"MZ1","mark":{"name":"1:200"}}')).toMatchObject({ ok: true, message: { mark: { name: '1:200' } } });
    expect(parseTwilioMessage('{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"5"}}')).toMatchObject({ ok: true, message: { dtmf: { digit: '5' } } });
    expect(parseTwilioMessage('{"event":"stop","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}')).toMatchObject({ ok: true, message: { event: 'stop', stop: { callSid: 'CA1' } } });
    expect(parseTwilioMessage('{"event":"connected","protocol":"Call","version":"1.0.0"}')).toMatchObject({ ok: true, message: { event: 'connected' } });
  });

  it('returns a typed error for each kind of malformed frame', () => {
    const code = (raw: string | Buffer, binary = false): string | null => {
      const result = parseTwilioMessage(raw, binary);
      return result.ok ? null : result.error.code;
    };
    expect(code('{"event":')).toBe('malformed_json');
    expect(code('[1,2]')).toBe('not_an_object');
    expect(code(Buffer.from([1, 2, 3]), true)).toBe('binary_frame');
    expect(code('{"event":"hangup"}')).toBe('unknown_event');
    expect(code('{"event":"media","streamSid":"MZ1"}')).toBe('missing_field');
    expect(code('{"event":"media","media":{"payload":42}}')).toBe('invalid_field');
    expect(code('{"event":"media","media":{"payload":"not base64!"}}')).toBe('invalid_base64');
    expect(code('{"event":"start","start":{"streamSid":"MZ1"}}')).toBe('missing_field');
    expect(code('{"event":"mark","mark":{}}')).toBe('missing_field');
    expect(code('x'.repeat(70_000))).toBe('frame_too_large');
  });
});

describe('server → Twilio frames', () => {
  it('builds media, mark and clear that parse back to what was meant', () => {
    const frames = new OutboundFrameBuilder('MZ"quoted"');
    const payload = Buffer.alloc(160, 1).toString('base64');
    expect(parseServerMessage(frames.media(payload))).toEqual({ ok: true, message: { event: 'media', streamSid: 'MZ"quoted"', media: { payload } } });
    expect(parseServerMessage(frames.mark('1:200'))).toEqual({ ok: true, message: { event: 'mark', streamSid: 'MZ"quoted"', mark: { name: '1:200' } } });
    expect(parseServerMessage(frames.clear())).toEqual({ ok: true, message: { event: 'clear', streamSid: 'MZ"quoted"' } });
    expect(parseServerMessage('{"event":"media","media":{"payload":"AA=="}}')).toMatchObject({ ok: false, error: { code: 'missing_field' } });
  });

  it('is as strict as Twilio (warning 31951: missing or extra field): only the documented fields, strings only', () => {
    const sid = '"streamSid":"MZ1"';
    const refused: Array<[string, string]> = [
      [`{"event":"media",${sid},"media":{"payload":"AA==","track":"outbound"}}`, 'extra_field'],
      [`{"event":"media",${sid},"sequenceNumber":"3","media":{"payload":"AA=="}}`, 'extra_field'],
      [`{"event":"mark",${sid},"mark":{"name":"m1","at":5}}`, 'extra_field'],
      [`{"event":"clear",${sid},"mark":{"name":"m1"}}`, 'extra_field'],
      [`{"event":"mark",${sid},"mark":{"name":7}}`, 'invalid_field'],
      [`{"event":"mark",${sid},"mark":{}}`, 'missing_field'],
      [`{"event":"clear","streamSid":42}`, 'invalid_field'],
    ];
    for (const [raw, code] of refused) expect(parseServerMessage(raw), raw).toMatchObject({ ok: false, error: { code } });
    // The documented shapes, whatever the key order.
    expect(parseServerMessage(`{"media":{"payload":"AA=="},${sid},"event":"media"}`)).toMatchObject({ ok: true });
    expect(parseServerMessage(`{"event":"mark","mark":{"name":""},${sid}}`)).toMatchObject({ ok: true, message: { mark: { name: '' } } });
  });
});
