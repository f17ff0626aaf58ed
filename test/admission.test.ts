// Who may hold a call slot. A socket takes one only once a valid `start` admits it; until then
// it waits under a deadline, in a pool bounded apart from the calls (the oldest let go first), so
// strangers that connect and never start cannot keep a real call out. One live call per callSid,
// and a started call that sends no audio goes idle whatever else it sends. Last, the soak: a
// thousand strangers against --max-calls 20 while real calls come and go.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startMediaServer, type MediaServerOptions, type RunningMediaServer } from '../src/server/media-server.js';
import { RawTwilio, SILENT_FRAME, eventually, sleep } from './helpers/raw-twilio.js';
import { finishedCall, startedCall } from './helpers/robustness.js';

const servers: RunningMediaServer[] = [];
async function serve(options: MediaServerOptions): Promise<RunningMediaServer> {
  const server = await startMediaServer({ port: 0, quiet: true, model: { backend: 'simulator', simulator: { answerMs: 400 } }, ...options });
  servers.push(server);
  return server;
}
const strangers: RawTwilio[] = [];
afterEach(async () => {
  for (const s of strangers.splice(0)) s.ws.terminate();
  for (const server of servers.splice(0)) await server.close();
});

/** A socket that connects and never starts; `connected` every `everyMs` (0: silent). */
async function stranger(server: RunningMediaServer, everyMs = 0): Promise<{ socket: RawTwilio; stop(): void }> {
  const socket = new RawTwilio(server.wsUrl);
  strangers.push(socket);
  await socket.opened;
  socket.connected();
  const timer = everyMs > 0 ? setInterval(() => socket.ws.readyState === socket.ws.OPEN && socket.connected(), everyMs) : null;
  void socket.closed.then(() => timer && clearInterval(timer));
  return { socket, stop: () => timer && clearInterval(timer) };
}

describe('the start deadline', () => {
  it('a socket with no valid start is closed (1008) when the deadline passes, however often it sends `connected`', async () => {
    const server = await serve({ startTimeoutMs: 300 });
    const chatty = await stranger(server, 50);
    const began = Date.now();
    expect(await chatty.socket.closed).toBe(1008);
    expect(chatty.socket.closeReason).toBe('no valid start within 300 ms');
    expect(Date.now() - began).toBeLessThan(1500);
    expect(server.stats()).toMatchObject({ awaitingStart: 0, liveCalls: 0, closedWithoutStart: 1 });
    const snapshot = server.calls().at(-1);
    expect(snapshot).toMatchObject({ callSid: null, state: 'closed', endReason: 'no valid start within 300 ms' });
  });

  it('a start within the deadline makes a call that outlives it', async () => {
    const server = await serve({ startTimeoutMs: 300 });
    const call = await startedCall(server);
    for (let i = 0; i < 30; i++) {
      call.sendMedia(SILENT_FRAME);
      await sleep(20);
    }
    expect(call.closeCode).toBeNull();
    call.stop();
    expect(await call.closed).toBe(1000);
    expect((await finishedCall(server, call.callSid)).counters.audioInChunks).toBe(30);
  });

  it('an invalid start does not stop the clock: the deadline still closes the socket', async () => {
    const server = await serve({ startTimeoutMs: 300 });
    const call = new RawTwilio(server.wsUrl);
    strangers.push(call);
    await call.opened;
    call.start('inbound', 'CA\n1');
    expect(await call.closed).toBe(1008);
  });
});

