// Contract tests with clients other than callsim's own, each in its own process, over TLS, the
// way an unmodified agent reaches the simulator: the openai Node SDK (OPENAI_BASE_URL = the TLS
// base URL, NODE_EXTRA_CA_CERTS = its CA; no createConnection), @openai/agents-realtime (its
// RealtimeSession over the websocket transport), and a plain Python client on Debian's
// python3-websockets (SSL_CERT_FILE). Every event they receive is type-checked against the
// openai package's RealtimeServerEvent (a planted malformed event must fail that check).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadedModelScript, startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { typeCheckServerEvents } from './agents/type-check.js';

const run = promisify(execFile);
const agent = (name: string): string => fileURLToPath(new URL(`./agents/${name}`, import.meta.url));
type Event = { type: string; event_id: string } & Record<string, any>;

let sim: RunningSimulator;
const received: Event[] = [];

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Only what a team's CI would set; the parent's NODE_OPTIONS and CA settings stay out.
  const { NODE_EXTRA_CA_CERTS: _ca, SSL_CERT_FILE: _ssl, OPENAI_BASE_URL: _base, OPENAI_API_KEY: _key, ...rest } = process.env;
  return { ...rest, OPENAI_API_KEY: 'sk-test-node', OPENAI_BASE_URL: sim.tlsBaseURL!, CALLSIM_REALTIME_WSS_URL: sim.tlsRealtimeURL!, NODE_EXTRA_CA_CERTS: sim.caPath!, SSL_CERT_FILE: sim.caPath!, ...extra };
}

beforeAll(async () => {
  const script = LoadedModelScript.fromObject({ turns: [{ toolCall: { name: 'book_table', arguments: { people: 2 } } }, { transcript: 'Your table for two is booked.', speech: { ms: 300 } }, { speech: { ms: 6000 } }] });
  sim = await startRealtimeSimulator({ script, answerMs: 600, streamSpeed: 2 });
});
afterAll(async () => {
  await sim.close();
});

describe('the openai Node SDK, unmodified, over TLS', () => {
  const results = new Map<string, { events: Event[]; error?: string }>();
  beforeAll(async () => {
    const { stdout } = await run('node', [agent('openai-node-agent.mjs'), 'vad-turn', 'barge-in', 'manual', 'function-call', 'text', 'item-create', 'errors', 'idle'], { env: env(), timeout: 60_000 });
    for (const line of stdout.trim().split('\n')) {
      const result = JSON.parse(line) as { name: string; events: Event[]; error?: string };
      results.set(result.name, result);
      received.push(...result.events);
    }
  }, 90_000);
  const scenario = (name: string): Event[] => {
    const result = results.get(name);
    expect(result?.error).toBeUndefined();
    return result!.events;
  };
  const of = (events: Event[], type: string): Event[] => events.filter((e) => e.type === type);

  it('a server-VAD turn: speech events on one item, then an answer whose response.done carries content and usage', () => {
    const events = scenario('vad-turn');
    const [started] = of(events, 'input_audio_buffer.speech_started');
    expect(of(events, 'input_audio_buffer.committed')[0]!.item_id).toBe(started!.item_id);
    const done = of(events, 'response.done')[0]!.response;
    expect(done.status).toBe('completed');
    expect(done.output[0].content[0].transcript).toEqual(expect.any(String));
    expect(done.usage.total_tokens).toBeGreaterThan(0);
    expect(of(events, 'response.output_audio.delta').reduce((n, e) => n + Buffer.from(e.delta, 'base64').length, 0)).toBe(600 * 8);
  });

  it('barge-in: the answer is cancelled by turn detection and the truncate is accepted', () => {
    const events = scenario('barge-in');
    expect(of(events, 'response.done')[0]!.response).toMatchObject({ status: 'cancelled', status_details: { reason: 'turn_detected' } });
    expect(of(events, 'conversation.item.truncated')).toHaveLength(1);
    expect(of(events, 'error')).toEqual([]);
  });

  it('manual turns, text modality and conversation.item.create', () => {
    expect(of(scenario('manual'), 'response.done')[0]!.response.status).toBe('completed');
    const text = scenario('text');
    expect(of(text, 'response.output_audio.delta')).toEqual([]);
    expect(of(text, 'response.done')[0]!.response.output[0].content[0]).toMatchObject({ type: 'output_text', text: expect.any(String) });
    const items = scenario('item-create');
    expect(of(items, 'conversation.item.retrieved')[0]!.item).toMatchObject({ role: 'system', content: [{ type: 'input_text', text: 'Greet the caller.' }] });
    expect(of(items, 'conversation.item.deleted')).toHaveLength(1);
  });

  it('an idle timeout: timeout_triggered, then an answer nobody asked for', () => {
    const events = scenario('idle');
    expect(of(events, 'input_audio_buffer.timeout_triggered')).toHaveLength(1);
    expect(of(events, 'response.done')).toHaveLength(2);
  });

  it('a function call round trip', () => {
    const events = scenario('function-call');
    const [first, second] = of(events, 'response.done').map((e) => e.response);
    expect(first.output[0]).toMatchObject({ type: 'function_call', name: 'book_table', arguments: '{"people":2}' });
    expect(second.output[0].content[0].transcript).toBe('Your table for two is booked.');
  });

  it('every error case with the offending event_id', () => {
    const errors = of(scenario('errors'), 'error').map((e) => [e.error.code, e.error.event_id]);
    expect(errors).toEqual([
      ['input_audio_buffer_commit_empty', 'evt_commit'],
      ['response_cancel_not_active', 'evt_cancel'],
      ['item_truncate_invalid_item_id', 'evt_truncate'],
      ['unknown_parameter', 'evt_update'],
      ['conversation_already_has_active_response', 'evt_second'],
    ]);
  });

  it('without the CA the same agent cannot connect: the TLS is real', async () => {
    const { stdout } = await run('node', [agent('openai-node-agent.mjs'), 'manual'], { env: env({ NODE_EXTRA_CA_CERTS: '' }), timeout: 30_000 }).catch((err: { stdout: string }) => err);
    expect(stdout).toBe('');
  });
});

