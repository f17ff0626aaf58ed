// The fake Twilio against hostile servers keeps only what it must: the agent's audio only for
// --save-audio (and bounded then), no frame past the protocol's largest message, no stats answer
// past one call's size. And a call the timeout cut short while the agent kept talking fails.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { placeCall } from '../src/caller/call.js';
import { MAX_HEARD_CHUNKS, MAX_HEARD_CLEARS } from '../src/caller/heard.js';
import { MAX_PLAYBACK_CLEARS } from '../src/caller/playback.js';
import { runReplay } from '../src/caller/replay.js';
import { MAX_STATS_BODY_BYTES } from '../src/caller/stats.js';
import { CallTape, MAX_TAPE_CHARS, MAX_TAPE_MESSAGES } from '../src/caller/tape.js';
import { parseScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';

const HELLO = 'fixtures/hello-8k-mulaw.wav';
const SILENCE = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
const silence = (frames: number): Buffer[] => Array.from({ length: frames }, () => SILENCE);

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * A Media Streams server on loopback that runs `onStart` once the call starts (and closes on
 * stop); `onRequest` answers its HTTP side (GET /calls/...), 404 without it.
 */
async function hostile(onStart: (ws: WebSocket, streamSid: string) => void, onRequest?: http.RequestListener): Promise<{ url: string; httpUrl: string }> {
  const server = http.createServer(onRequest ?? ((_req, res) => res.writeHead(404).end()));
  const wss = new WebSocketServer({ server, path: '/media' });
  const timers: NodeJS.Timeout[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { event: string; start?: { streamSid: string } };
      if (message.event === 'start') onStart(ws, message.start?.streamSid ?? '');
      if (message.event === 'stop') ws.close(1000, 'stream stopped');
    });
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const t of timers) clearInterval(t);
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/media`, httpUrl: `http://127.0.0.1:${port}` };
}

const media = (streamSid: string): string => JSON.stringify({ event: 'media', streamSid, media: { payload: Buffer.alloc(FRAME_BYTES, 0x10).toString('base64') } });

describe("the agent's audio", () => {
  it('is counted, not kept, unless the call is told to keep it, and then only that much', async () => {
    // 100 s of audio at once.
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      for (let i = 0; i < 5000; i++) ws.send(frame);
    });
    const counted = await placeCall({ url, frames: silence(5), timing: { mode: 'burst' }, tailMs: 0, quietMs: 200 });
    expect(counted.framesReceived).toBe(5000);
    expect(counted.receivedAudio).toEqual([]);
    expect(counted.receivedFramesNotKept).toBe(5000);
    const kept = await placeCall({ url, frames: silence(5), timing: { mode: 'burst' }, tailMs: 0, quietMs: 200, keepAudioMs: 1000 });
    expect(kept.framesReceived).toBe(5000);
    expect(kept.receivedAudio).toHaveLength(50);
    expect(kept.receivedFramesNotKept).toBe(4950);
  });

  it('--save-audio writes what was kept and the report says how much was not', async () => {
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      for (let i = 0; i < 300; i++) ws.send(frame);
    });
    const dir = mkdtempSync(join(tmpdir(), 'callsim-bounds-'));
    try {
      const file = join(dir, 'agent.wav');
      const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 0, saveAudioPath: file });
      expect(report.savedAudio).toEqual({ file, frames: 300, error: null });
      expect(report.call.receivedFramesNotKept).toBe(0);
      expect(loadWavAsMulawFrames(file).frames).toHaveLength(300);
      const unsaved = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 0 });
      expect(unsaved.call.framesReceived).toBe(300);
      expect(unsaved.call.receivedFramesNotKept).toBe(300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("what the caller heard keeps when it played, not the agent's audio, unless the call keeps a recording; and its pieces are bounded", async () => {
    // More payloads than the pieces kept, all at once: each queues behind the one before.
    const payloads = MAX_HEARD_CHUNKS + 10_000;
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      for (let i = 0; i < payloads; i++) ws.send(frame);
    });
    const heardOf = async (keepTape: boolean) => {
      const record = await placeCall({ url, frames: silence(5), timing: { mode: 'burst' }, tailMs: 1000, quietMs: 300, timeoutMs: 60_000, keepTape });
      const chunks = record.detail.heard!.chunks;
      return { received: record.framesReceived, chunks: chunks.length, playedBytes: chunks.reduce((n, c) => n + c.bytes, 0), keptBytes: chunks.reduce((n, c) => n + Buffer.concat(c.audio).length, 0), endAt: chunks.at(-1)!.endAt - chunks[0]!.startAt };
    };
    const counted = await heardOf(false);
    expect(counted.received).toBe(payloads);
    expect(counted.chunks).toBeLessThanOrEqual(MAX_HEARD_CHUNKS);
    // Every payload's time on the handset is still there: 20 ms each, back to back.
    expect(counted.playedBytes).toBe(payloads * FRAME_BYTES);
    expect(counted.endAt).toBeCloseTo(payloads * 20, 0);
    expect(counted.keptBytes).toBe(0);
    // A recording is made of what was heard: then the audio is kept too.
    const recorded = await heardOf(true);
    expect(recorded.chunks).toBeLessThanOrEqual(MAX_HEARD_CHUNKS);
    expect(recorded.playedBytes).toBe(payloads * FRAME_BYTES);
    expect(recorded.keptBytes).toBe(payloads * FRAME_BYTES);
  }, 120_000);
});

