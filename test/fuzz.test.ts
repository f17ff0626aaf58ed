// Property-based fuzzing of the media socket: thousands of mutated Twilio messages (fields
// deleted or retyped, events renamed, JSON cut or spliced, binary frames, invalid UTF-8) against
// a live server. Whatever arrives, nothing may throw inside a call (no internal_error), every call
// ends with a clear close code and is released, and afterwards the server still serves a healthy
// call end to end. FUZZ_SEED=n reproduces or varies a run; FUZZ_RUNS=n scales it.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMediaServer } from '../src/server/media-server.js';
import { RawTwilio, eventually, sid } from './helpers/raw-twilio.js';
import { startWatchedServer, type Bystander, healthyCall, type CapturedLog } from './helpers/robustness.js';

type JsonValue = fc.JsonValue;
type Template = 'connected' | 'start' | 'media' | 'mark' | 'dtmf' | 'stop';

type Mutation =
  | { kind: 'valid' }
  | { kind: 'delete'; path: number }
  | { kind: 'replace'; path: number; value: JsonValue }
  | { kind: 'event'; event: string }
  | { kind: 'truncate'; cut: number }
  | { kind: 'splice'; at: number; text: string }
  | { kind: 'json'; value: JsonValue }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'rawText'; bytes: Uint8Array };

interface FuzzFrame {
  template: Template;
  payloadBytes: number;
  mutation: Mutation;
}

const templateArb: fc.Arbitrary<Template> = fc.oneof(
  { arbitrary: fc.constant('media' as const), weight: 12 },
  { arbitrary: fc.constant('mark' as const), weight: 2 },
  { arbitrary: fc.constant('dtmf' as const), weight: 2 },
  { arbitrary: fc.constant('start' as const), weight: 2 },
  { arbitrary: fc.constant('connected' as const), weight: 1 },
  { arbitrary: fc.constant('stop' as const), weight: 1 },
);

const jsonArb = fc.jsonValue({ maxDepth: 2 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'valid' as const }), weight: 120 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), path: fc.nat() }), weight: 60 },
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), path: fc.nat(), value: jsonArb }), weight: 80 },
  { arbitrary: fc.record({ kind: fc.constant('event' as const), event: fc.string({ maxLength: 12 }) }), weight: 20 },
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), cut: fc.nat() }), weight: 40 },
  { arbitrary: fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), text: fc.string({ unit: 'binary', maxLength: 8 }) }), weight: 40 },
  { arbitrary: fc.record({ kind: fc.constant('json' as const), value: jsonArb }), weight: 20 },
  { arbitrary: fc.record({ kind: fc.constant('binary' as const), bytes: fc.uint8Array({ maxLength: 300 }) }), weight: 20 },
  // Bytes straight into a text frame: usually invalid UTF-8, which ws answers with 1007.
  { arbitrary: fc.record({ kind: fc.constant('rawText' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }), weight: 1 },
);

const frameArb: fc.Arbitrary<FuzzFrame> = fc.record({ template: templateArb, payloadBytes: fc.nat({ max: 400 }), mutation: mutationArb });
const runArb = fc.record({ withStart: fc.boolean(), frames: fc.array(frameArb, { minLength: 20, maxLength: 300, size: 'max' }) });

function template(kind: Template, call: RawTwilio, payloadBytes: number): Record<string, JsonValue> {
  const streamSid = call.streamSid;
  switch (kind) {
    case 'connected':
      return { event: 'connected', protocol: 'Call', version: '1.0.0' };
    case 'start':
      return {
        event: 'start',
        sequenceNumber: '1',
        streamSid,
        start: { accountSid: sid('AC'), streamSid, callSid: call.callSid, tracks: ['inbound'], customParameters: { direction: 'inbound' }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
      };
    case 'media':
      return { event: 'media', sequenceNumber: '2', streamSid, media: { track: 'inbound', chunk: '1', timestamp: '20', payload: Buffer.alloc(payloadBytes, 0x7f).toString('base64') } };
    case 'mark':
      return { event: 'mark', sequenceNumber: '3', streamSid, mark: { name: '1:200' } };
    case 'dtmf':
      return { event: 'dtmf', sequenceNumber: '4', streamSid, dtmf: { track: 'inbound_track', digit: '5' } };
    case 'stop':
      return { event: 'stop', sequenceNumber: '5', streamSid, stop: { accountSid: 'AC', callSid: call.callSid } };
  }
}

/** Every path to a value in the object, parents before children. */
function paths(value: JsonValue, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const out: string[][] = [];
  for (const [key, child] of Object.entries(value)) {
    out.push([...prefix, key]);
    out.push(...paths(child as JsonValue, [...prefix, key]));
  }
  return out;
}

function parentOf(root: Record<string, JsonValue>, path: string[]): Record<string, JsonValue> | null {
  let node: JsonValue = root;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return null;
    node = (node as Record<string, JsonValue>)[key] ?? null;
  }
  return typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Record<string, JsonValue>) : null;
}

