// callsim serve end to end: a real ws client on loopback drives whole calls through the media
// server, the openai SDK bridge and the embedded realtime simulator.
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMediaServer, type RunningMediaServer } from '../src/server/media-server.js';
import { RawTwilio, SILENT_FRAME, eventually, loudFrame, sleep } from './helpers/raw-twilio.js';
import { finishedCall, startedCall } from './helpers/robustness.js';

let server: RunningMediaServer;

beforeAll(async () => {
  server = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 600 } } });
});
afterAll(async () => {
  await server.close();
});

async function httpJson(path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(server.httpUrl + path);
  return { status: res.status, body: await res.json() };
}

describe('http routes', () => {
  it('answers /healthz', async () => {
    const { status, body } = await httpJson('/healthz');
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, model: 'simulator' });
  });

  it('serves TwiML that connects the call to /media with a direction parameter', async () => {
    const res = await fetch(`${server.httpUrl}/twiml`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'agent.example.com' },
      body: 'CallSid=CA123&Direction=outbound-api',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/xml');
    const xml = await res.text();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    expect(xml).toContain('<Connect>');
    expect(xml).toMatch(/<Stream url="wss:\/\/[^"]+\/media">/);
    expect(xml).toContain('<Parameter name="direction" value="outbound"/>');
    const inbound = await (await fetch(`${server.httpUrl}/incoming-call`, { method: 'POST', body: '' })).text();
    expect(inbound).toContain('<Parameter name="direction" value="inbound"/>');
  });

  it('404s unknown calls and routes', async () => {
    expect((await httpJson('/calls/CAnope')).status).toBe(404);
    expect((await httpJson('/nope')).status).toBe(404);
  });
});

describe.each(['inbound', 'outbound'] as const)('a whole %s call', (direction) => {
  it('counts every frame in and out and feeds the model all of it', async () => {
    const call = await startedCall(server, direction);
    // 300 ms of speech then 700 ms of quiet: the simulator's VAD ends the turn and answers.
    for (let i = 0; i < 50; i++) {
      call.sendMedia(i < 15 ? loudFrame(i) : SILENT_FRAME);
      await sleep(20);
    }
    await call.until(() => call.media().length > 0, 10_000, 'the model to answer');
    // Let the answer play out: no new audio for 300 ms.
    let seen = -1;
    while (seen !== call.media().length) {
      seen = call.media().length;
      await sleep(300);
    }
    const firstMark = call.received.find((m) => m.event === 'mark');
    expect(firstMark).toBeDefined();
    if (firstMark?.event === 'mark') call.mark(firstMark.mark.name);
    await sleep(50);
    call.stop();
    expect(await call.closed).toBe(1000);

    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.direction).toBe(direction);
    expect(snapshot.state).toBe('stopped');
    expect(snapshot.counters.audioInChunks).toBe(50);
    expect(snapshot.counters.audioOutChunks).toBe(call.media().length);
    expect(snapshot.counters.marksSent).toBe(call.count('mark'));
    expect(snapshot.counters.marksReceived).toBe(1);
    expect(snapshot.errors).toEqual([]);
    expect(call.received.every((m) => m.streamSid === call.streamSid)).toBe(true);

    const sessions = server.simulator?.sessionsFor(call.callSid) ?? [];
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.appendsReceived).toBe(50);
    expect(sessions[0]?.audioBytesReceived).toBe(50 * 160);
    expect(sessions[0]?.speechStarted).toBe(1);
    // Outbound: the model greets first, then answers the caller's turn.
    expect(sessions[0]?.responsesStarted).toBe(direction === 'outbound' ? 2 : 1);
  });
});

