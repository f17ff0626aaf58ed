// Faults on either side of a live call, injected with real sockets: the model refuses, drops,
// stalls, answers slowly or sends garbage; Twilio vanishes without a stop or stops reading.
// The call reconnects with bounded backoff or ends cleanly with a logged reason; audio queued in
// a gap is counted, never silently dropped; every call's resources are released. Last, a soak of
// 2,000 sequential calls shows flat memory and bounded retention.
import vm from 'node:vm';
import v8 from 'node:v8';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallConfig } from '../src/server/call/config.js';
import { startMediaServer, type RunningMediaServer } from '../src/server/media-server.js';
import type { RealtimeSimulatorOptions } from '../src/model/simulator/simulator.js';
import { RawTwilio, SILENT_FRAME, eventually, loudFrame, sleep } from './helpers/raw-twilio.js';
import { captureLog, finishedCall, startedCall, type CapturedLog } from './helpers/robustness.js';
import { startRunawayModel } from './helpers/runaway-model.js';

const servers: RunningMediaServer[] = [];

async function serverWith(simulator: RealtimeSimulatorOptions, call: Partial<CallConfig> = {}, extra: { modelConnectTimeoutMs?: number; keepFinishedCalls?: number } = {}): Promise<{ server: RunningMediaServer; log: CapturedLog }> {
  const log = captureLog();
  const server = await startMediaServer({
    port: 0,
    logger: log.logger,
    model: { backend: 'simulator', simulator: { answerMs: 400, ...simulator } },
    call: { modelReconnectDelaysMs: [20, 40, 80], ...call },
    ...extra,
  });
  servers.push(server);
  return { server, log };
}

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Sends a frame every 20 ms until the socket closes or `count` frames went out. */
async function stream(call: RawTwilio, count: number, frame: (i: number) => Buffer = () => SILENT_FRAME): Promise<number> {
  let sent = 0;
  while (sent < count && call.ws.readyState === call.ws.OPEN) {
    call.sendMedia(frame(sent));
    sent += 1;
    await sleep(20);
  }
  return sent;
}

function rawSocket(call: RawTwilio): net.Socket {
  // The client's TCP socket: to destroy it without a close frame, or to stop reading.
  return (call.ws as unknown as { _socket: net.Socket })._socket;
}

async function released(server: RunningMediaServer): Promise<void> {
  const stats = await eventually(() => server.stats(), (s) => s.liveCalls === 0 && s.tickerSubscribers === 0);
  expect(stats.liveCalls).toBe(0);
  expect(stats.tickerSubscribers).toBe(0);
  const open = await eventually(() => server.simulator?.sessions().filter((s) => s.open) ?? [], (s) => s.length === 0);
  expect(open).toEqual([]);
}

