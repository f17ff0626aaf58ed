// Playout and barge-in against a fake Twilio socket and a hand-driven ticker: frames and marks in
// order, sent up to the lead ahead of real time, paused (never dropped) while the socket is backed
// up, a stalled peer ended; barge-in clears and truncates only while the caller may still hear
// the answer, and a cut answer's late deltas are not played.
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { BargeIn } from '../src/server/call/barge-in.js';
import { Playout, type PlayoutConfig } from '../src/server/call/playout.js';
import { DEFAULT_CALL_CONFIG } from '../src/server/call/config.js';
import { FakeSocket, FakeTicker, audio, keptLog, newRecord, testConfig } from './helpers/call-fakes.js';

function playout(overrides: Partial<PlayoutConfig> = {}) {
  const log = keptLog();
  const record = newRecord(log, 200);
  const socket = new FakeSocket();
  const ticker = new FakeTicker();
  // The clock reads 1000 as the test begins: audio due then goes as it is enqueued, as in a call.
  ticker.time = 1000;
  const stalls: string[] = [];
  // One frame a message unless a test asks for chunks: the frame-by-frame order is what most tests read.
  const out = new Playout(socket, ticker, testConfig({ playoutChunkFrames: 1, ...overrides }), record, log.logger, { close: (reason, code) => stalls.push(`${code} ${reason}`) });
  const truncations: Array<[string, number]> = [];
  const bargeIn = new BargeIn(out, { truncate: (id, ms) => truncations.push([id, ms]) }, record, log.logger);
  return { out, socket, ticker, record, log, stalls, bargeIn, truncations };
}

/** Five frames queued behind a Twilio socket buffering 2000 bytes, over a high-water mark of 1000. */
function backedUp(twilioStallMs: number) {
  const p = playout({ sendLeadMs: 10_000, twilioHighWaterBytes: 1000, twilioStallMs });
  p.out.begin('MZ1');
  p.socket.bufferedAmount = 2000;
  p.out.enqueueAudio(audio(160 * 5), 'item_1');
  return p;
}