describe("the server's clears", () => {
  it('a flood of clears is counted and obeyed, and kept only up to its bound (what played and what was heard)', async () => {
    const clears = MAX_PLAYBACK_CLEARS + 5000;
    const { url } = await hostile((ws, streamSid) => {
      const clear = JSON.stringify({ event: 'clear', streamSid });
      for (let i = 0; i < clears; i++) {
        ws.send(media(streamSid));
        ws.send(clear);
      }
    });
    const record = await placeCall({ url, frames: silence(5), timing: { mode: 'realtime', speed: 1 }, tailMs: 1000, quietMs: 300, timeoutMs: 60_000 });
    expect(record.clearsReceived).toBe(clears);
    expect(record.playback.clears).toHaveLength(MAX_PLAYBACK_CLEARS);
    expect(record.playback.clearsDropped).toBe(clears - MAX_PLAYBACK_CLEARS);
    expect(record.detail.heard!.clears).toHaveLength(MAX_HEARD_CLEARS);
    expect(record.detail.heard!.clearsDropped).toBe(clears - MAX_HEARD_CLEARS);
    // Each clear still cut the frame before it: almost nothing of the flood was heard.
    expect(record.audioClearedMs).toBeGreaterThan(0);
  }, 120_000);
});

describe('the media socket', () => {
  it('a frame past the largest Media Streams message is refused as it arrives (1009), not buffered whole', async () => {
    const { url } = await hostile((ws, streamSid) => ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: 'A'.repeat(10 * 1024 * 1024) } })));
    const record = await placeCall({ url, frames: silence(5), timing: { mode: 'burst' }, tailMs: 0 });
    expect(record.socketError).toMatch(/Max payload size exceeded/);
    expect(record.framesReceived).toBe(0);
  });
});

describe("the call's tape (--record, --trace)", () => {
  it("keeps a flood of the largest messages to its size, not only to its count, and counts the rest", () => {
    const tape = new CallTape(0);
    // The largest frame the socket takes, as text: the same string each time, so this test keeps none.
    const largest = 'x'.repeat(64 * 1024);
    const sent = Math.ceil(MAX_TAPE_CHARS / largest.length) + 100;
    expect(sent).toBeLessThan(MAX_TAPE_MESSAGES);
    for (let i = 0; i < sent; i++) tape.message('from-server', i, null, largest);
    expect(tape.wire.reduce((n, m) => n + m.text.length, 0)).toBeLessThanOrEqual(MAX_TAPE_CHARS);
    expect(tape.wire.length + tape.droppedMessages).toBe(sent);
    expect(tape.droppedMessages).toBeGreaterThanOrEqual(100);
    // Ordinary messages fill it to its count.
    const ordinary = new CallTape(0);
    const frame = media('MZ00000000000000000000000000000000');
    for (let i = 0; i < MAX_TAPE_MESSAGES + 10; i++) ordinary.message('to-server', i, i, frame);
    expect(ordinary.wire).toHaveLength(MAX_TAPE_MESSAGES);
    expect(ordinary.droppedMessages).toBe(10);
  });
});

describe('the stats fetch', () => {
  it('an answer that never ends is read to one call snapshot\'s size, then let go', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const { url, httpUrl } = await hostile(
      () => {},
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"state":"stopped","junk":"');
        // As fast as the client reads, for as long as it reads.
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      },
    );
    const before = process.memoryUsage().rss;
    const report = await runReplay({ file: HELLO, url, statsUrl: httpUrl, timing: { mode: 'burst' }, tailMs: 0 });
    const grown = process.memoryUsage().rss - before;
    expect(report.stats.available).toBe(false);
    expect(report.stats.note).toContain(`answered more than ${MAX_STATS_BODY_BYTES} bytes for one call`);
    expect(grown).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('a tail cut short by the timeout', () => {
  it('an agent that never stops talking fails the call ("the agent never stopped talking")', async () => {
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      const timer = setInterval(() => (ws.readyState === ws.OPEN ? ws.send(frame) : clearInterval(timer)), 20);
    });
    const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 200, timeoutMs: 3000 });
    expect(report.call.tailCappedByTimeout).toBe(true);
    expect(report.verdict).toBe('fail');
    expect(report.checks.find((c) => c.name === 'call-completed')?.status).toBe('fail');
    expect(report.failures.join('\n')).toMatch(/the agent never stopped talking/);
  });

  it('the healthy twin: an agent that talks for a second and falls quiet passes', async () => {
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      let sent = 0;
      const timer = setInterval(() => {
        if (ws.readyState !== ws.OPEN || sent >= 50) return clearInterval(timer);
        ws.send(frame);
        sent += 1;
      }, 20);
    });
    const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 200, timeoutMs: 6000 });
    expect(report.call.tailCappedByTimeout).toBe(false);
    expect(report.call.framesReceived).toBe(50);
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('pass');
  });

  it("an agent long quiet when the caller's own plan (a long tail, a scenario's wait) runs into the timeout is a timeout, not 'the agent never stopped talking'", async () => {
    const { url } = await hostile((ws, streamSid) => {
      const frame = media(streamSid);
      for (let i = 0; i < 25; i++) ws.send(frame);
    });
    const tail = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 20_000, timeoutMs: 3000 });
    const scenario = parseScenario('name: long wait\nsteps:\n  - wait: 20\n  - hangup\n', 'long-wait.yaml');
    const scripted = await runScenario({ scenario, url, timeoutMs: 3000 });
    for (const report of [tail, scripted]) {
      expect(report.call.framesReceived).toBe(25);
      expect(report.call.tailCappedByTimeout).toBe(false);
      expect(report.verdict).toBe('fail');
      expect(report.checks.find((c) => c.name === 'call-completed')?.status).toBe('fail');
      expect(report.failures.join('\n')).toMatch(/the call hit the 3000 ms timeout before the caller finished/);
      expect(report.failures.join('\n')).not.toMatch(/never stopped talking/);
    }
  });
});