describe('model faults', () => {
  it('never opens: bounded reconnects, then the call ends with 1011, a logged reason and the unsent audio counted', async () => {
    const { server, log } = await serverWith({ faults: { refuseConnections: true } });
    const call = await startedCall(server);
    const sent = await stream(call, 200);
    expect(await call.closed).toBe(1011);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.endReason).toBe('model unavailable');
    expect(snapshot.counters.modelReconnects).toBe(3);
    // None of it reached a model: all of it is reported as unsent. A frame already on the wire
    // when the call ended is counted as a late frame instead: every frame sent is accounted for.
    const accepted = snapshot.counters.audioInChunks;
    expect(snapshot.counters.modelAudioAppends).toBe(accepted);
    expect(snapshot.queues.toModel).toBe(accepted);
    expect(accepted + snapshot.errors.filter((e) => e.code === 'media_after_end').length).toBe(sent);
    expect(snapshot.errors.map((e) => e.code).filter((c) => c !== 'media_after_end')).toEqual(['model_connection_lost', 'model_connection_lost', 'model_connection_lost', 'model_unavailable']);
    const records = log.forCall(call.callSid);
    const gaveUp = records.find((r) => r.msg === 'model unavailable; ending call');
    expect(gaveUp?.reason).toBe('model refused the connection: HTTP 503');
    expect(records.filter((r) => r.msg === 'model connection lost; reconnecting').map((r) => r.delayMs)).toEqual([20, 40, 80]);
    const ended = records.find((r) => r.msg === 'call ended');
    expect(ended?.unsentModelAudio).toBe(accepted);
    expect(ended?.reason).toBe('model unavailable');
    await released(server);
  });

  it('refuses twice, then comes back: the audio queued in the gap is flushed to it in full', async () => {
    const { server } = await serverWith({ faults: { refuseFirstConnections: 2 } });
    const call = await startedCall(server);
    const sent = await stream(call, 25);
    const sessions = await eventually(() => server.simulator?.sessionsFor(call.callSid) ?? [], (s) => s[0]?.appendsReceived === sent);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.appendsReceived).toBe(sent);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.modelReconnects).toBe(2);
    expect(snapshot.counters.modelAudioAppends).toBe(sent);
    expect(snapshot.queues.toModel).toBe(0);
    await released(server);
  });

  it('drops mid-call: reconnects, and the audio after the drop reaches the new session', async () => {
    const { server, log } = await serverWith({ faults: { dropAfterAppends: 10, dropSessions: 1 } });
    const call = await startedCall(server);
    const sent = await stream(call, 40);
    const sessions = await eventually(
      () => server.simulator?.sessionsFor(call.callSid) ?? [],
      (s) => s.length === 2 && (s[0]?.appendsReceived ?? 0) + (s[1]?.appendsReceived ?? 0) === sent,
    );
    expect(sessions.map((s) => s.appendsReceived)).toEqual([10, sent - 10]);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.modelReconnects).toBe(1);
    expect(snapshot.counters.audioInChunks).toBe(sent);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['model_connection_lost']);
    expect(log.forCall(call.callSid).find((r) => r.msg === 'model connection lost; reconnecting')?.reason).toMatch(/^model socket closed \(1006/);
    await released(server);
  });

  it('sends a malformed event: recorded, and the call and the model go on', async () => {
    const { server } = await serverWith({ faults: { malformedAfterAppends: 3 } });
    const call = await startedCall(server);
    await stream(call, 50, (i) => (i < 15 ? loudFrame(i) : SILENT_FRAME));
    await call.until(() => call.media().length > 0, 10_000, 'the model to answer');
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['model_error']);
    expect(snapshot.errors[0]?.message).toContain('could not parse websocket event');
    expect(snapshot.counters.audioInChunks).toBe(50);
    expect(snapshot.counters.audioOutChunks).toBe(call.media().length);
    expect(snapshot.counters.modelReconnects).toBe(0);
    await released(server);
  });

  it('is slow to get ready: audio queues meanwhile (with a backlog warning) and all of it is flushed once ready', async () => {
    const { server, log } = await serverWith({ faults: { sessionReadyDelayMs: 600 } });
    const call = await startedCall(server);
    for (let i = 0; i < 80; i++) call.sendMedia(SILENT_FRAME);
    const live = await eventually(() => server.call(call.callSid), (s) => (s?.queues.toModel ?? 0) === 80);
    expect(live?.queues.toModel).toBe(80);
    const sessions = await eventually(() => server.simulator?.sessionsFor(call.callSid) ?? [], (s) => s[0]?.appendsReceived === 80, 5000);
    expect(sessions[0]?.appendsReceived).toBe(80);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.modelBacklogWarnings).toBe(1);
    expect(snapshot.queues.toModel).toBe(0);
    expect(snapshot.errors).toEqual([]);
    expect(log.forCall(call.callSid).some((r) => r.msg === 'backlog to model')).toBe(true);
    await released(server);
  });

  it('is slow to answer: the call just waits for it', async () => {
    const { server } = await serverWith({ faults: { answerDelayMs: 1500 } });
    const call = await startedCall(server);
    const started = Date.now();
    await stream(call, 50, (i) => (i < 15 ? loudFrame(i) : SILENT_FRAME));
    await call.until(() => call.media().length > 0, 10_000, 'the slow answer');
    expect(Date.now() - started).toBeGreaterThan(1500);
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.errors).toEqual([]);
    expect(snapshot.counters.audioOutChunks).toBe(call.media().length);
    await released(server);
  });

  it('never gets ready: each attempt times out, then the call ends with 1011 and the reason', async () => {
    const { server, log } = await serverWith({ faults: { sessionReadyDelayMs: 60_000 } }, { modelReconnectDelaysMs: [20, 20] }, { modelConnectTimeoutMs: 150 });
    const call = await startedCall(server);
    const sent = await stream(call, 200);
    expect(await call.closed).toBe(1011);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.endReason).toBe('model unavailable');
    expect(snapshot.queues.toModel).toBe(snapshot.counters.audioInChunks);
    expect(snapshot.counters.audioInChunks + snapshot.errors.filter((e) => e.code === 'media_after_end').length).toBe(sent);
    expect(log.forCall(call.callSid).find((r) => r.msg === 'model unavailable; ending call')?.reason).toBe('model session not ready after 150 ms');
    await released(server);
  });

  it('stops reading: appends back up, audio queues, and past the bound the call ends (1011) with it counted', async () => {
    const { server, log } = await serverWith(
      // It reads again after 1.5 s: by then the call is over, and the close handshake completes.
      { faults: { stallAfterAppends: 1, stallMs: 1500 } },
      { modelHighWaterBytes: 64 * 1024, modelBacklogBytes: 16 * 1024, maxPendingModelChunks: 300 },
    );
    const call = await startedCall(server);
    call.sendMedia(SILENT_FRAME);
    await eventually(() => server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === 1);
    // Far more than loopback TCP buffers hold: the model socket backs up, then our queue does.
    const burst = 40_000;
    for (let i = 0; i < burst && call.ws.readyState === call.ws.OPEN; i++) call.sendMedia(SILENT_FRAME);
    expect(await call.closed).toBe(1011);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.endReason).toBe('model backlog overflow');
    expect(snapshot.errors.map((e) => e.code)).toContain('model_backlog_overflow');
    expect(snapshot.counters.modelBacklogWarnings).toBeGreaterThanOrEqual(1);
    expect(snapshot.queues.toModel).toBe(301);
    expect(log.forCall(call.callSid).find((r) => r.msg === 'call ended')?.unsentModelAudio).toBe(301);
    await released(server);
  });
});

