// The model script: validated with line-numbered errors, published as a JSON Schema generated
// from the same zod schema, and driving the simulator turn by turn: a function call round trip,
// a WAV it speaks, its latency to first audio, and faults (an error, a hang, a dropped socket).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadedModelScript, ModelScriptError, loadModelScript, modelScriptJsonSchema, parseModelScript, startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { RawRealtime, sleep } from './agents/raw-realtime.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const sims: RunningSimulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.close();
});

async function scripted(script: LoadedModelScript, session: Record<string, unknown> = {}): Promise<{ sim: RunningSimulator; rt: RawRealtime }> {
  const sim = await startRealtimeSimulator({ tls: false, script, answerMs: 300, streamSpeed: 8 });
  sims.push(sim);
  const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`);
  rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcmu' } } }, ...session } });
  await rt.next('session.updated');
  return { sim, rt };
}

const weatherTool = { type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

describe('loading a script', () => {
  it('names the file, line and column of every problem', () => {
    let error: unknown;
    try {
      loadModelScript(here('./fixtures/scripts/bad.yaml'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ModelScriptError);
    const problems = (error as ModelScriptError).problems.join('\n');
    expect(problems).toMatch(/bad\.yaml:2:\d+: turns\.0\.latencyMs: /);
    expect(problems).toMatch(/bad\.yaml:3:\d+: turns\.1\.speech/);
    expect(problems).toMatch(/bad\.yaml:5:\d+: turns\.2\.fault\.type/);
    expect(problems).toMatch(/bad\.yaml:6:\d+: afterTurns/);
  });

  it('reports YAML syntax errors with their line, and a missing WAV before any socket opens', () => {
    expect(() => parseModelScript('turns:\n  - latencyMs: [1,\n', 'broken.yaml')).toThrow(/broken\.yaml:\d+:\d+: /);
    expect(() => parseModelScript('{"turns": [{"speech": {"wav": "no-such.wav"}}]}', here('./fixtures/scripts/x.json'))).toThrow(/file not found/);
  });

  it('the published JSON Schema is the one generated from the zod schema', () => {
    const published = JSON.parse(readFileSync(here('../schemas/model-script.schema.json'), 'utf8')) as unknown;
    expect(published).toEqual(modelScriptJsonSchema());
    expect(JSON.stringify(published)).toContain('"toolCall"');
  });
});

describe('a scripted session', () => {
  it('function call round trip: the call, then (after function_call_output and response.create) speech from a WAV', async () => {
    const { sim, rt } = await scripted(loadModelScript(here('./fixtures/scripts/tool-then-answer.yaml')), { tools: [weatherTool] });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] } });
    rt.send({ type: 'response.create' });
    const first = (await rt.next('response.done')).response as Record<string, any>;
    const call = first.output[0];
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' });
    expect(rt.of('response.function_call_arguments.delta').map((e) => e.delta).join('')).toBe('{"city":"Paris"}');
    expect(await rt.next('response.function_call_arguments.done')).toMatchObject({ call_id: call.call_id, name: 'get_weather', arguments: '{"city":"Paris"}', item_id: call.id });
    expect(rt.of('response.output_audio.delta')).toHaveLength(0);
    rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: '{"sky":"clear"}' } });
    rt.send({ type: 'response.create' });
    const second = (await rt.next('response.done', 2)).response as Record<string, any>;
    expect(second.output[0].content).toEqual([{ type: 'output_audio', transcript: 'It is sunny in Paris.' }]);
    const audio = rt.of('response.output_audio.delta').reduce((n, e) => n + Buffer.from(String(e.delta), 'base64').length, 0);
    expect(audio).toBe(2000 * 8); // hello-8k-mulaw.wav is 2.0 s
    const record = sim.sessions()[0]!;
    expect(record.responses.map((r) => [r.scriptTurn, r.functionCall?.name ?? null, r.transcript])).toEqual([[0, 'get_weather', ''], [1, null, 'It is sunny in Paris.']]);
    await rt.close();
  });

  it('a tool call the session never declared is not made: the model speaks instead', async () => {
    const { rt } = await scripted(loadModelScript(here('./fixtures/scripts/tool-then-answer.yaml')));
    rt.send({ type: 'response.create' });
    const done = (await rt.next('response.done')).response as Record<string, any>;
    expect(done.output[0].type).toBe('message');
    await rt.close();
  });

  it('latency to first audio, per turn', async () => {
    const { sim, rt } = await scripted(LoadedModelScript.fromObject({ turns: [{ latencyMs: 400 }, { latencyMs: 0 }] }));
    for (let turn = 1; turn <= 2; turn++) {
      rt.send({ type: 'response.create' });
      await rt.next('response.done', turn);
    }
    const [slow, fast] = sim.sessions()[0]!.responses;
    expect(slow!.firstDeltaAt! - slow!.createdAt).toBeGreaterThanOrEqual(390);
    expect(fast!.firstDeltaAt! - fast!.createdAt).toBeLessThan(200);
    await rt.close();
  });

  it('faults: an error fails the response; a hang never finishes (until cancelled); a drop closes without a close frame', async () => {
    const { rt } = await scripted(LoadedModelScript.fromObject({ turns: [{ fault: { type: 'error', code: 'overloaded', message: 'busy' } }, { fault: { type: 'hang' } }, { fault: { type: 'drop', afterMs: 100 } }] }));
    rt.send({ type: 'response.create' });
    const failed = (await rt.next('response.done')).response as Record<string, any>;
    expect(rt.of('error')[0]!.error).toMatchObject({ type: 'server_error', code: 'overloaded', message: 'busy' });
    expect(failed).toMatchObject({ status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code: 'overloaded' } } });
    rt.send({ type: 'response.create' });
    await rt.next('response.created', 2);
    await sleep(300);
    expect(rt.of('response.done')).toHaveLength(1);
    rt.send({ type: 'response.cancel' });
    expect(((await rt.next('response.done', 2)).response as { status: string }).status).toBe('cancelled');
    rt.send({ type: 'response.create' });
    expect(await rt.closed).toBe(1006);
    expect(rt.of('response.output_audio.delta').length).toBeGreaterThanOrEqual(1);
  });

  it('afterTurns repeat-last keeps the last turn; defaults apply otherwise', () => {
    const repeat = LoadedModelScript.fromObject({ defaults: { transcript: 'default' }, turns: [{ transcript: 'one' }, { transcript: 'two' }], afterTurns: 'repeat-last' });
    expect([0, 1, 2, 5].map((i) => repeat.turn(i).transcript)).toEqual(['one', 'two', 'two', 'two']);
    const plain = LoadedModelScript.fromObject({ defaults: { transcript: 'default', latencyMs: 50 }, turns: [{ transcript: 'one' }] });
    expect([0, 1].map((i) => [plain.turn(i).transcript, plain.turn(i).latencyMs])).toEqual([['one', 50], ['default', 50]]);
  });
});