describe('playback marks', () => {
  it('marks every 200 ms of an answer and its end, so barge-in knows what was played', async () => {
    const sim = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 500 } } });
    try {
      const call = await startedCall(sim, 'outbound'); // the model greets: 500 ms
      await call.until(() => call.mediaMs() === 500 && call.count('mark') === 3, 10_000, 'the whole greeting and its marks');
      expect(call.received.filter((m) => m.event === 'mark').map((m) => (m.event === 'mark' ? m.mark.name : ''))).toEqual(['1:200', '1:400', '1:500']);
      call.stop();
      await call.closed;
    } finally {
      await sim.close();
    }
  });

  it('closes a call whose Twilio side goes silent', async () => {
    const idle = await startMediaServer({ port: 0, quiet: true, idleTimeoutMs: 200 });
    try {
      const call = await startedCall(idle, 'inbound');
      expect(await call.closed).toBe(1001);
      const snapshot = await eventually(() => idle.call(call.callSid), (s) => s?.endedAt != null);
      expect(snapshot?.endReason).toMatch(/^idle: nothing from Twilio for 200 ms/);
      expect(idle.liveCalls()).toBe(0);
    } finally {
      await idle.close();
    }
  });
});

describe('shutdown', () => {
  it('drains: refuses new calls, lets a live call finish, then stops', async () => {
    const draining = await startMediaServer({ port: 0, quiet: true });
    const call = await startedCall(draining, 'inbound');
    for (let i = 0; i < 5; i++) call.sendMedia(SILENT_FRAME);
    const began = Date.now();
    const closed = draining.close(5000);
    await sleep(100);
    const late = new RawTwilio(draining.wsUrl);
    await expect(late.opened).rejects.toThrow(/503/);
    const health = await fetch(`${draining.httpUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, draining: true, liveCalls: 1 });
    // The live call goes on through the drain and ends on its own stop.
    for (let i = 0; i < 5; i++) call.sendMedia(SILENT_FRAME);
    call.stop();
    expect(await call.closed).toBe(1000);
    await closed;
    expect(Date.now() - began).toBeLessThan(3000);
    const snapshot = draining.call(call.callSid);
    expect(snapshot?.endReason).toBe('stop');
    expect(snapshot?.counters.audioInChunks).toBe(10);
  });

  it('closes calls still live when the drain runs out, with 1001', async () => {
    const draining = await startMediaServer({ port: 0, quiet: true });
    const call = await startedCall(draining, 'outbound');
    await draining.close(200);
    expect(await call.closed).toBe(1001);
    expect(draining.call(call.callSid)?.endReason).toBe('shutdown');
  });
});

describe('shutdown with callers that stopped reading', () => {
  const rawSocket = (call: RawTwilio): net.Socket => (call.ws as unknown as { _socket: net.Socket })._socket;

  it('the close handshake is bounded: a peer that never answers the close frame is dropped after a short grace', async () => {
    const stopping = await startMediaServer({ port: 0, quiet: true });
    const call = await startedCall(stopping, 'inbound');
    call.sendMedia(SILENT_FRAME);
    await eventually(() => stopping.call(call.callSid)?.counters.audioInChunks ?? 0, (n) => n === 1);
    rawSocket(call).pause();
    const began = Date.now();
    await stopping.close(0);
    // ws alone would wait 30 s for the peer's close frame.
    expect(Date.now() - began).toBeLessThan(3000);
    expect(stopping.call(call.callSid)?.endReason).toBe('shutdown');
    // Our close frame still reaches it once it reads again (then the connection is gone).
    rawSocket(call).resume();
    expect([1001, 1006]).toContain(await call.closed);
  });

  it('a second close() ends the drain and the handshakes at once', async () => {
    const stopping = await startMediaServer({ port: 0, quiet: true });
    const call = await startedCall(stopping, 'inbound');
    call.sendMedia(SILENT_FRAME);
    await eventually(() => stopping.liveCalls(), (n) => n === 1);
    rawSocket(call).pause();
    const first = stopping.close(10_000);
    await sleep(200);
    expect(stopping.liveCalls()).toBe(1);
    const began = Date.now();
    await stopping.close(0);
    await first;
    expect(Date.now() - began).toBeLessThan(1000);
    // Our close frame still reaches it once it reads again (then the connection is gone).
    rawSocket(call).resume();
    expect([1001, 1006]).toContain(await call.closed);
  });

  it('callsim serve: a second SIGTERM stops it at once, even with a caller that stopped reading', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('../bin/callsim.js', import.meta.url)), 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const listening = await eventually(() => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], (url) => url !== undefined, 10_000);
      expect(listening).toBeDefined();
      const wsUrl = `${(listening ?? '').replace(/^http/, 'ws')}/media`;
      const call = new RawTwilio(wsUrl);
      await call.opened;
      call.connected();
      call.start('inbound');
      call.sendMedia(SILENT_FRAME);
      await sleep(200);
      rawSocket(call).pause();
      child.kill('SIGTERM');
      // The first signal drains (10 s by default); the second closes now.
      await sleep(300);
      expect(child.exitCode).toBeNull();
      const began = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - began).toBeLessThan(2000);
      expect(stdout).toMatch(/callsim serve stopped: 1 calls/);
      rawSocket(call).resume();
      await call.closed;
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('ordering and guards', () => {
  it('loses nothing when media arrives right after start, before the model session is ready', async () => {
    const call = await startedCall(server, 'outbound');
    for (let i = 0; i < 50; i++) call.sendMedia(SILENT_FRAME);
    const sessions = await eventually(
      () => server.simulator?.sessionsFor(call.callSid) ?? [],
      (s) => s[0]?.appendsReceived === 50,
    );
    expect(sessions[0]?.appendsReceived).toBe(50);
    call.stop();
    await call.closed;
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.counters.audioInChunks).toBe(50);
    expect(snapshot.counters.modelAudioAppends).toBe(50);
    expect(snapshot.errors).toEqual([]);
  });

  it('with modelAppendFrames 3, batches caller audio into one append per 3 frames and loses none', async () => {
    const batched = await startMediaServer({ port: 0, quiet: true, call: { modelAppendFrames: 3 }, model: { backend: 'simulator', simulator: { answerMs: 400 } } });
    try {
      const call = await startedCall(batched, 'inbound');
      for (let i = 0; i < 50; i++) call.sendMedia(i < 15 ? loudFrame(i) : SILENT_FRAME);
      await eventually(() => batched.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === 16);
      call.stop();
      await call.closed;
      const session = await eventually(
        () => batched.simulator?.sessionsFor(call.callSid)[0],
        (s) => s?.open === false,
      );
      // 16 full batches while the call ran, the last 2 frames flushed when it ended.
      expect(session?.appendsReceived).toBe(17);
      expect(session?.audioBytesReceived).toBe(50 * 160);
      expect(session?.speechStarted).toBe(1);
      const snapshot = await eventually(() => batched.call(call.callSid), (s) => s?.endedAt != null);
      expect(snapshot?.counters.audioInChunks).toBe(50);
      expect(snapshot?.counters.modelAudioAppends).toBe(50);
      expect(snapshot?.queues.toModel).toBe(0);
      expect(snapshot?.errors).toEqual([]);
    } finally {
      await batched.close();
    }
  });

  it('a second start on the same socket does not start a second model session or loop', async () => {
    const call = await startedCall(server, 'inbound');
    const otherCallSid = `${call.callSid.slice(0, -4)}beef`;
    call.start('outbound', otherCallSid);
    for (let i = 0; i < 10; i++) call.sendMedia(SILENT_FRAME);
    await eventually(() => server.simulator?.sessionsFor(call.callSid)[0]?.appendsReceived ?? 0, (n) => n === 10);
    call.stop();
    await call.closed;
    const snapshot = await finishedCall(server, call.callSid);
    expect(snapshot.direction).toBe('inbound');
    expect(snapshot.counters.audioInChunks).toBe(10);
    expect(snapshot.counters.protocolErrors).toBe(1);
    expect(snapshot.errors.map((e) => e.code)).toEqual(['duplicate_start']);
    expect(server.simulator?.sessionsFor(call.callSid)).toHaveLength(1);
    expect(server.simulator?.sessionsFor(otherCallSid)).toHaveLength(0);
    expect(server.call(otherCallSid)).toBeNull();
  });

  it('barge-in: marks Twilio returns late for a cleared answer do not make the next answer look played', async () => {
    const sim = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 1000 } } });
    let talking = false;
    let i = 0;
    const call = await startedCall(sim, 'outbound'); // the model greets first
    const feed = setInterval(() => {
      i += 1;
      call.sendMedia(talking ? loudFrame(i) : SILENT_FRAME);
    }, 20);
    try {
      // Nothing is confirmed played. Talk over the end of the greeting: the first clear.
      await call.until(() => call.mediaMs() >= 900, 10_000, '900 ms of the greeting');
      talking = true;
      await call.until(() => call.count('clear') === 1, 10_000, 'the first clear');
      talking = false;
      const clearAt = call.received.findIndex((m) => m.event === 'clear');
      const heldMarks = call.received.slice(0, clearAt).flatMap((m) => (m.event === 'mark' ? [m.mark.name] : []));
      // The answer to that turn, sent to its end mark...
      const answerMarks = (): string[] => call.received.slice(clearAt).flatMap((m) => (m.event === 'mark' ? [m.mark.name] : []));
      await call.until(() => answerMarks().some((name) => name.endsWith(':1000')), 10_000, 'the second answer sent in full');
      // Twilio plays all but its last 400 ms, confirming those marks, and only now returns the
      // greeting's marks, as it does after a clear: as many as the answer still has unconfirmed.
      const confirmed = answerMarks().slice(0, -2);
      for (const name of confirmed) call.mark(name);
      expect(heldMarks.length).toBeGreaterThanOrEqual(answerMarks().length - confirmed.length);
      for (const name of heldMarks) call.mark(name);
      await sleep(100);
      // The caller talks over the second answer, still playing at Twilio: a second clear.
      talking = true;
      await call.until(() => call.count('clear') === 2, 5_000, 'the second clear');
      const snapshot = sim.call(call.callSid);
      expect(snapshot?.counters.bargeIns).toBe(2);
    } finally {
      clearInterval(feed);
      call.stop();
      await call.closed;
      await sim.close();
    }
  });

  it('barge-in: the caller talking over the answer gets a clear and a truncated model item', async () => {
    // The model still sends a few deltas of the answer after it cancels it, as a real API may.
    const sim = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 4000, faults: { lateDeltasAfterCancel: 3 } } } });
    try {
      const call = await startedCall(sim, 'outbound'); // the model greets first
      let i = 0;
      let echoed = 0;
      const feed = setInterval(() => {
        i += 1;
        call.sendMedia(call.mediaMs() >= 500 ? loudFrame(i) : SILENT_FRAME);
        // Play back like Twilio: confirm marks as they arrive.
        for (; echoed < call.received.length; echoed++) {
          const m = call.received[echoed];
          if (m?.event === 'mark') call.mark(m.mark.name);
        }
      }, 20);
      await call.until(() => call.count('clear') > 0, 10_000, 'clear');
      const clearAt = call.received.findIndex((m) => m.event === 'clear');
      // Keep talking: the late deltas of the cut-off answer arrive meanwhile and must not play.
      await sleep(300);
      clearInterval(feed);
      expect(call.received.slice(clearAt + 1).filter((m) => m.event === 'media')).toEqual([]);
      call.stop();
      await call.closed;
      const media = call.media().length;
      const mediaMs = call.mediaMs();
      const snapshot = await eventually(() => sim.call(call.callSid), (s) => s?.endedAt != null);
      expect(snapshot?.counters.bargeIns).toBe(1);
      expect(snapshot?.counters.clearsSent).toBe(1);
      expect(snapshot?.counters.audioOutChunks).toBe(media);
      // The answer was 4 s; the caller cut in well before its end.
      expect(mediaMs).toBeLessThan(4000);
      const session = sim.simulator?.sessionsFor(call.callSid)[0];
      expect(session?.truncations).toHaveLength(1);
      expect(session?.truncations[0]?.audioEndMs).toBeGreaterThan(0);
      expect(session?.truncations[0]?.audioEndMs).toBeLessThanOrEqual(mediaMs);
      expect(session?.responsesCancelled).toBe(1);
    } finally {
      await sim.close();
    }
  });
});
