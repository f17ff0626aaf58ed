// Bad input on the media socket (and the HTTP side): every malformed, misplaced or oversized
// thing a peer can send gets a logged, counted per-call error, and the call goes on, or ends
// with a clear close code where going on would be wrong. A bystander call streams through the
// whole suite and must come out untouched.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMediaServer } from '../src/server/media-server.js';
import { MAX_MESSAGE_BYTES } from '../src/twilio/codec.js';
import { RawTwilio, SILENT_FRAME, eventually, sid } from './helpers/raw-twilio.js';
import { startWatchedServer, type Bystander, finishedCall, startedCall, upgradeStatus, type CapturedLog } from './helpers/robustness.js';

let server: RunningMediaServer;
let log: CapturedLog;
let bystander: Bystander;

beforeAll(async () => {
  ({ server, log, bystander } = await startWatchedServer());
});

afterAll(async () => {
  await server.close();
});

const b64 = (bytes: number): string => Buffer.alloc(bytes, 0xff).toString('base64');

function media(streamSid: string, payload: unknown): object {
  return { event: 'media', sequenceNumber: '9', streamSid, media: { track: 'inbound', chunk: '1', timestamp: '20', payload } };
}

interface BadInputCase {
  name: string;
  /** Sent right after `connected`, before `start`. */
  beforeStart?: (call: RawTwilio) => void;
  /** Sent after `start`. */
  afterStart?: (call: RawTwilio) => void;
  errors: string[];
  /** Media frames accepted besides the five valid ones every case sends. */
  extraAudio?: number;
}

const CASES: BadInputCase[] = [
  { name: 'malformed JSON', afterStart: (c) => c.send('{"event":"media","media":{"payload":'), errors: ['malformed_json'] },
  { name: 'JSON that is not an object', afterStart: (c) => (c.send('[1,2,3]'), c.send('null'), c.send('"media"')), errors: ['not_an_object', 'not_an_object', 'not_an_object'] },
  { name: 'binary frame', afterStart: (c) => c.sendBinary(Buffer.from([1, 2, 3, 4])), errors: ['binary_frame'] },
  { name: 'unknown event', afterStart: (c) => c.send({ event: 'bogus', streamSid: c.streamSid }), errors: ['unknown_event'] },
  { name: 'no event at all', afterStart: (c) => c.send({ streamSid: c.streamSid }), errors: ['unknown_event'] },
  { name: 'non-string event', afterStart: (c) => c.send({ event: { media: true } }), errors: ['unknown_event'] },
  { name: 'media before start', beforeStart: (c) => c.sendMedia(SILENT_FRAME), errors: ['media_before_start'] },
  { name: 'media for another streamSid', afterStart: (c) => c.send(media(sid('MZ'), b64(160))), errors: ['wrong_stream_sid'] },
  { name: 'media without a media object', afterStart: (c) => c.send({ event: 'media', streamSid: c.streamSid }), errors: ['missing_field'] },
  { name: 'missing payload', afterStart: (c) => c.send(media(c.streamSid, undefined)), errors: ['invalid_field'] },
  { name: 'non-string payload', afterStart: (c) => (c.send(media(c.streamSid, 12345)), c.send(media(c.streamSid, ['AAAA']))), errors: ['invalid_field', 'invalid_field'] },
  { name: 'invalid base64', afterStart: (c) => (c.send(media(c.streamSid, '!!!!')), c.send(media(c.streamSid, 'AAA')), c.send(media(c.streamSid, 'AA=A'))), errors: ['invalid_base64', 'invalid_base64', 'invalid_base64'] },
  { name: 'empty payload', afterStart: (c) => c.send(media(c.streamSid, '')), errors: ['empty_payload'] },
  // Odd-sized audio is still audio: noted, and forwarded to the model anyway.
  { name: 'payloads of the wrong length', afterStart: (c) => (c.send(media(c.streamSid, b64(7))), c.send(media(c.streamSid, b64(4000)))), errors: ['unexpected_payload_length', 'unexpected_payload_length'], extraAudio: 2 },
  { name: 'a second start', afterStart: (c) => c.start('outbound', sid('CA'), sid('MZ')), errors: ['duplicate_start'] },
  { name: 'start without callSid', beforeStart: (c) => c.send({ event: 'start', streamSid: c.streamSid, start: { streamSid: c.streamSid } }), errors: ['missing_field'] },
  { name: 'start with a 10 kB callSid', beforeStart: (c) => c.start('inbound', 'CA'.padEnd(10_000, 'x')), errors: ['invalid_sid'] },
  // Sent on as the model's x-callsim-call-sid header, a non-Latin-1 character made Node refuse
  // the request, and the call failed as "model unavailable"; a newline would forge log lines.
  { name: 'start with a non-Latin-1 callSid', beforeStart: (c) => c.start('inbound', `CA\u260e${c.callSid.slice(3)}`), errors: ['invalid_sid'] },
  { name: 'start with a newline in the streamSid', beforeStart: (c) => c.start('inbound', c.callSid, `${c.streamSid}\nINFO call ended`), errors: ['invalid_sid'] },
  { name: 'start with a bad direction', beforeStart: (c) => c.send({ event: 'start', streamSid: c.streamSid, start: { callSid: c.callSid, streamSid: c.streamSid, customParameters: { direction: 'sideways' } } }), errors: ['invalid_direction'] },
  { name: 'mark without a name', afterStart: (c) => c.send({ event: 'mark', streamSid: c.streamSid, mark: {} }), errors: ['missing_field'] },
  { name: 'dtmf without a digit', afterStart: (c) => c.send({ event: 'dtmf', streamSid: c.streamSid, dtmf: { track: 'inbound_track' } }), errors: ['missing_field'] },
];

