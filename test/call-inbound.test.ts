// Twilio inbound dispatch without a socket: each message routed where it belongs, each refusal
// recorded with its code, and checked against the call's phase.
import { describe, expect, it } from 'vitest';
import { TwilioInbound, type AcceptedStart, type InboundRoutes } from '../src/server/call/inbound.js';
import { CallLifecycle, type CallPhase } from '../src/server/call/lifecycle.js';
import { audio, keptLog, newRecord } from './helpers/call-fakes.js';

function inbound(phase: CallPhase = 'awaiting-start') {
  const log = keptLog();
  const record = newRecord(log);
  const lifecycle = new CallLifecycle({
    internalError(err) {
      throw err;
    },
  });
  const routed: string[] = [];
  const starts: AcceptedStart[] = [];
  const digits: string[] = [];
  const routes: InboundRoutes = {
    admitStart: () => null,
    onStart: (start) => {
      starts.push(start);
      lifecycle.move('live');
    },
    onMedia: (payload, bytes) => routed.push(`media ${bytes}`),
    onMark: (name) => routed.push(`mark ${name}`),
    onDtmf: (digit) => digits.push(digit),
    onStop: () => routed.push('stop'),
    close: (reason, code) => routed.push(`end ${code} ${reason}`),
  };
  const dispatch = new TwilioInbound(lifecycle, record, log.logger, routes);
  const send = (body: unknown, isBinary = false): void => dispatch.dispatch(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), isBinary);
  const start = (extra: Record<string, unknown> = {}): void => send({ event: 'start', streamSid: 'MZ1', start: { callSid: 'CA1', streamSid: 'MZ1', tracks: ['inbound'], ...extra } });
  if (phase !== 'awaiting-start') start();
  if (phase === 'stopping' || phase === 'closing') lifecycle.move(phase);
  if (phase === 'stopped' || phase === 'closed') {
    lifecycle.move(phase === 'stopped' ? 'stopping' : 'closing');
    lifecycle.move(phase);
  }
  const codes = (): string[] => record.snapshot({ state: lifecycle.reported, queues: { toTwilio: 0, toModel: 0 }, modelState: '' }).errors.map((e) => e.code);
  return { dispatch, record, routed, digits, starts, send, start, codes, log };
}

const media = (payload: string, streamSid = 'MZ1') => ({ event: 'media', sequenceNumber: '3', streamSid, media: { track: 'inbound', chunk: '1', timestamp: '20', payload } });

