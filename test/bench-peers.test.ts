// The benchmark's peers are honest servers: each passes the gate, every direction and timing,
// with the realtime simulator as its model, before its capacity is put beside callsim serve's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate, type GatePlacement } from '../src/gate/gate.js';
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';

let simulator: RunningSimulator;
beforeAll(async () => {
  simulator = await startRealtimeSimulator({ port: 0, tls: false });
});
afterAll(async () => {
  await simulator.close();
});

async function gatePeer(command: string, placement: GatePlacement): Promise<Awaited<ReturnType<typeof runGate>>> {
  return runGate({
    fixtures: ['fixtures/hello-8k-mulaw.wav'],
    directions: ['inbound', 'outbound'],
    timings: ['realtime', 'burst', 'early-media'],
    speed: 4,
    concurrency: 3,
    target: { kind: 'command', command: `CALLSIM_REALTIME_URL='${simulator.realtimeURL}' OPENAI_API_KEY=bench ${command}`, wsPath: '/media-stream', readyTimeoutMs: 20_000 },
    expectAudio: true,
    placement,
  });
}

describe('the benchmark peers', () => {
  it('the fastify peer (the public Node sample, made honest) passes the gate', async () => {
    const result = await gatePeer('node bench/peers/fastify-peer.mjs --port {port}', { webhook: { path: '/incoming-call' } });
    expect(result.calls.map((c) => [c.id, c.findings])).toEqual(result.calls.map((c) => [c.id, []]));
    expect(result.verdict).toBe('pass');
    for (const call of result.calls) expect(call.placement).toBe('webhook');
  }, 60_000);

  it('the python peer (asyncio + websockets) passes the gate', async () => {
    const result = await gatePeer('/usr/bin/python3 bench/peers/python_peer.py --port {port}', { webhook: { path: '/incoming-call' }, webhookMethod: 'GET' });
    expect(result.calls.map((c) => [c.id, c.findings])).toEqual(result.calls.map((c) => [c.id, []]));
    expect(result.verdict).toBe('pass');
  }, 60_000);

  it('every frame the gate sent a peer reached the model: the simulator holds as many bytes, in pcmu, and every session closed', async () => {
    const before = new Set(simulator.sessions().map((s) => s.id));
    const result = await gatePeer('node bench/peers/fastify-peer.mjs --port {port}', { webhook: { path: '/incoming-call' } });
    const sessions = simulator.sessions().filter((s) => !before.has(s.id));
    expect(sessions).toHaveLength(result.calls.length);
    const sent = result.calls.reduce((a, c) => a + c.framesSent, 0);
    expect(sessions.reduce((a, s) => a + s.audioIn.bytes, 0)).toBe(sent * 160);
    expect(sessions.every((s) => !s.open && s.audioIn.format === 'audio/pcmu')).toBe(true);
  }, 60_000);
});