describe('a runaway model', () => {
  it.each(['endless', 'huge'] as const)('sends %s deltas: past 60 s queued for Twilio the call ends (1011 "model audio overflow"), what was not sent counted; a bystander call on the same server is untouched', async (kind) => {
    // The bystander's session comes first and stays quiet; the next one runs away.
    const model = await startRunawayModel(kind, 1);
    const log = captureLog();
    const server = await startMediaServer({ port: 0, logger: log.logger, model: { backend: 'simulator', url: model.baseURL } });
    servers.push(server);
    try {
      const bystander = await startedCall(server);
      // Its quiet session is the model's first: ready before the runaway's opens.
      await bystander.until(() => server.call(bystander.callSid)?.model.state === 'ready', 5000, 'the bystander\'s model session');
      const call = await startedCall(server, 'outbound');
      const began = Date.now();
      expect(await call.closed).toBe(1011);
      expect(Date.now() - began).toBeLessThan(5000);
      const snapshot = await finishedCall(server, call.callSid);
      expect(snapshot.endReason).toBe('model audio overflow');
      expect(snapshot.errors.map((e) => e.code)).toContain('model_audio_overflow');
      // Every frame of the deltas taken is either sent to Twilio (the caller got it) or counted as
      // not sent; deltas read after the call ended are counted as read and never played.
      const sentFrames = call.mediaMs() / 20;
      const deltaFrames = kind === 'huge' ? 7_500_000 / 160 : 5;
      expect(snapshot.queues.toTwilio).toBeGreaterThan(0);
      expect(snapshot.queues.toTwilio + sentFrames).toBeGreaterThan(3000);
      expect(snapshot.queues.toTwilio + sentFrames).toBeLessThanOrEqual(snapshot.counters.modelAudioDeltas * deltaFrames);
      // One 10 MB delta: refused whole, never decoded, every frame of it counted as not sent.
      if (kind === 'huge') expect([snapshot.counters.modelAudioDeltas, sentFrames, snapshot.queues.toTwilio]).toEqual([1, 0, 7_500_000 / 160]);
      const ended = log.forCall(call.callSid).find((r) => r.msg === 'call ended');
      expect(ended?.unsentTwilioAudio).toBe(snapshot.queues.toTwilio);
      expect(log.forCall(call.callSid).some((r) => r.msg === 'model audio overflow; ending call')).toBe(true);
      // The call next door, on the same server, streamed on and ended cleanly, with nothing of the runaway's.
      for (let i = 0; i < 5; i++) bystander.sendMedia(SILENT_FRAME);
      bystander.stop();
      expect(await bystander.closed).toBe(1000);
      const calm = await finishedCall(server, bystander.callSid);
      expect(calm.counters.audioInChunks).toBe(5);
      expect(calm.counters.audioOutChunks).toBe(0);
      expect(calm.errors).toEqual([]);
      await released(server);
    } finally {
      await model.close();
    }
  });

  it('the healthy twin: an answer within the bound plays in full', async () => {
    const { server } = await serverWith({ answerMs: 2000, streamSpeed: 100 });
    const call = await startedCall(server, 'outbound');
    await call.until(() => call.mediaMs() === 2000, 10_000, 'the whole answer');
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.audioOutChunks).toBe(call.media().length);
    expect(snapshot.queues.toTwilio).toBe(0);
    expect(snapshot.errors).toEqual([]);
  });
});

