// The Twilio codec's builders: every message Twilio sends, built per stream and numbered as
// Twilio numbers them, parses back to what was meant; the spliced fast paths give exactly
// JSON.stringify's output; the carrier serializer maps caller events to those frames and the
// server's frames to agent events, refusing another stream's.
import { describe, expect, it } from 'vitest';
import {
  CONNECTED_MESSAGE,
  InboundFrameBuilder,
  TwilioCarrierSerializer,
  newSid,
  newStreamIds,
  parseTwilioMessage,
  startMessage,
  type MediaMessage,
  type TwilioInboundMessage,
} from '../src/twilio/codec.js';

const ids = { accountSid: 'AC' + 'a'.repeat(32), callSid: 'CA' + 'b'.repeat(32), streamSid: 'MZ' + 'c'.repeat(32) };
const payload = Buffer.alloc(160, 0x7f).toString('base64');

function parsed(raw: string): TwilioInboundMessage {
  const result = parseTwilioMessage(raw);
  if (!result.ok) throw new Error(`did not parse: ${result.error.message}`);
  return result.message;
}

describe('InboundFrameBuilder', () => {
  it('builds every Twilio -> server message so that it parses back to the same fields', () => {
    const frames = new InboundFrameBuilder(ids);
    expect(parsed(frames.connected())).toEqual({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    expect(parsed(frames.start({ customParameters: { direction: 'outbound', lang: 'en' } }))).toEqual({
      event: 'start',
      sequenceNumber: '1',
      streamSid: ids.streamSid,
      start: {
        accountSid: ids.accountSid,
        streamSid: ids.streamSid,
        callSid: ids.callSid,
        tracks: ['inbound'],
        customParameters: { direction: 'outbound', lang: 'en' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    expect(parsed(frames.media(payload, 0))).toEqual({
      event: 'media',
      sequenceNumber: '2',
      streamSid: ids.streamSid,
      media: { track: 'inbound', chunk: '1', timestamp: '0', payload },
    });
    expect(parsed(frames.dtmf('#'))).toEqual({ event: 'dtmf', sequenceNumber: '3', streamSid: ids.streamSid, dtmf: { track: 'inbound_track', digit: '#' } });
    expect(parsed(frames.mark('1:200'))).toEqual({ event: 'mark', sequenceNumber: '4', streamSid: ids.streamSid, mark: { name: '1:200' } });
    expect(parsed(frames.stop())).toEqual({
      event: 'stop',
      sequenceNumber: '5',
      streamSid: ids.streamSid,
      stop: { accountSid: ids.accountSid, callSid: ids.callSid },
    });
  });

  it('numbers messages as Twilio does: connected has none, start is 1, every later message the next; chunks count from 1', () => {
    const frames = new InboundFrameBuilder(ids);
    const sent = [frames.connected(), frames.start()];
    for (let n = 0; n < 5; n++) sent.push(frames.media(payload, n * 20));
    sent.push(frames.mark('a'), frames.dtmf('1'));
    for (let n = 5; n < 8; n++) sent.push(frames.media(payload, n * 20));
    sent.push(frames.stop());
    const messages = sent.map(parsed);
    expect('sequenceNumber' in messages[0]!).toBe(false);
    const sequence = messages.slice(1).map((m) => ('sequenceNumber' in m ? m.sequenceNumber : null));
    expect(sequence).toEqual(sequence.map((_, i) => String(i + 1)));
    const media = messages.filter((m): m is MediaMessage => m.event === 'media');
    // A mark or DTMF between frames takes a sequenceNumber but no chunk.
    expect(media.map((m) => m.media.chunk)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(media.map((m) => m.media.timestamp)).toEqual(['0', '20', '40', '60', '80', '100', '120', '140']);
    expect(frames.lastSequenceNumber).toBe(12); // start, 8 media, mark, dtmf, stop
    expect(frames.lastChunk()).toBe(8);
  });

  it('counts chunks per track and rounds timestamps to whole ms', () => {
    const frames = new InboundFrameBuilder(ids);
    frames.start({ tracks: ['inbound', 'outbound'] });
    const a = parsed(frames.media(payload, 0, 'inbound')) as MediaMessage;
    const b = parsed(frames.media(payload, 0.4, 'outbound')) as MediaMessage;
    const c = parsed(frames.media(payload, 19.6, 'inbound')) as MediaMessage;
    expect([a.media.track, a.media.chunk, b.media.track, b.media.chunk, c.media.chunk]).toEqual(['inbound', '1', 'outbound', '1', '2']);
    expect([b.media.timestamp, c.media.timestamp]).toEqual(['0', '20']);
    expect([a.sequenceNumber, b.sequenceNumber, c.sequenceNumber]).toEqual(['2', '3', '4']);
  });

  it("the spliced media and mark frames are exactly JSON.stringify of the same message, odd SIDs and names included", () => {
    for (const streamSid of [ids.streamSid, 'MZ"quoted"\\', 'MZ\u00e9\u2028']) {
      const frames = new InboundFrameBuilder({ ...ids, streamSid });
      frames.start();
      const expected: MediaMessage = { event: 'media', sequenceNumber: '2', streamSid, media: { track: 'inbound', chunk: '1', timestamp: '40', payload } };
      expect(frames.media(payload, 40)).toBe(JSON.stringify(expected));
      const name = 'say "hi"\n\u00e9';
      expect(frames.mark(name)).toBe(JSON.stringify({ event: 'mark', sequenceNumber: '3', streamSid, mark: { name } }));
    }
  });

  it('startMessage builds a start with other SIDs and does not share its inputs', () => {
    const customParameters = { direction: 'inbound' };
    const start = startMessage(7, ids, { customParameters });
    customParameters.direction = 'outbound';
    expect(start.sequenceNumber).toBe('7');
    expect(start.start.customParameters).toEqual({ direction: 'inbound' });
    expect(JSON.parse(new InboundFrameBuilder(ids).connected())).toEqual(CONNECTED_MESSAGE);
  });
});

describe('SIDs', () => {
  it('are a type prefix and 32 lowercase hex digits, fresh each time', () => {
    const made = new Set<string>();
    for (const prefix of ['AC', 'CA', 'MZ'] as const) {
      for (let i = 0; i < 50; i++) {
        const sid = newSid(prefix);
        expect(sid).toMatch(new RegExp(`^${prefix}[0-9a-f]{32}$`));
        made.add(sid);
      }
    }
    expect(made.size).toBe(150);
    const stream = newStreamIds();
    expect([stream.accountSid.slice(0, 2), stream.callSid.slice(0, 2), stream.streamSid.slice(0, 2)]).toEqual(['AC', 'CA', 'MZ']);
  });
});

describe('TwilioCarrierSerializer', () => {
  it('serializes each caller event to the frame the builder makes for it', () => {
    const carrier = new TwilioCarrierSerializer(ids);
    const twin = new InboundFrameBuilder(ids);
    expect(carrier.serialize({ type: 'connected' })).toBe(twin.connected());
    expect(carrier.serialize({ type: 'start', customParameters: { direction: 'inbound' } })).toBe(twin.start({ customParameters: { direction: 'inbound' } }));
    expect(carrier.serialize({ type: 'audio', payload, timestampMs: 0 })).toBe(twin.media(payload, 0));
    expect(carrier.serialize({ type: 'dtmf', digit: '5' })).toBe(twin.dtmf('5'));
    expect(carrier.serialize({ type: 'mark-played', name: 'm' })).toBe(twin.mark('m'));
    expect(carrier.serialize({ type: 'hangup' })).toBe(twin.stop());
  });

  it('deserializes the server frames of its stream to agent events, and refuses another stream and malformed frames', () => {
    const carrier = new TwilioCarrierSerializer(ids);
    const sid = ids.streamSid;
    expect(carrier.deserialize(JSON.stringify({ event: 'media', streamSid: sid, media: { payload } }), false)).toEqual({ ok: true, event: { type: 'audio', payload } });
    expect(carrier.deserialize(JSON.stringify({ event: 'mark', streamSid: sid, mark: { name: '1:200' } }), false)).toEqual({ ok: true, event: { type: 'mark', name: '1:200' } });
    expect(carrier.deserialize(Buffer.from(JSON.stringify({ event: 'clear', streamSid: sid })), false)).toEqual({ ok: true, event: { type: 'clear' } });

    const other = carrier.deserialize(JSON.stringify({ event: 'clear', streamSid: 'MZother' }), false);
    expect(other).toEqual({ ok: false, error: { code: 'wrong_stream_sid', message: `clear message with streamSid "MZother"; this stream is ${sid}` } });
    const code = (raw: string | Buffer, binary = false): string | null => {
      const result = carrier.deserialize(raw, binary);
      return result.ok ? null : result.error.code;
    };
    expect(code('{"event":')).toBe('malformed_json');
    expect(code(Buffer.from([1, 2]), true)).toBe('binary_frame');
    expect(code(JSON.stringify({ event: 'media', streamSid: sid, media: { payload: 'no!' } }))).toBe('invalid_base64');
    expect(code(JSON.stringify({ event: 'start', streamSid: sid }))).toBe('unknown_event');
  });
});
