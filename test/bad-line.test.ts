// The bad line, seeded: latency and jitter on every message both ways (in order, as on one TCP
// connection), caller audio lost before Twilio (never sent: the next timestamp jumps), and the
// same seed replaying the same call exactly. What "the same call" means is defined here and
// tested as defined: the text of every frame the server received, byte for byte, and the instant
// each was scheduled to reach it (its frame's due time plus its seeded delay, from `start`) —
// not the wall-clock instants it arrived at, which the event loop moves by a millisecond or two.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { FRAME_BYTES } from '../src/audio/format.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { placeCall } from '../src/caller/call.js';
import { CallNetwork, DEFAULT_NETWORK_DELAY, type BadLine } from '../src/caller/network.js';
import type { CallRecord } from '../src/caller/record.js';

const HELLO = loadWavAsMulawFrames('fixtures/hello-8k-mulaw.wav');
const IDS = { accountSid: `AC${'1'.repeat(32)}`, callSid: `CA${'2'.repeat(32)}`, streamSid: `MZ${'3'.repeat(32)}` };
const LINE: BadLine = { latencyMs: 40, jitterMs: 30, packetLoss: 0.08 };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Received {
  at: number;
  text: string;
}

/** A server that takes everything and says nothing (no marks: the caller's side of the wire is all the caller's own doing). */
async function sink(onStart?: (ws: WebSocket, streamSid: string) => void, stallMsPerMessage = 0): Promise<{ url: string; calls: Received[][] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const calls: Received[][] = [];
  wss.on('connection', (ws) => {
    const received: Received[] = [];
    calls.push(received);
    ws.on('message', (data) => {
      const text = data.toString();
      received.push({ at: performance.now(), text });
      // A stalled event loop (this process is the caller's too): every timer of the call fires late.
      for (const until = performance.now() + stallMsPerMessage; performance.now() < until;);
      const message = JSON.parse(text) as { event: string; start?: { streamSid: string } };
      if (message.event === 'start') onStart?.(ws, message.start!.streamSid);
      if (message.event === 'stop') ws.close(1000);
    });
  });
  closers.push(() => new Promise<void>((resolve) => {
    for (const client of wss.clients) client.terminate();
    wss.close(() => resolve());
  }));
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/media`, calls };
}

function call(url: string, seed: number, line: BadLine = LINE): Promise<CallRecord> {
  return placeCall({ url, ids: IDS, frames: HELLO.frames, badLine: line, networkSeed: seed, timing: { mode: 'realtime', speed: 4 }, tailMs: 200, dtmf: { digits: '1#', atMs: 400 }, keepTape: true, closeGraceMs: 200 });
}

/** What the caller put on the wire, as scheduled: each frame's text and its scheduled offset from `start`, to the microsecond. */
function schedule(record: CallRecord): Array<[number | null, string]> {
  const tape = record.detail.tape!;
  return tape.wire.filter((m) => m.dir === 'to-server').map((m) => [m.scheduledAt === null ? null : Math.round((m.scheduledAt - tape.origin) * 1000) / 1000, m.text]);
}

describe('the network model', () => {
  it('jitter, loss and mark echoes draw from streams of their own: marks the server sends do not move the caller schedule', () => {
    const draws = (echoDraws: number): number[] => {
      const network = new CallNetwork(DEFAULT_NETWORK_DELAY, 7, LINE);
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        for (let e = 0; e < echoDraws; e++) network.oneWayMs();
        out.push(network.uplink.oneWayMs(), network.downlink.oneWayMs(), network.loses() ? 1 : 0);
      }
      return out;
    };
    expect(draws(3)).toEqual(draws(0));
    const delays = draws(0).filter((_, i) => i % 3 === 0);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(40);
    expect(Math.max(...delays)).toBeLessThanOrEqual(70);
    expect(() => new CallNetwork(DEFAULT_NETWORK_DELAY, 1, { latencyMs: 0, jitterMs: 0, packetLoss: 1 })).toThrow(RangeError);
    expect(() => new CallNetwork(DEFAULT_NETWORK_DELAY, 1, { latencyMs: -1, jitterMs: 0, packetLoss: 0 })).toThrow(RangeError);
  });
});

describe('a seeded bad line', () => {
  it('the same seed is the same call on the wire, byte for byte and instant for instant as scheduled; another seed is another call', async () => {
    const server = await sink();
    const first = await call(server.url, 42);
    const second = await call(server.url, 42);
    const other = await call(server.url, 43);
    const [a, b, c] = server.calls.map((received) => received.map((r) => r.text));
    // What the server received, byte for byte.
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // What the caller scheduled: every frame, and when it was due to reach the server.
    expect(schedule(second)).toEqual(schedule(first));
    expect(schedule(other)).not.toEqual(schedule(first));
    // However late the event loop wakes the caller, even its hang-up is due when its plan says.
    const stalled = await sink(undefined, 8);
    expect(schedule(await call(stalled.url, 42))).toEqual(schedule(first));
    expect(first.callerFramesLost).toBe(second.callerFramesLost);
    expect(first.callerFramesLost).toBeGreaterThan(0);
    expect(first.badLine).toEqual(LINE);
    expect(first.network?.seed).toBe(42);
    // The wall clock is not part of it: the arrivals differ from run to run, the schedule does not.
    const arrivals = (n: number): number[] => server.calls[n]!.map((r) => r.at - server.calls[n]![0]!.at);
    expect(arrivals(1)).not.toEqual(arrivals(0));
  }, 30_000);

  it('loss is caller audio Twilio never had: fewer frames, no gap in sequence numbers, the timestamp jumps where the tape says', async () => {
    const server = await sink();
    const record = await call(server.url, 42);
    const media = server.calls[0]!.map((r) => JSON.parse(r.text) as { event: string; sequenceNumber: string; media?: { timestamp: string; chunk: string; payload: string } }).filter((m) => m.event !== 'connected');
    const sequence = media.map((m) => Number(m.sequenceNumber));
    expect(sequence).toEqual(sequence.map((_, i) => i + 1));
    const frames = media.filter((m) => m.event === 'media');
    expect(frames.length).toBe(record.framesSent);
    expect(record.framesSent + record.callerFramesLost).toBe(HELLO.frames.length + 10);
    const said = record.detail.tape!.said;
    expect(said.filter((f) => f.lost)).toHaveLength(record.callerFramesLost);
    // The stamps of what arrived are exactly the stamps of the frames not lost.
    const expected = said.map((f, i) => ({ lost: f.lost, stamp: String(i * 20) })).filter((f) => !f.lost).map((f) => f.stamp);
    expect(frames.map((m) => m.media!.timestamp)).toEqual(expected);
    expect(frames.every((m) => Buffer.from(m.media!.payload, 'base64').length === FRAME_BYTES)).toBe(true);
    // The server's count matches what was sent, not what was said: the checks judge the wire.
    expect(record.framesSent).toBeLessThan(said.length);
  }, 30_000);

  it('latency and jitter hold every frame back (at least the latency, in order); a clean line sends at once', async () => {
    const server = await sink();
    const slow = await call(server.url, 5, { latencyMs: 150, jitterMs: 50, packetLoss: 0 });
    const clean = await call(server.url, 5, { latencyMs: 0, jitterMs: 0, packetLoss: 0 });
    const lagsOf = (record: CallRecord, received: Received[]): number[] => {
      const frames = record.detail.tape!.said.filter((f) => !f.lost);
      const arrived = received.filter((r) => r.text.includes('"event":"media"'));
      expect(arrived).toHaveLength(frames.length);
      // Measured in the same process: when the caller's side had it due, and when the server read it.
      return arrived.map((r, i) => r.at - frames[i]!.at).sort((x, y) => x - y);
    };
    const slowLags = lagsOf(slow, server.calls[0]!);
    const cleanLags = lagsOf(clean, server.calls[1]!);
    // Nothing can arrive before its latency; the median sits in the jitter's range (150-200 ms).
    expect(slowLags[0]).toBeGreaterThanOrEqual(150 - 1);
    const median = (lags: number[]): number => lags[Math.floor(lags.length / 2)]!;
    expect(median(slowLags)).toBeGreaterThan(160);
    expect(median(slowLags)).toBeLessThan(215);
    expect(median(cleanLags)).toBeLessThan(20);
  }, 30_000);

  it('the server → caller direction is delayed too: a mark echo comes back two one-way trips (and its own delay) after it went', async () => {
    const payload = Buffer.alloc(FRAME_BYTES, 0xff).toString('base64');
    const server = await sink((ws, streamSid) => {
      ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload } }));
      ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'm1' } }));
    });
    const record = await placeCall({ url: server.url, ids: IDS, frames: HELLO.frames.slice(0, 20), badLine: { latencyMs: 120, jitterMs: 0, packetLoss: 0 }, networkDelay: { fixedMs: 10 }, networkSeed: 1, timing: { mode: 'realtime', speed: 1 }, tailMs: 500, closeGraceMs: 200 });
    const received = server.calls[0]!;
    const start = received.find((r) => r.text.includes('"event":"start"'))!.at;
    const echo = received.find((r) => r.text.includes('"event":"mark"'));
    expect(record.marksEchoed).toBe(1);
    // start reaches the server 120 ms late; its answer reaches the handset 120 ms after it went, plays
    // 20 ms, the echo waits its 10 ms and crosses back in 120 ms: about 270 ms after start arrived.
    expect(echo!.at - start).toBeGreaterThan(120 + 20 + 10 + 120 - 5);
    expect(echo!.at - start).toBeLessThan(120 + 20 + 10 + 120 + 60);
  }, 30_000);
});