describe('Twilio-side faults', () => {
  it('disconnects abruptly mid-answer (no stop, no close frame): the call ends, the model socket closes, nothing is left', async () => {
    // Streamed ahead of real time (as the live API does) and past a short send lead, so the answer waits in the send loop.
    const { server } = await serverWith({ answerMs: 3000, streamSpeed: 10 }, { sendLeadMs: 60 });
    const call = await startedCall(server, 'outbound'); // the model speaks first
    await call.until(() => call.mediaMs() > 100, 10_000, 'the greeting');
    expect(server.stats().tickerSubscribers).toBe(1);
    rawSocket(call).destroy();
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.endReason).toBe('socket closed (1006)');
    expect(snapshot.state).toBe('closed');
    await released(server);
    expect(server.simulator?.sessionsFor(call.callSid).every((s) => !s.open)).toBe(true);
  });

  it('closes without a stop: the call ends with the close code as its reason', async () => {
    const { server } = await serverWith({});
    const call = await startedCall(server);
    await stream(call, 5);
    call.ws.close(1001, 'going away');
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.endReason).toBe('socket closed (1001)');
    expect(snapshot.counters.audioInChunks).toBe(5);
    await released(server);
  });

  // Loopback TCP buffers absorb ~4 MB before anything stays in ws's own buffer, so the model says
  // 400 s at once (~6 MB of Twilio frames), sent in a burst instead of paced.
  const LONG_ANSWER = { answerMs: 400_000, streamSpeed: 4000 };

  it('reads slowly: sending pauses at the high-water mark with rate-limited warnings, the audio stays queued, and all of it arrives once it reads again', async () => {
    const highWater = 32 * 1024;
    const { server, log } = await serverWith(
      LONG_ANSWER,
      // sendLeadMs: burst instead of real-time pacing, so the backlog builds in a second, not minutes.
      // maxPendingTwilioFrames: this answer is 400 s at once, far past the runaway bound.
      { sendLeadMs: 600_000, twilioHighWaterBytes: highWater, backlogWarnIntervalMs: 200, twilioBacklogFrames: 1_000_000, maxPendingTwilioFrames: 1_000_000 },
    );
    const call = await startedCall(server, 'outbound');
    rawSocket(call).pause();
    const live = await eventually(() => server.call(call.callSid), (s) => (s?.counters.backlogWarnings ?? 0) >= 3, 10_000);
    expect(live?.counters.backlogWarnings).toBeGreaterThanOrEqual(3);
    expect(live?.queues.toTwilio).toBeGreaterThan(0);
    // Rate limited, and ws's buffer stays at the mark (plus the one chunk and mark that crossed it).
    const warnings = log.forCall(call.callSid).filter((r) => r.msg === 'backlog to Twilio');
    for (const w of warnings) {
      const buffered = Number(/^(\d+) bytes buffered/.exec(String(w.detail))?.[1]);
      expect(buffered).toBeGreaterThan(highWater);
      expect(buffered).toBeLessThan(highWater + 2048);
    }
    const times = warnings.map((w) => Date.parse(String(w.time)));
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(190);
    rawSocket(call).resume();
    await call.until(() => call.mediaMs() === LONG_ANSWER.answerMs, 20_000, 'the whole answer');
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.queues.toTwilio).toBe(0);
    expect(snapshot.counters.audioOutChunks).toBe(call.media().length);
    expect(snapshot.counters.marksSent).toBe(call.count('mark'));
    expect(snapshot.errors).toEqual([]);
    await released(server);
  });

  it("reads at once (the slow reader's healthy twin): a tick's burst past the high-water mark is no backlog, and no warning", async () => {
    const highWater = 32 * 1024;
    // 20 s at once: 1,000 frames in 200 chunks, ~230 kB, seven times the mark in one burst; a reader takes it all.
    const answer = { answerMs: 20_000, streamSpeed: 4000 };
    const { server, log } = await serverWith(answer, { sendLeadMs: 600_000, twilioHighWaterBytes: highWater, backlogWarnIntervalMs: 200, twilioBacklogFrames: 1_000_000 });
    const call = await startedCall(server, 'outbound');
    await call.until(() => call.mediaMs() === answer.answerMs, 10_000, 'the whole answer');
    call.stop();
    expect(await call.closed).toBe(1000);
    const snapshot = await finishedCall(server, call.callSid);
    // The bytes a tick wrote while the socket was corked are not Twilio's backlog: Twilio read everything.
    expect(log.forCall(call.callSid).filter((r) => r.msg === 'backlog to Twilio')).toEqual([]);
    expect(snapshot.counters.backlogWarnings).toBe(0);
    expect(snapshot.errors).toEqual([]);
    await released(server);
  });

  it('stops reading for good: after twilioStallMs the call ends (1011) and the socket is dropped', async () => {
    const { server, log } = await serverWith(
      LONG_ANSWER,
      // maxPendingTwilioFrames: this answer is 400 s at once, far past the runaway bound.
      { sendLeadMs: 600_000, twilioHighWaterBytes: 32 * 1024, twilioStallMs: 400, maxPendingTwilioFrames: 1_000_000 },
    );
    const call = await startedCall(server, 'outbound');
    rawSocket(call).pause();
    const snapshot = await finishedCall(server, call.callSid, 10_000);
    expect(snapshot.endReason).toBe('Twilio not reading');
    expect(snapshot.errors.map((e) => e.code)).toEqual(['twilio_stalled']);
    expect(log.forCall(call.callSid).some((r) => r.msg === 'Twilio not reading; ending call')).toBe(true);
    rawSocket(call).resume();
    expect(await call.closed).toBe(1006);
    await released(server);
  });
});