describe('bad input on a live call: logged, counted, the call goes on', () => {
  it.each(CASES)('$name', async (testCase) => {
    // This case's log lines only: the log is shared by the whole file.
    const before = log.lines.length;
    const call = new RawTwilio(server.wsUrl);
    await call.opened;
    call.connected();
    testCase.beforeStart?.(call);
    // The bad-direction case carries its own start; every other case uses the normal one.
    if (testCase.name !== 'start with a bad direction') call.start('inbound');
    testCase.afterStart?.(call);
    for (let i = 0; i < 5; i++) call.sendMedia(SILENT_FRAME);
    const expectedAudio = 5 + (testCase.extraAudio ?? 0);
    await eventually(() => server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === expectedAudio);
    call.stop();
    expect(await call.closed).toBe(1000);

    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(testCase.errors);
    expect(snapshot.counters.protocolErrors).toBe(testCase.errors.length);
    expect(snapshot.counters.audioInChunks).toBe(expectedAudio);
    expect(snapshot.counters.modelAudioAppends).toBe(expectedAudio);
    expect(snapshot.state).toBe('stopped');
    expect(snapshot.endReason).toBe('stop');
    expect(server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived).toBe(expectedAudio);
    // Every error is in the log too (errors before `start` have no callSid yet).
    const logged = log.records().slice(before).filter((r) => r.msg === 'call error' && (r.callSid === call.callSid || r.callSid === null));
    for (const code of new Set(testCase.errors)) expect(logged.some((r) => r.code === code)).toBe(true);
  });

  it('a flood of 100,000 wrong frames: every one counted, errors and log lines bounded, the call goes on', async () => {
    const call = await startedCall(server);
    const before = log.lines.length;
    const wrong = JSON.stringify(media(sid('MZ'), b64(160)));
    for (let i = 0; i < 100_000; i++) call.send(wrong);
    const live = await eventually(() => server.call(call.callSid), (s) => s?.counters.protocolErrors === 100_000, 20_000);
    expect(live?.counters.protocolErrors).toBe(100_000);
    for (let i = 0; i < 5; i++) call.sendMedia(SILENT_FRAME);
    await eventually(() => server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === 5);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.audioInChunks).toBe(5);
    // 50 kept verbatim, then one summary that keeps counting.
    expect(snapshot.errors).toHaveLength(51);
    expect(snapshot.errors[50]?.code).toBe('errors_suppressed');
    expect(snapshot.errors[50]?.message).toMatch(/^99950 more errors not kept; last: wrong_stream_sid/);
    const callLines = log.lines.slice(before).filter((l) => l.includes(call.callSid) && l.includes('"call error"'));
    // The first 50, then every 1000th.
    expect(callLines.length).toBe(50 + 100);
  });

  it('floods of valid-but-pointless messages (dtmf, marks, connected) are counted with bounded logging', async () => {
    const call = await startedCall(server);
    const before = log.lines.length;
    for (let i = 0; i < 20_000; i++) {
      call.send({ event: 'dtmf', streamSid: call.streamSid, dtmf: { track: 'inbound_track', digit: String(i % 10) } });
      call.mark(`999:${i}`);
      call.connected();
    }
    const live = await eventually(() => server.call(call.callSid), (s) => s?.counters.dtmfReceived === 20_000 && s.counters.marksReceived === 20_000, 20_000);
    expect(live?.counters.dtmfReceived).toBe(20_000);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.marksReceived).toBe(20_000);
    expect(snapshot.errors).toEqual([]);
    expect(log.lines.slice(before).filter((l) => l.includes('"dtmf"')).length).toBe(50 + 20);
  });

  it('a burst of 5,000 valid frames (100 s of audio at once) is all counted and all reaches the model', async () => {
    const call = await startedCall(server);
    call.sendMedia(SILENT_FRAME);
    await eventually(() => server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === 1);
    for (let i = 0; i < 5000; i++) call.sendMedia(SILENT_FRAME);
    const sessions = await eventually(() => server.simulator?.sessionsFor(call.callSid) ?? [], (s) => s[0]?.appendsReceived === 5001, 20_000);
    expect(sessions[0]?.appendsReceived).toBe(5001);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.audioInChunks).toBe(5001);
    expect(snapshot.errors).toEqual([]);
  });
});