describe('sockets awaiting their start, bounded apart from the calls', () => {
  it('past maxAwaitingStart the oldest is let go (1013) and the new socket, a real call, goes live', async () => {
    const server = await serve({ maxCalls: 2, maxAwaitingStart: 4 });
    const crowd = [];
    for (let i = 0; i < 4; i++) crowd.push(await stranger(server));
    expect(server.stats()).toMatchObject({ awaitingStart: 4, liveCalls: 0 });
    const call = await startedCall(server);
    expect(await crowd[0]?.socket.closed).toBe(1013);
    expect(crowd[0]?.socket.closeReason).toBe('too many streams awaiting start');
    await eventually(() => server.liveCalls(), (n) => n === 1);
    expect(server.stats()).toMatchObject({ awaitingStart: 3, liveCalls: 1, evictedBeforeStart: 1 });
    for (const s of crowd.slice(1)) expect(s.socket.closeCode).toBeNull();
    call.sendMedia(SILENT_FRAME);
    call.stop();
    expect(await call.closed).toBe(1000);
    expect((await finishedCall(server, call.callSid)).counters.audioInChunks).toBe(1);
  });

  it('a handshake ws refuses (400) at the bound lets no waiting socket go', async () => {
    const server = await serve({ maxCalls: 2, maxAwaitingStart: 2 });
    const crowd = [await stranger(server), await stranger(server)];
    const { port } = new URL(server.wsUrl);
    // An upgrade with no Sec-WebSocket-Key: ws answers 400 and no socket is made.
    const reply = await new Promise<string>((resolve, reject) => {
      const raw = net.connect(Number(port), '127.0.0.1', () => raw.write(`GET /media HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`));
      let text = '';
      raw.on('data', (chunk) => (text += chunk.toString()));
      raw.on('close', () => resolve(text));
      raw.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await sleep(100);
    expect(crowd.map((s) => s.socket.closeCode)).toEqual([null, null]);
    expect(server.stats()).toMatchObject({ awaitingStart: 2, evictedBeforeStart: 0 });
  });

  it('strangers hold no call slot: with maxCalls 2 and 10 of them connected, two real calls still go live', async () => {
    const server = await serve({ maxCalls: 2 });
    for (let i = 0; i < 10; i++) await stranger(server, 20);
    const calls = [await startedCall(server), await startedCall(server)];
    await eventually(() => server.liveCalls(), (n) => n === 2);
    expect(server.stats()).toMatchObject({ liveCalls: 2, awaitingStart: 10, rejectedAtCapacity: 0 });
    for (const call of calls) {
      call.stop();
      expect(await call.closed).toBe(1000);
    }
  });
});

describe('one live call per callSid', () => {
  it('a second start for a callSid that is live is refused (1008); the first call goes on untouched', async () => {
    const server = await serve({});
    const first = await startedCall(server);
    first.sendMedia(SILENT_FRAME);
    const twin = new RawTwilio(server.wsUrl);
    await twin.opened;
    twin.connected();
    twin.start('inbound', first.callSid);
    expect(await twin.closed).toBe(1008);
    expect(twin.closeReason).toBe('callSid already live');
    expect(server.stats().rejectedDuplicateCalls).toBe(1);
    first.sendMedia(SILENT_FRAME);
    first.stop();
    expect(await first.closed).toBe(1000);
    const snapshot = await finishedCall(server, first.callSid);
    expect(snapshot.counters.audioInChunks).toBe(2);
    expect(snapshot.errors).toEqual([]);
    const refused = server.calls().find((c) => c.errors.some((e) => e.code === 'duplicate_call_sid'));
    expect(refused).toMatchObject({ callSid: null, state: 'closed', endReason: 'callSid already live' });
    // Once the first call is over its callSid is free again (no signatures: no token to spend).
    const again = await startedCall(server, 'inbound', { ids: { accountSid: 'AC1', callSid: first.callSid, streamSid: 'MZ2' } });
    again.stop();
    expect(await again.closed).toBe(1000);
  });
});

describe('the idle sweep counts audio only', () => {
  it('a started call that sends `connected` and marks but no media is closed as idle (1001)', async () => {
    const server = await serve({ idleTimeoutMs: 1000 });
    const call = await startedCall(server);
    const chatter = setInterval(() => {
      if (call.ws.readyState !== call.ws.OPEN) return;
      call.connected();
      call.mark('1:200');
    }, 50);
    try {
      expect(await call.closed).toBe(1001);
    } finally {
      clearInterval(chatter);
    }
    expect((await finishedCall(server, call.callSid)).endReason).toBe('idle: nothing from Twilio for 1000 ms');
  });

  it('a call that streams audio is not idle', async () => {
    const server = await serve({ idleTimeoutMs: 1000 });
    const call = await startedCall(server);
    for (let i = 0; i < 100; i++) {
      call.sendMedia(SILENT_FRAME);
      await sleep(20);
    }
    expect(call.closeCode).toBeNull();
    call.stop();
    expect(await call.closed).toBe(1000);
  });
});

describe('soak', () => {
  it('1,000 strangers that never start against maxCalls 20: every real call is admitted within the deadline and counted exactly', async () => {
    const STRANGERS = 1000;
    const START_TIMEOUT_MS = 1500;
    const WAVES = 3;
    const FRAMES = 25;
    const server = await serve({ maxCalls: 20, startTimeoutMs: START_TIMEOUT_MS });
    // Each stranger connects, says `connected` every 500 ms and never starts; closed (by the
    // deadline, or let go for a newer socket) it connects again at once.
    let running = true;
    let strangersOpened = 0;
    const crowd = new Set<RawTwilio>();
    const crowdOpen = (): number => [...crowd].filter((s) => s.ws.readyState === s.ws.OPEN).length;
    const reconnect = (): void => {
      if (!running) return;
      const socket = new RawTwilio(server.wsUrl);
      crowd.add(socket);
      socket.ws.on('error', () => {});
      socket.opened.then(
        () => {
          strangersOpened += 1;
          socket.connected();
        },
        () => {},
      );
      const chatter = setInterval(() => socket.ws.readyState === socket.ws.OPEN && socket.connected(), 500);
      void socket.closed.then(() => {
        clearInterval(chatter);
        crowd.delete(socket);
        setTimeout(reconnect, 10);
      });
    };
    for (let i = 0; i < STRANGERS; i++) reconnect();
    // On a server where a socket takes a slot at the upgrade, 20 of them get in and the rest 503.
    expect(await eventually(crowdOpen, (n) => n === STRANGERS, 20_000)).toBe(STRANGERS);
    expect(server.stats().awaitingStart).toBe(STRANGERS);

    let peakLive = 0;
    const sampler = setInterval(() => (peakLive = Math.max(peakLive, server.liveCalls())), 10);
    const admittedAfterMs: number[] = [];
    const results: Array<{ callSid: string; sent: number; closeCode: number }> = [];
    try {
      for (let wave = 0; wave < WAVES; wave++) {
        // Each wave dials into a full crowd (it thins while the slots are full: its upgrades get 503).
        expect(await eventually(crowdOpen, (n) => n === STRANGERS, 10_000)).toBe(STRANGERS);
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            const dialled = performance.now();
            const call = await startedCall(server);
            const started = await eventually(() => server.call(call.callSid), (s) => s?.state === 'started', START_TIMEOUT_MS);
            expect(started?.state).toBe('started');
            admittedAfterMs.push(performance.now() - dialled);
            let sent = 0;
            for (; sent < FRAMES; sent++) {
              call.sendMedia(SILENT_FRAME);
              await sleep(20);
            }
            call.stop();
            results.push({ callSid: call.callSid, sent, closeCode: await call.closed });
          }),
        );
      }
    } finally {
      running = false;
      clearInterval(sampler);
      for (const socket of crowd) socket.ws.terminate();
    }
    expect(results).toHaveLength(WAVES * 20);
    for (const { callSid, sent, closeCode } of results) {
      expect(closeCode).toBe(1000);
      const snapshot = await finishedCall(server, callSid);
      expect(snapshot.counters.audioInChunks).toBe(sent);
      expect(snapshot.counters.modelAudioAppends).toBe(sent);
      expect(snapshot.errors).toEqual([]);
    }
    expect(Math.max(...admittedAfterMs)).toBeLessThan(START_TIMEOUT_MS);
    expect(peakLive).toBeLessThanOrEqual(20);
    const stats = server.stats();
    // While the 20 slots were full, strangers' upgrades got 503 (rejectedAtCapacity); no start did.
    expect(server.calls().filter((c) => c.errors.some((e) => e.code === 'at_capacity'))).toEqual([]);
    // The crowd was real: held at its bound, let go for the real calls, closed by the deadline.
    expect(strangersOpened).toBeGreaterThan(STRANGERS);
    expect(stats.evictedBeforeStart).toBeGreaterThanOrEqual(WAVES);
    expect(stats.closedWithoutStart).toBeGreaterThan(0);
    console.log(
      `soak: ${strangersOpened} stranger sockets, ${stats.evictedBeforeStart} let go, ${stats.closedWithoutStart} closed by the deadline, ${stats.rejectedAtCapacity} upgrades refused while the slots were full; ` +
        `${results.length} real calls admitted after p50 ${Math.round(admittedAfterMs.sort((a, b) => a - b)[admittedAfterMs.length >> 1] ?? 0)} ms, max ${Math.round(Math.max(...admittedAfterMs))} ms`,
    );
  }, 60_000);
});