describe('soak', () => {
  it('2,000 sequential calls: flat memory, bounded retention, nothing left behind', async () => {
    const { server } = await serverWith({ keepFinishedSessions: 200 }, {}, { keepFinishedCalls: 100 });
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heapAfterGc = async (): Promise<number> => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        gc();
      }
      return v8.getHeapStatistics().used_heap_size;
    };
    const resourcesBefore = process.getActiveResourcesInfo().length;
    let heapAt500 = 0;
    const started = Date.now();
    for (let i = 1; i <= 2000; i++) {
      const call = new RawTwilio(server.wsUrl);
      await call.opened;
      call.connected();
      // Three lives, mixed: every 10th call is outbound and lasts until the model's greeting plays
      // (model session, send loop, ticker, marks); every 10th+5 lingers 5 ms (the model session
      // may just be up); the rest hang up at once, while their model connection is still opening.
      const greeted = i % 10 === 0;
      call.start(greeted ? 'outbound' : 'inbound');
      for (let f = 0; f < 5; f++) call.sendMedia(SILENT_FRAME);
      if (greeted) await call.until(() => call.received.length > 0, 5000, 'the greeting');
      else if (i % 10 === 5) await sleep(5);
      call.stop();
      expect(await call.closed).toBe(1000);
      if (i === 500) heapAt500 = await heapAfterGc();
    }
    const elapsed = Date.now() - started;
    await released(server);
    const heapAt2000 = await heapAfterGc();
    const growthMb = (heapAt2000 - heapAt500) / 1024 / 1024;
    const calls = server.calls();
    console.log(`soak: 2000 calls in ${elapsed} ms; heap ${(heapAt500 / 1048576).toFixed(1)} MB at 500, ${(heapAt2000 / 1048576).toFixed(1)} MB at 2000 (${growthMb.toFixed(2)} MB)`);
    expect(growthMb).toBeLessThan(20);
    expect(calls.length).toBe(100);
    expect(calls.every((c) => c.endedAt !== null && c.endReason === 'stop' && c.errors.length === 0)).toBe(true);
    expect(calls.every((c) => c.counters.audioInChunks === 5 && c.counters.modelAudioAppends === 5)).toBe(true);
    expect(server.simulator?.sessions().length ?? 0).toBeLessThanOrEqual(200);
    // Timers, sockets and handles: back where they were (give or take the test's own).
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(resourcesBefore + 2);
  }, 120_000);
});
