// The call timeline (caller/timeline.ts): real calls, counted twice, once by the call's ledger and
// once by its timeline, must agree frame for frame; a planted agent that sends a mark and then
// clears its answer shows both on the timeline with the audio the clear cut; and the caps hold.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { FRAME_BYTES } from '../src/audio/format.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { placeCall, type CallRecord } from '../src/caller/call.js';
import { CallTimeline, MAX_EVENTS_PER_KIND, MAX_TIMELINE_FRAMES } from '../src/caller/timeline.js';
import { startMediaServer, type RunningMediaServer } from '../src/server/media-server.js';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const audio = loadWavAsMulawFrames(FIXTURE);

/** An agent that answers `start` with 1 s of loud audio in one burst, a mark, then clears it 200 ms later. */
async function clearingAgent(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const loud = Buffer.alloc(FRAME_BYTES, 0x00).toString('base64'); // 0x00 is mu-law's loudest
  wss.on('connection', (socket: WebSocket) => {
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { event: string; streamSid?: string };
      if (message.event === 'start' && message.streamSid) {
        const streamSid = message.streamSid;
        for (let i = 0; i < 50; i++) socket.send(JSON.stringify({ event: 'media', streamSid, media: { payload: loud } }));
        socket.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'answer-end' } }));
        setTimeout(() => socket.send(JSON.stringify({ event: 'clear', streamSid })), 200);
      }
      if (message.event === 'stop') socket.close(1000);
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/media`,
    close: () => new Promise((resolve) => wss.close(() => resolve())),
  };
}

let server: RunningMediaServer;
let healthy: CallRecord;
let dialledAt: number;

beforeAll(async () => {
  server = await startMediaServer({ port: 0, quiet: true });
  dialledAt = performance.timeOrigin + performance.now();
  healthy = await placeCall({ url: server.wsUrl, frames: audio.frames, direction: 'inbound', timing: { mode: 'realtime', speed: 4 }, tailMs: 600, dtmf: { digits: '1#' } });
});
afterAll(async () => {
  await server.close();
});

describe('a call timeline', () => {
  it('has one caller entry per frame sent and one agent entry per frame received, in time order', () => {
    const { timeline } = healthy;
    expect(healthy.framesReceived).toBeGreaterThan(0);
    expect(timeline.caller.t).toHaveLength(healthy.framesSent);
    expect(timeline.agent.t).toHaveLength(healthy.framesReceived);
    expect(timeline.agent.bytes.reduce((sum, b) => sum + b, 0)).toBe(healthy.bytesReceived);
    for (const lane of [timeline.caller, timeline.agent]) {
      expect(lane.level).toHaveLength(lane.t.length);
      for (let i = 1; i < lane.t.length; i++) expect(lane.t[i]).toBeGreaterThanOrEqual(lane.t[i - 1]!);
    }
    expect(timeline.dropped).toEqual({ callerFrames: 0, agentFrames: 0, events: 0 });
  });

  it('is on the epoch-ms clock: its origin is the dial, to within a few ms', () => {
    expect(healthy.timeline.clock).toBe('epoch-ms');
    expect(Math.abs(healthy.timeline.origin - dialledAt)).toBeLessThan(50);
  });

  it('levels tell the caller’s speech from the tail’s line silence', () => {
    const { level } = healthy.timeline.caller;
    const speech = level.slice(0, healthy.audioFramesSent);
    const tail = level.slice(healthy.audioFramesSent);
    expect(Math.max(...speech)).toBeGreaterThan(0.05);
    expect(Math.max(...tail)).toBeLessThan(0.001);
  });

  it('has the call’s milestones in order, and every mark and DTMF digit the ledger counted', () => {
    const { events } = healthy.timeline;
    const kinds = events.map((e) => e.kind);
    const order = ['connected', 'start', 'stop', 'close'].map((kind) => kinds.indexOf(kind));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(events.filter((e) => e.kind === 'mark-received')).toHaveLength(healthy.marksReceived);
    expect(events.filter((e) => e.kind === 'mark-echoed')).toHaveLength(healthy.marksEchoed);
    expect(events.filter((e) => e.kind === 'dtmf').map((e) => e.label).join('')).toBe('1#');
    expect(events.find((e) => e.kind === 'close')?.label).toMatch(/closed, code 1000/);
    // The caller's first frame goes after start, the agent's first after its first caller frame or start.
    const start = events.find((e) => e.kind === 'start')!.t;
    expect(healthy.timeline.caller.t[0]).toBeGreaterThanOrEqual(start);
  });
});

describe('a clear on the timeline', () => {
  it('shows the mark, its echo on the clear, and how much audio the clear cut', async () => {
    const agent = await clearingAgent();
    try {
      const call = await placeCall({ url: agent.url, frames: audio.frames.slice(0, 10), timing: { mode: 'realtime', speed: 1 }, tailMs: 400, quietMs: 100, networkDelay: { fixedMs: 30 } });
      const { events } = call.timeline;
      const mark = events.find((e) => e.kind === 'mark-received');
      const clear = events.find((e) => e.kind === 'clear');
      const echo = events.find((e) => e.kind === 'mark-echoed');
      expect(mark?.label).toBe('answer-end');
      expect(clear).toBeDefined();
      expect(clear!.t).toBeGreaterThan(mark!.t);
      // 1 s of audio arrived at once and played from its first frame on: the clear cut what was
      // left of it, 1000 ms less what had played by then.
      const playing = call.timeline.agent.t[0]!;
      expect(clear!.durationMs).toBeGreaterThan(0);
      expect(Math.abs(clear!.durationMs! - (1000 - (clear!.t - playing)))).toBeLessThan(5);
      expect(clear!.durationMs).toBeCloseTo(call.audioClearedMs, -1);
      // Twilio sends a cleared answer's marks back at once; the echo is on the wire one network delay (30 ms) later.
      expect(echo!.t - clear!.t).toBeGreaterThanOrEqual(29);
      expect(echo!.t - clear!.t).toBeLessThan(50);
      expect(call.timeline.agent.level.every((level) => level > 0.5)).toBe(true);
    } finally {
      await agent.close();
    }
  });
});

describe('the caps', () => {
  it('keeps at most MAX_TIMELINE_FRAMES frames per lane and counts the rest', () => {
    const timeline = new CallTimeline(0);
    const frame = Buffer.alloc(FRAME_BYTES, 0xff);
    for (let i = 0; i < MAX_TIMELINE_FRAMES + 5; i++) timeline.callerFrame(i * 20, frame);
    const data = timeline.data();
    expect(data.caller.t).toHaveLength(MAX_TIMELINE_FRAMES);
    expect(data.dropped.callerFrames).toBe(5);
    expect(data.caller.t.at(-1)).toBe((MAX_TIMELINE_FRAMES - 1) * 20);
  });

  it('keeps MAX_EVENTS_PER_KIND events of a kind, 50 wire errors, every milestone, and cuts long peer labels', () => {
    const timeline = new CallTimeline(0);
    for (let i = 0; i < MAX_EVENTS_PER_KIND + 10; i++) timeline.event(i, 'agent', 'mark-received', `m${i}`);
    for (let i = 0; i < 1000; i++) timeline.event(i, 'agent', 'wire-error', 'wrong_stream_sid');
    timeline.event(5000, 'agent', 'mark-received', 'x'.repeat(10_000));
    timeline.event(5001, 'call', 'close', 'server closed, code 1000');
    const data = timeline.data();
    expect(data.events.filter((e) => e.kind === 'mark-received')).toHaveLength(MAX_EVENTS_PER_KIND);
    expect(data.events.filter((e) => e.kind === 'wire-error')).toHaveLength(50);
    expect(data.events.at(-1)).toMatchObject({ kind: 'close', t: 5001 });
    expect(data.dropped.events).toBe(10 + 950 + 1);
    const long = new CallTimeline(0);
    long.event(0, 'agent', 'mark-received', 'y'.repeat(10_000));
    expect(long.data().events[0]!.label.length).toBeLessThanOrEqual(81);
  });

  it('costs a typed-array append per frame: 90,000 frames in well under a second', () => {
    const timeline = new CallTimeline(0);
    const frame = Buffer.alloc(FRAME_BYTES, 0x7f);
    const began = performance.now();
    for (let i = 0; i < MAX_TIMELINE_FRAMES; i++) timeline.agentFrame(i * 20, frame);
    expect(performance.now() - began).toBeLessThan(1000);
  });
});