describe('Twilio inbound dispatch', () => {
  it('a valid start names the call and routes its direction and tracks', () => {
    const { record, starts, start, codes } = inbound();
    start({ customParameters: { direction: 'outbound' } });
    expect(record.callSid).toBe('CA1');
    expect(record.streamSid).toBe('MZ1');
    expect(starts).toEqual([{ streamSid: 'MZ1', direction: 'outbound', tracks: ['inbound'] }]);
    expect(codes()).toEqual([]);
  });

  it('start: a second one, an overlong SID or a bad direction are refused or corrected, and recorded', () => {
    const dup = inbound('live');
    dup.send({ event: 'start', streamSid: 'MZ2', start: { callSid: 'CA2', streamSid: 'MZ2' } });
    expect(dup.codes()).toEqual(['duplicate_start']);
    expect(dup.record.callSid).toBe('CA1');
    expect(dup.starts).toHaveLength(1);

    const long = inbound();
    long.start({ callSid: 'CA'.padEnd(10_000, 'x') });
    expect(long.codes()).toEqual(['invalid_sid']);
    expect(long.starts).toEqual([]);
    expect(long.record.callSid).toBeNull();

    const sideways = inbound();
    sideways.start({ customParameters: { direction: 'sideways' } });
    expect(sideways.codes()).toEqual(['invalid_direction']);
    expect(sideways.starts[0]?.direction).toBe('inbound');
    // Named before the error, so its log line carries the callSid.
    expect(sideways.log.records.find((r) => r.msg === 'call error')?.callSid).toBe('CA1');
  });

  it('media: accepted and counted only while live and for this stream; odd sizes noted and still forwarded', () => {
    const { send, routed, record, codes } = inbound('live');
    send(media(audio(160)));
    send(media(audio(160), ''));
    send(media(audio(160), 'MZ-other'));
    send(media(''));
    send(media(audio(7)));
    expect(routed).toEqual(['media 160', 'media 160', 'media 7']);
    expect(record.counters.audioInChunks).toBe(3);
    expect(codes()).toEqual(['wrong_stream_sid', 'empty_payload', 'unexpected_payload_length']);
    expect(record.counters.protocolErrors).toBe(3);
  });

  it.each([
    ['awaiting-start', 'media_before_start'],
    ['stopped', 'media_after_stop'],
    ['closed', 'media_after_end'],
  ] as const)('media while %s: %s, not forwarded', (phase, code) => {
    const { send, routed, codes, record } = inbound(phase);
    send(media(audio(160)));
    expect(routed).toEqual([]);
    expect(codes()).toEqual([code]);
    expect(record.counters.audioInChunks).toBe(0);
  });

  it('marks are counted and routed whatever the phase; dtmf is counted', () => {
    const { send, routed, record } = inbound();
    send({ event: 'mark', streamSid: 'MZ1', mark: { name: '1:200' } });
    send({ event: 'dtmf', streamSid: 'MZ1', dtmf: { track: 'inbound_track', digit: '5' } });
    send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    expect(routed).toEqual(['mark 1:200']);
    expect(record.counters.marksReceived).toBe(1);
    expect(record.counters.dtmfReceived).toBe(1);
  });

  it("dtmf: a key Twilio sends (0-9, *, #) reaches the call; a peer's other text is counted, never routed", () => {
    const { send, digits, record } = inbound('live');
    for (const digit of ['1', '#', '*', '12', 'A', '\n1']) send({ event: 'dtmf', streamSid: 'MZ1', dtmf: { track: 'inbound_track', digit } });
    expect(digits).toEqual(['1', '#', '*']);
    expect(record.counters.dtmfReceived).toBe(6);
  });

  it('stop: routed once; before start it is also an error; after the end a duplicate', () => {
    const live = inbound('live');
    live.send({ event: 'stop', streamSid: 'MZ1' });
    expect(live.routed).toEqual(['stop']);
    expect(live.codes()).toEqual([]);
    const early = inbound();
    early.send({ event: 'stop' });
    expect(early.routed).toEqual(['stop']);
    expect(early.codes()).toEqual(['stop_before_start']);
    const late = inbound('stopped');
    late.send({ event: 'stop' });
    expect(late.routed).toEqual([]);
    expect(late.codes()).toEqual(['duplicate_stop']);
  });

  it('what the codec refuses is a protocol error; the call goes on', () => {
    const { send, routed, codes } = inbound('live');
    send('{"event":');
    send('[1]');
    send({ event: 'bogus' });
    send(Buffer.from([1, 2]).toString(), true);
    expect(codes()).toEqual(['malformed_json', 'not_an_object', 'unknown_event', 'binary_frame']);
    expect(routed).toEqual([]);
  });

  it('a frame ws refused ends the call with the close code ws sent; other socket errors only record', () => {
    const { dispatch, routed, codes } = inbound('live');
    dispatch.socketError(Object.assign(new Error('Max payload size exceeded'), { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }));
    dispatch.socketError(Object.assign(new Error('MASK must be set'), { code: 'WS_ERR_EXPECTED_MASK' }));
    dispatch.socketError(new Error('read ECONNRESET'));
    expect(routed).toEqual(['end 1009 frame too large (1009)', 'end 1002 invalid frame (1002)']);
    expect(codes()).toEqual(['frame_too_large', 'invalid_frame', 'socket_error']);
  });
});