function send(call: RawTwilio, frame: FuzzFrame): void {
  const message = template(frame.template, call, frame.payloadBytes);
  const m = frame.mutation;
  const all = paths(message);
  switch (m.kind) {
    case 'valid':
      return call.send(message);
    case 'delete':
    case 'replace': {
      const path = all[m.path % all.length] ?? ['event'];
      const parent = parentOf(message, path);
      const key = path[path.length - 1] ?? 'event';
      if (parent !== null) {
        if (m.kind === 'delete') delete parent[key];
        else parent[key] = m.value;
      }
      return call.send(message);
    }
    case 'event':
      return call.send({ ...message, event: m.event });
    case 'truncate': {
      const text = JSON.stringify(message);
      return call.send(text.slice(0, m.cut % text.length));
    }
    case 'splice': {
      const text = JSON.stringify(message);
      const at = m.at % (text.length + 1);
      return call.send(text.slice(0, at) + m.text + text.slice(at));
    }
    case 'json':
      return call.send(JSON.stringify(m.value));
    case 'binary':
      return call.sendBinary(Buffer.from(m.bytes));
    case 'rawText':
      return call.ws.send(Buffer.from(m.bytes), { binary: false });
  }
}

let server: RunningMediaServer;
let log: CapturedLog;
let bystander: Bystander;

beforeAll(async () => {
  ({ server, log, bystander } = await startWatchedServer());
});

afterAll(async () => {
  await server.close();
});

describe('fuzz: mutated Twilio messages against a live server', () => {
  it('never throws inside a call, always ends calls cleanly, and still serves a healthy call', async () => {
    let messages = 0;
    const closeCodes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(runArb, async ({ withStart, frames }) => {
        const call = new RawTwilio(server.wsUrl);
        await call.opened;
        if (withStart) {
          call.connected();
          call.start('inbound');
        }
        for (const frame of frames) {
          if (call.ws.readyState !== call.ws.OPEN) break;
          send(call, frame);
          messages += 1;
        }
        if (call.ws.readyState === call.ws.OPEN) call.stop();
        const code = await call.closed;
        closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
        // 1000: stop (ours or a fuzzed one); 1007: ws refused invalid UTF-8 in a text frame.
        expect([1000, 1007]).toContain(code);
        // Released: only the bystander is still live.
        expect(await eventually(() => server.liveCalls(), (n) => n === 1)).toBe(1);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 100), seed: Number(process.env.FUZZ_SEED ?? 20261125) },
    );
    if (process.env.FUZZ_VERBOSE) console.log({ messages, closeCodes: [...closeCodes], codes: Object.entries(server.calls().flatMap((c) => c.errors.map((e) => e.code)).reduce<Record<string, number>>((a, c) => ((a[c] = (a[c] ?? 0) + 1), a), {})) });
    expect(messages).toBeGreaterThan(5000);
    expect(closeCodes.get(1000)).toBeGreaterThan(0);

    // Nothing a peer sent made call code throw; every record stayed bounded.
    const calls = server.calls();
    for (const snapshot of calls) {
      expect(snapshot.errors.filter((e) => e.code === 'internal_error')).toEqual([]);
      expect(snapshot.errors.length).toBeLessThanOrEqual(51);
    }
    expect(log.records().filter((r) => r.level === 'error')).toEqual([]);
    expect(calls.reduce((sum, c) => sum + c.counters.protocolErrors, 0)).toBeGreaterThan(500);

    // And the server still does its job.
    const healthy = await healthyCall(server);
    expect(healthy.closeCode).toBe(1000);
    expect(healthy.snapshot.errors).toEqual([]);
    expect(healthy.snapshot.counters.audioInChunks).toBe(50);
    expect(healthy.mediaReceived).toBeGreaterThan(0);
    expect(healthy.snapshot.counters.audioOutChunks).toBe(healthy.mediaReceived);
    const b = await bystander.finish();
    expect(b.snapshot.errors).toEqual([]);
    expect(b.snapshot.counters.audioInChunks).toBe(b.sent);
    expect(server.liveCalls()).toBe(0);
  });
});
