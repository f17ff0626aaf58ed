// The in-process pipe the server reaches its embedded simulator through: it must behave like a
// socket where the server relies on it (order, async delivery, backpressure, end and close).
import type { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createInProcessPipe } from '../src/model/in-process-pipe.js';
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';

function collect(end: Duplex): { chunks: Buffer[]; text: () => string } {
  const chunks: Buffer[] = [];
  end.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { chunks, text: () => Buffer.concat(chunks).toString() };
}

const settled = (end: Duplex, event: 'end' | 'close'): Promise<void> => new Promise((resolve) => end.once(event, () => resolve()));

describe('createInProcessPipe', () => {
  it('carries bytes both ways, in order, and never inside the write call', async () => {
    const [a, b] = createInProcessPipe();
    const atB = collect(b);
    const atA = collect(a);
    for (let i = 0; i < 100; i++) a.write(`a${i};`);
    b.write('pong');
    // Like a socket: nothing has arrived while the writer is still running.
    expect(atB.chunks.length).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(atB.text()).toBe(Array.from({ length: 100 }, (_, i) => `a${i};`).join(''));
    expect(atA.text()).toBe('pong');
  });

  it('backs up into the writer while the reader is paused, then delivers everything', async () => {
    const [a, b] = createInProcessPipe();
    const atB = collect(b);
    b.pause();
    const chunk = Buffer.alloc(1000, 7);
    for (let i = 0; i < 200; i++) a.write(chunk);
    await new Promise((r) => setTimeout(r, 20));
    // What the writer had queued moved over while the reader still had room; no more after that.
    const taken = b.readableLength;
    expect(taken).toBeGreaterThanOrEqual(b.readableHighWaterMark);
    for (let i = 0; i < 50; i++) a.write(chunk);
    await new Promise((r) => setTimeout(r, 20));
    expect(atB.chunks.length).toBe(0);
    expect(b.readableLength).toBe(taken);
    // The rest waits in the writer's buffer: what ws reports as bufferedAmount.
    expect(a.writableLength).toBe(200_000 + 50_000 - taken);
    b.resume();
    await new Promise((r) => setTimeout(r, 20));
    expect(Buffer.concat(atB.chunks).length).toBe(250_000);
    expect(a.writableLength).toBe(0);
  });

  it('end on one side ends the other, and both close', async () => {
    const [a, b] = createInProcessPipe();
    const atB = collect(b);
    collect(a);
    a.end('last words');
    await Promise.all([settled(b, 'end'), settled(a, 'close'), settled(b, 'close')]);
    expect(atB.text()).toBe('last words');
  });

  it('destroying one side ends the other; writes to a gone peer do not hang', async () => {
    const [a, b] = createInProcessPipe();
    collect(b);
    a.destroy();
    await Promise.all([settled(b, 'end'), settled(b, 'close')]);
    const [c, d] = createInProcessPipe();
    d.destroy();
    await settled(d, 'close');
    await new Promise<void>((resolve, reject) => c.write('into the void', (err) => (err ? reject(err) : resolve())));
  });
});

describe('simulator.connect()', () => {
  let simulator: RunningSimulator | null = null;
  afterEach(async () => {
    await simulator?.close();
    simulator = null;
  });

  it('opens a realtime session in-process, through the same ws upgrade as its port', async () => {
    simulator = await startRealtimeSimulator({ host: '127.0.0.1', port: 0 });
    const sim = simulator;
    const ws = new WebSocket('ws://in-process/v1/realtime?model=callsim-simulator', {
      createConnection: (() => sim.connect()) as unknown as typeof createConnection,
      headers: { 'x-callsim-call-sid': 'CAinprocess' },
    });
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(data.toString()) as { type: string }));
      ws.once('error', reject);
    });
    expect(first.type).toBe('session.created');
    ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.alloc(160, 0xff).toString('base64') }));
    await new Promise((r) => setTimeout(r, 20));
    const [session] = sim.sessionsFor('CAinprocess');
    expect(session?.appendsReceived).toBe(1);
    expect(session?.audioBytesReceived).toBe(160);
    ws.close();
    await new Promise((r) => ws.once('close', r));
  });
});