describe('@openai/agents-realtime 0.14.3', () => {
  let result: { events: Event[]; history: Array<{ type: string; role: string | null; name: string | null }>; calls: unknown[]; audioBytes: number; interrupted: number; error?: string };
  beforeAll(async () => {
    const { stdout } = await run('node', [agent('agents-realtime-agent.mjs')], { env: env(), timeout: 60_000 });
    result = JSON.parse(stdout.trim()) as typeof result;
    received.push(...result.events);
  }, 90_000);

  it('runs its default session (semantic_vad, 24 kHz PCM, input transcription), a tool call and an answer', () => {
    expect(result.error).toBeUndefined();
    const updated = result.events.find((e) => e.type === 'session.updated')!;
    expect(updated.session.audio.input).toMatchObject({ format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'semantic_vad' } });
    expect(result.calls).toEqual([{ people: 2 }]);
    expect(result.history.some((h) => h.type === 'function_call' && h.name === 'book_table')).toBe(true);
    expect(result.audioBytes).toBeGreaterThan(0);
    expect(result.events.filter((e) => e.type === 'conversation.item.input_audio_transcription.completed').length).toBeGreaterThanOrEqual(1);
  });

  it('barge-in: its automatic truncate and retrieve succeed, with no error event', () => {
    expect(result.events.some((e) => e.type === 'conversation.item.truncated')).toBe(true);
    expect(result.events.some((e) => e.type === 'conversation.item.retrieved')).toBe(true);
    expect(result.events.filter((e) => e.type === 'error')).toEqual([]);
  });
});

describe('a Python client on python3-websockets, over TLS (SSL_CERT_FILE)', () => {
  it('answers a server-VAD turn', async () => {
    const { stdout } = await run('/usr/bin/python3', [agent('python_ws_agent.py')], { env: env(), timeout: 30_000 });
    const { events } = JSON.parse(stdout.trim()) as { events: Event[] };
    received.push(...events);
    expect(events.map((e) => e.type)).toContain('input_audio_buffer.speech_stopped');
    expect(events.at(-1)!.response.status).toBe('completed');
  });
});

describe('every received event, checked against the openai package types', () => {
  it('conforms to RealtimeServerEvent', () => {
    expect(received.length).toBeGreaterThan(100);
    // A few of each type keep the program small; every type that arrived is in.
    const byType = new Map<string, Event[]>();
    for (const e of received) byType.set(e.type, [...(byType.get(e.type) ?? []), e].slice(0, 4));
    expect(typeCheckServerEvents([...byType.values()].flat())).toEqual([]);
  }, 60_000);

  it('and the check fails on a malformed one (a planted wrong shape)', () => {
    const planted = [
      { type: 'response.done', event_id: 'e1', response: { id: 'r', output: 'not an array' } },
      { type: 'response.output_audio.delta', event_id: 'e2', response_id: 'r', item_id: 'i', output_index: 0, delta: 'AA==' },
      { type: 'response.audio.delta', event_id: 'e3', response_id: 'r', item_id: 'i', output_index: 0, content_index: 0, delta: 'AA==' },
      { type: 'session.created', event_id: 'e4', session: { id: 's', object: 'realtime.session', type: 'realtime', audio: { input: { format: { type: 'audio/wav' } } } } },
    ];
    const diagnostics = typeCheckServerEvents(planted);
    expect(diagnostics).toHaveLength(4);
  }, 60_000);
});

/** The README's server-event table: each row's event names (".x" continues the name before it) and its verdict. */
function readmeServerEvents(): Array<{ names: string[]; verdict: string }> {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const table = readme.slice(readme.indexOf('| server event |'));
  const rows: Array<{ names: string[]; verdict: string }> = [];
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [cell, verdict] = line.split('|').slice(1, 3).map((c) => c.trim());
    let previous = '';
    const names = [...cell!.matchAll(/`([^`]+)`/g)].map(([, name]) => {
      const full = name!.startsWith('.') ? previous.replace(/\.[^.]+$/, name!) : name!;
      previous = full;
      return full;
    });
    rows.push({ names, verdict: verdict! });
  }
  return rows;
}

describe('the README table of server events', () => {
  it('every event marked yes arrived at the SDK clients, and none marked no did', () => {
    const types = new Set(received.map((e) => e.type));
    const rows = readmeServerEvents();
    expect(rows.length).toBeGreaterThan(15);
    const matches = (pattern: string): boolean => (pattern.includes('*') ? [...types].some((t) => t.startsWith(pattern.replace(/\*.*$/, ''))) : types.has(pattern));
    const missing = rows.filter((r) => r.verdict === 'yes').flatMap((r) => r.names).filter((n) => !matches(n));
    const unexpected = rows.filter((r) => r.verdict === 'no').flatMap((r) => r.names).filter(matches);
    expect({ missing, unexpected }).toEqual({ missing: [], unexpected: [] });
    // And nothing arrived that the table does not list.
    const listed = rows.flatMap((r) => r.names);
    expect([...types].filter((t) => !listed.some((n) => (n.includes('*') ? t.startsWith(n.replace(/\*.*$/, '')) : n === t)))).toEqual([]);
  });
});