describe('playout', () => {
  it('sends nothing before the stream is known, then frames with a mark every 200 ms and at the end', () => {
    const { out, socket, ticker, record } = playout({ sendLeadMs: 10_000 });
    out.enqueueAudio(audio(160 * 12), 'item_1');
    expect(ticker.subscribers.size).toBe(0);
    // Known: all of it is due (10 s of lead), and goes at once, then the end mark with the end.
    out.begin('MZ1');
    expect(socket.events()).toEqual([...Array(10).fill('media'), 'mark 1:200', 'media', 'media']);
    out.endAnswer();
    expect(socket.events()).toEqual([...Array(10).fill('media'), 'mark 1:200', 'media', 'media', 'mark 1:240']);
    expect(socket.messages().every((m) => m.streamSid === 'MZ1')).toBe(true);
    expect(record.counters.audioOutChunks).toBe(12);
    expect(record.counters.marksSent).toBe(2);
    // All sent: off the ticker until there is more.
    expect(ticker.subscribers.size).toBe(0);
    expect(out.framesQueued).toBe(0);
  });

  it('cuts deltas of any length into 20 ms frames; the tail waits for the next delta or the end', () => {
    const { out, socket, ticker } = playout({ sendLeadMs: 10_000 });
    out.begin('MZ1');
    out.enqueueAudio(audio(100), 'item_1');
    out.enqueueAudio(audio(100), 'item_1');
    out.enqueueAudio(audio(50), 'item_1');
    out.endAnswer();
    ticker.tick(0);
    const media = socket.messages().flatMap((m) => (m.event === 'media' ? [Buffer.from(m.media.payload, 'base64').length] : []));
    expect(media).toEqual([160, 90]);
    expect(socket.events().at(-1)).toBe('mark 1:31.25');
  });

  it('a new answer ends the previous one (its tail and end mark) and numbers its own marks', () => {
    const { out, socket, ticker } = playout({ sendLeadMs: 10_000 });
    out.begin('MZ1');
    out.enqueueAudio(audio(240), 'item_1');
    out.enqueueAudio(audio(160), 'item_2');
    out.endAnswer();
    ticker.tick(0);
    expect(socket.events()).toEqual(['media', 'media', 'mark 1:30', 'media', 'mark 2:20']);
  });

  it('sends the mark behind the last frame due in the same tick as that frame, not a tick later', () => {
    const { out, socket, ticker } = playout({ sendLeadMs: 200 });
    out.begin('MZ1');
    out.enqueueAudio(audio(160 * 12), 'item_1');
    ticker.tick(1000);
    // 200 ms of lead is ten frames; the mark at 200 ms takes no audio time and goes with them.
    expect(socket.events()).toEqual([...Array(10).fill('media'), 'mark 1:200']);
  });

  it("holds a tick's sends in one write: the socket under the WebSocket is corked around them", () => {
    const order: string[] = [];
    const socket = new FakeSocket();
    // A ws WebSocket keeps its net.Socket as _socket (the next test holds ws to that).
    Object.assign(socket, { _socket: { cork: () => order.push('cork'), uncork: () => order.push('uncork') } });
    const send = socket.send.bind(socket);
    socket.send = (data: string) => {
      order.push('send');
      send(data);
    };
    const ticker = new FakeTicker();
    const log = keptLog();
    const out = new Playout(socket, ticker, testConfig({ sendLeadMs: 200, playoutChunkFrames: 1 }), newRecord(log, 200), log.logger, { close: () => undefined });
    out.begin('MZ1');
    out.enqueueAudio(audio(160 * 3), 'item_1');
    ticker.tick(1000);
    expect(order).toEqual(['cork', 'send', 'send', 'send', 'uncork']);
  });

  it("decides by the tick's grid point, not the instant its timer fired: the same chunk goes at the same tick, early or late", () => {
    for (const [early, late] of [
      [1039.6, 1049.6],
      [1040.4, 1050.4],
    ] as const) {
      const { out, socket } = playout({ playoutChunkFrames: 5, sendLeadMs: 60 });
      const media = (): number => socket.events().filter((e) => e === 'media').length;
      out.begin('MZ1');
      // At 1000, the first 100 ms goes at once; the next chunk is due once less than 60 ms is left: after 1040.
      out.enqueueAudio(audio(160 * 10), 'item_1');
      expect(media()).toBe(1);
      out.tick(early, 1040);
      expect(media()).toBe(1);
      out.tick(late, 1050);
      expect(media()).toBe(2);
    }
  });

  it('a tick with nothing due leaves the socket alone: no cork, no write', () => {
    const order: string[] = [];
    const socket = new FakeSocket();
    Object.assign(socket, { _socket: { cork: () => order.push('cork'), uncork: () => order.push('uncork') } });
    const ticker = new FakeTicker();
    ticker.time = 1000;
    const log = keptLog();
    const out = new Playout(socket, ticker, testConfig({ sendLeadMs: 60, playoutChunkFrames: 5 }), newRecord(log, 200), log.logger, { close: () => undefined });
    out.begin('MZ1');
    // Due as it comes: the first chunk goes at once, in one corked write.
    out.enqueueAudio(audio(160 * 20), 'item_1');
    expect(order).toEqual(['cork', 'uncork']);
    ticker.tick(1000);
    expect(order).toEqual(['cork', 'uncork']);
    // 100 ms went out; the next chunk is due once less than 60 ms is left, at 1050.
    for (const t of [1010, 1020, 1030, 1040]) ticker.tick(t);
    expect(order).toEqual(['cork', 'uncork']);
    expect(ticker.subscribers.size).toBe(1);
    ticker.tick(1050);
    expect(order).toEqual(['cork', 'uncork', 'cork', 'uncork']);
    // The second chunk ends at 200 ms: its mark goes in the same write.
    expect(socket.events()).toEqual(['media', 'media', 'mark 1:200']);
  });

  it("reaches a real ws WebSocket's net.Socket, which playout corks", async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const accepted = new Promise<WebSocket>((resolve) => server.once('connection', (ws) => resolve(ws)));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const opened = new Promise<void>((resolve, reject) => client.once('open', () => resolve()).once('error', reject));
    try {
      const ws = await accepted;
      // The server's side can be accepted before the client has read the 101: closing then is an error.
      await opened;
      const wire = (ws as unknown as { _socket?: { cork?: unknown; uncork?: unknown } })._socket;
      expect(typeof wire?.cork).toBe('function');
      expect(typeof wire?.uncork).toBe('function');
    } finally {
      client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  /**
   * A Twilio socket as net.Socket under ws behaves when corked: what is sent stays in its buffer
   * (bufferedAmount) until the uncork; then a peer that reads takes all of it, one that does not
   * leaves it there. Corks and uncorks are counted.
   */
  function corkedPlayout(peerReads: boolean, overrides: Partial<PlayoutConfig> = {}) {
    const socket = new FakeSocket();
    const wire = { corks: 0, uncorks: 0 };
    Object.assign(socket, {
      _socket: {
        cork: () => (wire.corks += 1),
        uncork: () => {
          wire.uncorks += 1;
          if (peerReads) socket.bufferedAmount = 0;
        },
      },
    });
    const send = socket.send.bind(socket);
    socket.send = (data: string) => {
      send(data);
      socket.bufferedAmount += data.length;
    };
    const log = keptLog();
    const record = newRecord(log, 0);
    const ticker = new FakeTicker();
    ticker.time = 1000;
    const stalls: string[] = [];
    const out = new Playout(socket, ticker, testConfig({ sendLeadMs: 10_000, twilioHighWaterBytes: 1000, playoutChunkFrames: 1, ...overrides }), record, log.logger, { close: (reason, code) => stalls.push(`${code} ${reason}`) });
    out.begin('MZ1');
    return { out, socket, wire, ticker, record, stalls };
  }

  it("a tick's own corked writes reaching the high-water mark are no backlog: the rest goes next tick, no warning", () => {
    const { out, socket, wire, ticker, record } = corkedPlayout(true);
    out.enqueueAudio(audio(160 * 20), 'item_1');
    out.endAnswer();
    ticker.tick(1000);
    const first = socket.events().filter((e) => e === 'media').length;
    // Bounded by the mark (a media message is ~300 bytes), and not all of it.
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(20);
    expect(record.counters.backlogWarnings).toBe(0);
    expect(ticker.subscribers.size).toBe(1);
    for (let t = 1010; ticker.subscribers.size > 0 && t < 2000; t += 10) ticker.tick(t);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(20);
    expect(record.counters.backlogWarnings).toBe(0);
    expect(wire.corks).toBe(wire.uncorks);
  });

  it('corked, a peer that does not read: what the tick wrote stays buffered, the next tick backs up, the stall ends the call', () => {
    const { out, socket, wire, ticker, record, stalls } = corkedPlayout(false, { twilioStallMs: 400 });
    // Sent as it is enqueued, up to the high-water mark.
    out.enqueueAudio(audio(160 * 20), 'item_1');
    const first = socket.events().length;
    expect(first).toBeGreaterThan(0);
    expect(record.counters.backlogWarnings).toBe(0);
    ticker.tick(1010);
    expect(socket.events()).toHaveLength(first);
    expect(record.counters.backlogWarnings).toBe(1);
    ticker.tick(1409);
    expect(stalls).toEqual([]);
    ticker.tick(1410);
    expect(stalls).toEqual(['1011 Twilio not reading']);
    expect(socket.terminated).toBe(true);
    // Every exit from a tick uncorks: the ones that sent, backed up, ended the call.
    expect(wire.corks).toBe(4);
    expect(wire.uncorks).toBe(4);
  });

  it('a send that throws inside a corked tick still uncorks', () => {
    const { out, socket, wire, ticker, record } = corkedPlayout(true);
    socket.send = () => {
      throw new Error('write after end');
    };
    out.enqueueAudio(audio(160 * 2), 'item_1');
    ticker.tick(1000);
    expect(record.errorCount).toBe(1);
    expect(wire).toEqual({ corks: 1, uncorks: 1 });
  });

  it('by default forwards what the model streams as it arrives, up to 5 s ahead of real time, then paces', () => {
    const { out, socket, ticker } = playout({ playoutChunkFrames: DEFAULT_CALL_CONFIG.playoutChunkFrames, sendLeadMs: DEFAULT_CALL_CONFIG.sendLeadMs });
    const sentMs = () => socket.messages().reduce((ms, m) => ms + (m.event === 'media' ? Buffer.from(m.media.payload, 'base64').length / 8 : 0), 0);
    expect(DEFAULT_CALL_CONFIG.sendLeadMs).toBe(5000);
    out.begin('MZ1');
    // A model bursting 2 s of answer goes to Twilio at once, with no tick.
    out.enqueueAudio(audio(8 * 2000), 'item_1');
    expect(sentMs()).toBe(2000);
    // 4 s more: only up to the lead goes; the rest waits for real time.
    out.enqueueAudio(audio(8 * 4000), 'item_1');
    expect(sentMs()).toBe(5000);
    ticker.tick(1100);
    expect(sentMs()).toBe(5100);
    ticker.tick(2000);
    expect(sentMs()).toBe(6000);
  });

  it('paces at real time, sendLeadMs ahead of the clock', () => {
    const { out, socket, ticker } = playout({ sendLeadMs: 60 });
    out.begin('MZ1');
    out.enqueueAudio(audio(160 * 10), 'item_1');
    ticker.tick(1000);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(3);
    ticker.tick(1010);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(4);
    // A late tick does not burst to catch up: the playhead never falls behind the clock, so from
    // 1100 it is 60 ms ahead again (3 frames), not 80 ms of arrears plus that.
    ticker.tick(1100);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(7);
    ticker.tick(5000);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(10);
  });

  it('by default sends 100 ms chunks, never across a mark, and never waits for one to fill', () => {
    const { out, socket, ticker, record } = playout({ playoutChunkFrames: DEFAULT_CALL_CONFIG.playoutChunkFrames, sendLeadMs: 60 });
    const sizes = () => socket.messages().flatMap((m) => (m.event === 'media' ? [Buffer.from(m.media.payload, 'base64').length] : []));
    out.begin('MZ1');
    // A first delta of 60 ms goes at once, as it is: no waiting for a fifth frame.
    out.enqueueAudio(audio(160 * 3), 'item_1');
    ticker.tick(1000);
    expect(sizes()).toEqual([480]);
    // 1.2 s more: chunks of five frames, each sent once the playhead is less than 60 ms ahead.
    out.enqueueAudio(audio(160 * 60), 'item_1');
    ticker.tick(1010);
    expect(sizes()).toEqual([480, 800]);
    ticker.tick(1050);
    expect(sizes()).toEqual([480, 800]);
    // 160 ms sent: the first mark is due after 200, so this chunk is two frames, then the mark.
    ticker.tick(1110);
    expect(sizes()).toEqual([480, 800, 320]);
    expect(socket.events().at(-1)).toBe('mark 1:200');
    out.endAnswer();
    for (let t = 1120; t <= 2400; t += 10) ticker.tick(t);
    // Between marks, two chunks of five; the answer's last three frames are the last chunk.
    expect(sizes()).toEqual([480, 800, 320, ...Array(10).fill(800), 480]);
    expect(sizes().reduce((a, b) => a + b, 0)).toBe(160 * 63);
    expect(record.counters.audioOutChunks).toBe(14);
    expect(out.framesQueued).toBe(0);
    // Every mark lands on the 200 ms of audio it names, as with one frame a message.
    const marks = socket.events().filter((e) => e.startsWith('mark'));
    expect(marks).toEqual(['mark 1:200', 'mark 1:400', 'mark 1:600', 'mark 1:800', 'mark 1:1000', 'mark 1:1200', 'mark 1:1260']);
  });

  it('backed-up socket: pauses with rate-limited warnings, keeps every frame, resumes when it drains', () => {
    const { out, socket, ticker, record, log } = backedUp(0);
    ticker.tick(0);
    ticker.tick(10);
    expect(socket.sent).toEqual([]);
    expect(out.framesQueued).toBe(5);
    expect(record.counters.backlogWarnings).toBe(1);
    expect(log.records.find((r) => r.msg === 'backlog to Twilio')?.detail).toBe('2000 bytes buffered on the Twilio socket, 5 frames queued');
    expect(ticker.subscribers.size).toBe(1);
    socket.bufferedAmount = 0;
    ticker.tick(20);
    expect(socket.events().filter((e) => e === 'media')).toHaveLength(5);
  });

  it('a peer that reads nothing for twilioStallMs: the call ends, the socket is dropped', () => {
    const { socket, ticker, record, stalls, log } = backedUp(400);
    ticker.tick(1000);
    ticker.tick(1399);
    expect(stalls).toEqual([]);
    ticker.tick(1400);
    expect(stalls).toEqual(['1011 Twilio not reading']);
    expect(socket.terminated).toBe(true);
    expect(ticker.subscribers.size).toBe(0);
    expect(record.snapshot({ state: 'closed', queues: { toTwilio: 0, toModel: 0 }, modelState: '' }).errors.map((e) => e.message)).toEqual(['Twilio read nothing for 400 ms with 2000 bytes buffered']);
    expect(log.records.find((r) => r.msg === 'Twilio not reading; ending call')).toMatchObject({ bufferedBytes: 2000, queuedFrames: 5 });
  });

  it('the stall clock starts again each time the socket drains', () => {
    const { socket, ticker, stalls } = backedUp(400);
    ticker.tick(1000);
    // It read: one frame goes out, and it backs up again.
    socket.bufferedAmount = 0;
    socket.send = (data) => {
      socket.sent.push(data);
      socket.bufferedAmount = 2000;
    };
    ticker.tick(1300);
    ticker.tick(1500);
    expect(stalls).toEqual([]);
    ticker.tick(1700);
    expect(stalls).toEqual(['1011 Twilio not reading']);
  });

  it('a socket that is no longer open: off the ticker, the audio kept', () => {
    const { out, socket, ticker } = playout();
    out.begin('MZ1');
    socket.readyState = 2;
    out.enqueueAudio(audio(160 * 5), 'item_1');
    ticker.tick(1010);
    expect(ticker.subscribers.size).toBe(0);
    expect(out.framesQueued).toBe(5);
    expect(socket.sent).toEqual([]);
  });

  it('warns when more than twilioBacklogFrames wait', () => {
    // Before the stream is known, so nothing goes out and everything waits.
    const { out, record } = playout({ twilioBacklogFrames: 4 });
    out.enqueueAudio(audio(160 * 4), 'item_1');
    expect(record.counters.backlogWarnings).toBe(0);
    out.enqueueAudio(audio(160), 'item_1');
    expect(record.counters.backlogWarnings).toBe(1);
  });

  it('past maxPendingTwilioFrames a delta ends the call (1011 model audio overflow) unqueued; release counts what never went out', () => {
    const { out, stalls, record } = playout({ maxPendingTwilioFrames: 10 });
    out.enqueueAudio(audio(160 * 8), 'item_1');
    expect(out.framesQueued).toBe(8);
    out.enqueueAudio(audio(160 * 3), 'item_1');
    expect(stalls).toEqual(['1011 model audio overflow']);
    expect(out.framesQueued).toBe(8);
    expect(record.snapshot({ state: 'started', queues: { toTwilio: 0, toModel: 0 }, modelState: '' }).errors.map((e) => e.message)).toEqual([
      '8 frames of model audio wait for Twilio and a delta of 3 more came (limit 10, 0.2 s)',
    ]);
    expect(out.framesNotSent).toBeNull();
    expect(out.release()).toBe(11);
    expect(out.framesNotSent).toBe(11);
    expect(out.framesQueued).toBe(0);
  });

  it('release: off the ticker, nothing queued, nothing sent after', () => {
    const { out, socket, ticker } = playout({ sendLeadMs: 60 });
    out.begin('MZ1');
    out.enqueueAudio(audio(160 * 5), 'item_1');
    // 60 ms went out as it came; two frames wait.
    expect(socket.events()).toEqual(['media', 'media', 'media']);
    expect(out.release()).toBe(2);
    expect(ticker.subscribers.size).toBe(0);
    expect(out.framesQueued).toBe(0);
    expect(out.tick(5000)).toBe(false);
    out.enqueueAudio(audio(160), 'item_1');
    expect(socket.events()).toEqual(['media', 'media', 'media']);
  });

  it('a throw inside a tick is recorded on the call, and the loop can be scheduled again', () => {
    const { out, socket, ticker, record } = playout({ sendLeadMs: 10_000 });
    out.begin('MZ1');
    const send = socket.send.bind(socket);
    socket.send = () => {
      throw new Error('write after end');
    };
    out.enqueueAudio(audio(160), 'item_1');
    expect(record.errorCount).toBe(1);
    expect(ticker.subscribers.size).toBe(0);
    socket.send = send;
    // Scheduled again by the next delta, which goes; the frame whose write threw is counted as never sent.
    out.enqueueAudio(audio(160), 'item_1');
    expect(socket.events()).toEqual(['media']);
    expect(ticker.subscribers.size).toBe(0);
    expect(out.release()).toBe(1);
  });
});

describe('barge-in', () => {
  /** An answer of `frames` frames, all sent; the marks Twilio has echoed so far: `played`. */
  function answered(frames: number, played: string[]) {
    const p = playout({ sendLeadMs: 10_000 });
    p.out.begin('MZ1');
    p.out.enqueueAudio(audio(160 * frames), 'item_1');
    p.out.endAnswer();
    p.ticker.tick(0);
    for (const name of played) p.out.confirm(name);
    p.socket.sent.length = 0;
    return p;
  }

  it('while the caller still hears the answer: clear to Twilio, truncate at the last confirmed mark', () => {
    const { bargeIn, socket, truncations, record } = answered(25, ['1:200', '1:400']);
    bargeIn.onSpeechStarted();
    expect(socket.events()).toEqual(['clear']);
    expect(truncations).toEqual([['item_1', 400]]);
    expect(record.counters.bargeIns).toBe(1);
    expect(record.counters.clearsSent).toBe(1);
  });

  it('still queued here counts as still heard: the queue is dropped, nothing more is sent', () => {
    const p = playout({ sendLeadMs: 60 });
    p.out.begin('MZ1');
    p.out.enqueueAudio(audio(160 * 25), 'item_1');
    p.ticker.tick(0);
    p.bargeIn.onSpeechStarted();
    expect(p.out.framesQueued).toBe(0);
    expect(p.truncations).toEqual([['item_1', 0]]);
    p.ticker.tick(1000);
    expect(p.socket.events().slice(-1)).toEqual(['clear']);
  });

  it('an answer Twilio confirmed played in full is not interrupted', () => {
    const { bargeIn, socket, truncations, record } = answered(25, ['1:200', '1:400', '1:500']);
    bargeIn.onSpeechStarted();
    expect(socket.sent).toEqual([]);
    expect(truncations).toEqual([]);
    expect(record.counters.bargeIns).toBe(0);
  });

  it('marks of another answer, or not ours, say nothing about this one', () => {
    const { out, bargeIn, truncations } = answered(25, ['2:500', '999:500', 'garbage', '1:abc', '500']);
    expect(out.playingAnswer()?.playedMs).toBe(0);
    bargeIn.onSpeechStarted();
    expect(truncations).toEqual([['item_1', 0]]);
  });

  it('late deltas of the cut answer are recognised; the next answer is not', () => {
    const { bargeIn } = answered(25, []);
    bargeIn.onSpeechStarted();
    expect(bargeIn.isCutOff('item_1')).toBe(true);
    expect(bargeIn.isCutOff('item_2')).toBe(false);
  });

  it('before any answer, or before the stream is known: nothing to interrupt', () => {
    const early = playout();
    early.out.enqueueAudio(audio(160), 'item_1');
    early.bargeIn.onSpeechStarted();
    const idle = playout();
    idle.out.begin('MZ1');
    idle.bargeIn.onSpeechStarted();
    expect([...early.socket.sent, ...idle.socket.sent]).toEqual([]);
    expect(early.truncations.length + idle.truncations.length).toBe(0);
  });
});