describe('bad input that ends the call, with a clear close code', () => {
  it('stop before start: the call ends (1000) with the error recorded', async () => {
    const call = new RawTwilio(server.wsUrl);
    await call.opened;
    call.connected();
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await eventually(() => server.calls().find((c) => c.errors.some((e) => e.code === 'stop_before_start') && c.callSid === null), (s) => s !== undefined);
    expect(snapshot?.endReason).toBe('stop');
    expect(snapshot?.state).toBe('stopped');
  });

  it('stop twice: the first ends the call, the second is recorded on the finished call', async () => {
    const call = await startedCall(server);
    for (let i = 0; i < 3; i++) call.sendMedia(SILENT_FRAME);
    call.stop();
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await eventually(() => server.call(call.callSid), (s) => s?.errors.some((e) => e.code === 'duplicate_stop') === true);
    expect(snapshot?.errors.map((e) => e.code)).toEqual(['duplicate_stop']);
    expect(snapshot?.counters.audioInChunks).toBe(3);
    expect(snapshot?.endReason).toBe('stop');
  });

  it.each([
    ['text', (c: RawTwilio) => c.send(JSON.stringify(media(c.streamSid, b64(MAX_MESSAGE_BYTES))))],
    ['binary', (c: RawTwilio) => c.sendBinary(Buffer.alloc(MAX_MESSAGE_BYTES + 1))],
  ] as const)('a %s frame over the size limit: closed with 1009, recorded on the call, others untouched', async (_kind, sendHuge) => {
    const neighbour = await startedCall(server);
    const call = await startedCall(server);
    call.sendMedia(SILENT_FRAME);
    await eventually(() => server.call(call.callSid)?.counters.audioInChunks ?? 0, (n) => n === 1);
    sendHuge(call);
    expect(await call.closed).toBe(1009);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['frame_too_large']);
    expect(snapshot.counters.protocolErrors).toBe(1);
    expect(snapshot.endReason).toBe('frame too large (1009)');
    expect(log.forCall(call.callSid).some((r) => r.msg === 'call error' && r.code === 'frame_too_large')).toBe(true);
    // The neighbour never noticed.
    for (let i = 0; i < 5; i++) neighbour.sendMedia(SILENT_FRAME);
    neighbour.stop();
    expect(await neighbour.closed).toBe(1000);
    const other = await finishedCall(server, neighbour.callSid);
    expect(other.errors).toEqual([]);
    expect(other.counters.audioInChunks).toBe(5);
  });

  it('a text frame that is not UTF-8: closed with 1007, recorded on the call', async () => {
    const call = await startedCall(server);
    call.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await call.closed).toBe(1007);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['invalid_utf8']);
    expect(snapshot.endReason).toBe('invalid UTF-8 (1007)');
  });

  it('a frame that breaks WebSocket framing (unmasked client frame): closed with 1002, recorded', async () => {
    const call = await startedCall(server);
    await eventually(() => server.call(call.callSid), (s) => s !== null);
    // A raw text frame without the mask every client frame must carry.
    (call.ws as unknown as { _socket: net.Socket })._socket.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d]));
    expect(await call.closed).toBe(1002);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['invalid_frame']);
    expect(snapshot.endReason).toBe('invalid frame (1002)');
  });
});

describe('bad input on the HTTP side', () => {
  it('answers garbage with 4xx and keeps serving', async () => {
    expect((await fetch(`${server.httpUrl}/calls/%E0%A4%A`)).status).toBe(400);
    const big = await fetch(`${server.httpUrl}/twiml`, { method: 'POST', body: 'x='.padEnd(100_000, 'y'), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(big.status).toBe(413);
    expect(await upgradeStatus(`${server.wsUrl.replace('/media', '/nope')}`)).toBe(404);
    expect(await upgradeStatus(server.wsUrl, { 'sec-websocket-key': 'not a key' })).toBe(400);
    expect(await upgradeStatus(server.wsUrl, { 'sec-websocket-version': '7' })).toBe(400);
    // Not HTTP at all.
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write('\x16\x03\x01 hello? \r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    // A peer that resets right after asking to upgrade.
    await new Promise<void>((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1', () => {
        socket.write('GET /media HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        socket.resetAndDestroy();
        resolve();
      });
    });
    const health = await fetch(`${server.httpUrl}/healthz`);
    expect(health.status).toBe(200);
  });
});

describe('the bystander', () => {
  it('streamed through all of the above with every frame counted and no error', async () => {
    const { snapshot, sent, closeCode } = await bystander.finish();
    expect(closeCode).toBe(1000);
    expect(snapshot.errors).toEqual([]);
    expect(snapshot.counters.audioInChunks).toBe(sent);
    expect(sent).toBeGreaterThan(50);
    expect(server.liveCalls()).toBe(0);
  });
});
