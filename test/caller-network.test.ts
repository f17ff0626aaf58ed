// The network between the fake Twilio and the server: mark echoes one seeded one-way delay late
// (never out of order), and congestion: caller audio discarded as Twilio discards it (31930) when
// the server leaves its socket backed up, never buffered without bound.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import { placeCall } from '../src/caller/call.js';
import { runChecks } from '../src/caller/checks.js';
import { CallNetwork, DEFAULT_NETWORK_DELAY, DelayedSender } from '../src/caller/network.js';
import { seedFrom } from '../src/random.js';
import type { CallFlowReport } from '../src/caller/call-flow.js';
import { toCallSummary } from '../src/caller/record.js';

const SILENCE = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
const silence = (frames: number): Buffer[] => Array.from({ length: frames }, () => SILENCE);

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Seen {
  at: number;
  event: string;
}

/** A stream server: `onStart` runs on start; it records arrival times and closes on stop. */
async function streamServer(onStart: (ws: WebSocket, streamSid: string) => void): Promise<{ url: string; seen: Seen[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const seen: Seen[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { event: string; start?: { streamSid: string } };
      seen.push({ at: performance.now(), event: message.event });
      if (message.event === 'start') onStart(ws, message.start!.streamSid);
      if (message.event === 'stop') ws.close(1000);
    });
  });
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/media`, seen };
}

describe('the call network model', () => {
  it('one seeded PRNG per call: the same seed draws the same delays, all within 20–40 ms by default', () => {
    const draw = (seed: number): number[] => {
      const network = new CallNetwork(DEFAULT_NETWORK_DELAY, seed);
      return Array.from({ length: 200 }, () => network.oneWayMs());
    };
    const a = draw(seedFrom('CA0123'));
    expect(draw(seedFrom('CA0123'))).toEqual(a);
    expect(draw(seedFrom('CA0124'))).not.toEqual(a);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...a)).toBeLessThanOrEqual(40);
    // Spread over the range, not stuck at one end.
    expect(Math.max(...a) - Math.min(...a)).toBeGreaterThan(15);
    expect(new CallNetwork({ fixedMs: 7 }, 1).oneWayMs()).toBe(7);
    expect(() => new CallNetwork({ minMs: 40, maxMs: 20 }, 1)).toThrow(RangeError);
    expect(() => new CallNetwork({ fixedMs: -1 }, 1)).toThrow(RangeError);
  });

  it('a message never overtakes the one before it, however the delays fall; stop() loses what is on the wire', () => {
    vi.useFakeTimers();
    let now = 0;
    const delays = [40, 5, 30, 1];
    const network = { oneWayMs: () => delays.shift() ?? 0 } as unknown as CallNetwork;
    const sender = new DelayedSender(network, () => now);
    const arrived: Array<[string, number]> = [];
    for (const name of ['a', 'b', 'c']) sender.send(() => arrived.push([name, now]));
    const advance = (ms: number): void => {
      for (let i = 0; i < ms; i++) {
        now += 1;
        vi.advanceTimersByTime(1);
      }
    };
    advance(45);
    expect(arrived).toEqual([['a', 40], ['b', 40], ['c', 40]]);
    sender.send(() => arrived.push(['d', now]));
    expect(sender.inFlight).toBe(1);
    expect(sender.stop()).toBe(1);
    advance(10);
    expect(arrived).toHaveLength(3);
  });
});

describe('mark echoes cross the network', () => {
  const answerWithMark = (ws: WebSocket, streamSid: string): void => {
    const payload = SILENCE.toString('base64');
    for (let i = 0; i < 25; i++) ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload } })); // 500 ms of audio
    ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'end' } }));
  };

  it.each([
    [{ fixedMs: 0 }, 480, 620],
    [{ fixedMs: 200 }, 680, 830],
  ] as const)('with a one-way delay of %o the echo arrives that much after the audio has played', async (networkDelay, min, max) => {
    const server = await streamServer(answerWithMark);
    const record = await placeCall({ url: server.url, frames: silence(5), tailMs: 0, networkDelay });
    const start = server.seen.find((s) => s.event === 'start')!.at;
    const echo = server.seen.find((s) => s.event === 'mark');
    expect(echo).toBeDefined();
    expect(echo!.at - start).toBeGreaterThan(min);
    expect(echo!.at - start).toBeLessThan(max);
    expect(record.marksEchoed).toBe(1);
    expect(record.network).toEqual({ markEchoDelay: `${networkDelay.fixedMs} ms`, seed: seedFrom(record.callSid) });
  });

  it('the default is 20–40 ms, seeded from the callSid unless a seed is given', async () => {
    const server = await streamServer(answerWithMark);
    const record = await placeCall({ url: server.url, frames: silence(5), tailMs: 0, networkSeed: 42 });
    expect(record.network).toEqual({ markEchoDelay: '20–40 ms', seed: 42 });
    const start = server.seen.find((s) => s.event === 'start')!.at;
    expect(server.seen.find((s) => s.event === 'mark')!.at - start).toBeGreaterThan(500 + 15);
  });
});

describe('congestion: a server that stops reading', () => {
  // Loopback buffers megabytes in the kernel before the socket backs up (~200 s of audio here), so
  // the call is long and fast: 400 s of audio at 300× real time.
  const FRAMES = 20_000;
  const flow: CallFlowReport = { mode: 'direct', fallback: null, webhook: null, twiml: null, stream: null, setupFailure: null, directionSource: 'label', directionNote: null, notes: [] };

  it('loses caller audio as Twilio does (31930), counted and named; its twin that keeps reading loses none', async () => {
    const stalls = await streamServer((ws) => {
      const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.pause();
      setTimeout(() => socket.resume(), 3000);
    });
    const reads = await streamServer(() => {});
    const timing = { mode: 'realtime', speed: 300 } as const;
    const [stalled, healthy] = await Promise.all([
      placeCall({ url: stalls.url, frames: silence(FRAMES), timing, tailMs: 0, timeoutMs: 30_000 }),
      placeCall({ url: reads.url, frames: silence(FRAMES), timing, tailMs: 0, timeoutMs: 30_000 }),
    ]);
    expect(healthy.callerFramesDropped).toBe(0);
    expect(healthy.framesSent).toBe(FRAMES);
    expect(stalled.callerFramesDropped).toBeGreaterThan(1000);
    expect(stalled.framesSent + stalled.callerFramesDropped).toBe(FRAMES);
    // Dropped frames are never built: the server sees no gap in sequence numbers, only in timestamps.
    expect(stalls.seen.filter((s) => s.event === 'media')).toHaveLength(stalled.framesSent);

    const judge = (record: typeof stalled) =>
      runChecks({ call: toCallSummary(record), flow, expectAudio: false, stats: { url: null, available: false, note: null, counters: null }, snapshot: null, timeoutMs: 30_000, allowServerHangup: false, congestionMs: 1000 });
    const verdict = judge(stalled);
    expect(verdict.checks.find((c) => c.name === 'caller-audio-delivered')?.status).toBe('fail');
    expect(verdict.failures.join('\n')).toMatch(new RegExp(`the agent missed ${stalled.callerFramesDropped * 20} ms of the call — Twilio discarded ${stalled.callerFramesDropped} frames .*warning 31930`));
    expect(judge(healthy).checks.find((c) => c.name === 'caller-audio-delivered')?.status).toBe('pass');
  }, 30_000);

  it('a burst never drops: Twilio never sends faster than real time', async () => {
    const stalls = await streamServer((ws) => {
      const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.pause();
      setTimeout(() => socket.resume(), 500);
    });
    const record = await placeCall({ url: stalls.url, frames: silence(FRAMES), timing: { mode: 'burst' }, tailMs: 0, timeoutMs: 30_000 });
    expect(record.callerFramesDropped).toBe(0);
    expect(record.framesSent).toBe(FRAMES);
  }, 30_000);
});
