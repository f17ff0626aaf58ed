// The simulator's GA protocol, driven by a raw `ws` client on loopback: session defaults and
// merged updates, the item lifecycle, turns (server VAD with its parameters, manual), responses
// with content and usage, text modality, audio formats, and every error the real API returns
// for the cases an agent gets wrong, each carrying the offending event's event_id.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { RawRealtime, mulawFrame, pcm24Frame, sleep, type ServerEvent } from './agents/raw-realtime.js';

let sim: RunningSimulator;
const url = (): string => `${sim.realtimeURL}?model=gpt-realtime`;

beforeAll(async () => {
  sim = await startRealtimeSimulator({ tls: false, answerMs: 400, streamSpeed: 4 });
});
afterAll(async () => {
  await sim.close();
});

async function session(update?: Record<string, unknown>): Promise<RawRealtime> {
  const rt = await RawRealtime.open(url());
  await rt.next('session.created');
  if (update) {
    rt.send({ type: 'session.update', session: { type: 'realtime', ...update } });
    await rt.next('session.updated');
  }
  return rt;
}

const pcmu = { audio: { input: { format: { type: 'audio/pcmu' } }, output: { format: { type: 'audio/pcmu' } } } };
const manual = { audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcmu' } } } };

function sendSpeech(rt: RawRealtime, loudMs: number, quietMs: number, frame = mulawFrame): void {
  for (let t = 0; t < loudMs; t += 20) rt.append(frame(true));
  for (let t = 0; t < quietMs; t += 20) rt.append(frame(false));
}

function lastError(rt: RawRealtime): { type: string; code: string | null; message: string; param: string | null; event_id: string | null } {
  return rt.of('error').at(-1)!.error as never;
}

describe('session config', () => {
  it('starts with the GA defaults: audio/pcm 24 kHz both ways, server_vad 0.5/300/200, voice alloy', async () => {
    const rt = await session();
    const created = rt.of('session.created')[0]!.session as Record<string, any>;
    expect(created).toMatchObject({
      type: 'realtime', object: 'realtime.session', model: 'gpt-realtime', output_modalities: ['audio'], max_output_tokens: 'inf',
      audio: {
        input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200, create_response: true, interrupt_response: true } },
        output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
      },
    });
    expect(created.id).toMatch(/^sess_/);
    expect(typeof created.expires_at).toBe('number');
    await rt.close();
  });

  it('session.updated echoes the merged effective config, not the request', async () => {
    const rt = await session({ instructions: 'Be brief.' });
    const first = rt.of('session.updated')[0]!.session as Record<string, any>;
    expect(first.instructions).toBe('Be brief.');
    expect(first.audio.input.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', silence_duration_ms: 700 } } } } });
    const second = (await rt.next('session.updated', 2)).session as Record<string, any>;
    expect(second.instructions).toBe('Be brief.');
    expect(second.audio.input.format).toEqual({ type: 'audio/pcmu' });
    expect(second.audio.input.turn_detection).toEqual({ type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 700, idle_timeout_ms: null, create_response: true, interrupt_response: true });
    expect(second.audio.output.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    await rt.close();
  });

  it('rejects a bad session.update whole, with the field named and the event_id carried back', async () => {
    const rt = await session();
    rt.send({ type: 'session.update', event_id: 'evt_unknown', session: { type: 'realtime', bogus_field: 1 } });
    await rt.next('error');
    expect(lastError(rt)).toEqual({ type: 'invalid_request_error', code: 'unknown_parameter', message: "Unknown parameter: 'session.bogus_field'.", param: 'session.bogus_field', event_id: 'evt_unknown' });
    rt.send({ type: 'session.update', event_id: 'evt_notype', session: { instructions: 'x' } });
    await rt.next('error', 2);
    expect(lastError(rt)).toMatchObject({ code: 'missing_required_parameter', param: 'session.type', event_id: 'evt_notype' });
    rt.send({ type: 'session.update', event_id: 'evt_rate', session: { type: 'realtime', instructions: 'never applied', audio: { input: { format: { type: 'audio/pcm', rate: 16000 } } } } });
    await rt.next('error', 3);
    expect(lastError(rt)).toMatchObject({ code: 'integer_below_min_value', param: 'session.audio.input.format.rate', event_id: 'evt_rate' });
    // The beta shape on a GA socket is an unknown parameter too.
    rt.send({ type: 'session.update', event_id: 'evt_beta', session: { type: 'realtime', input_audio_format: 'g711_ulaw' } });
    await rt.next('error', 4);
    expect(lastError(rt)).toMatchObject({ code: 'unknown_parameter', param: 'session.input_audio_format' });
    expect(rt.of('session.updated')).toHaveLength(0);
    const record = sim.sessions().find((s) => s.id === (rt.of('session.created')[0]!.session as { id: string }).id)!;
    expect(record.configs.map((c) => c.accepted)).toEqual([false, false, false, false]);
    expect(record.configs[2]!.session.instructions).not.toBe('never applied');
    await rt.close();
  });
});

describe('errors like the real API', () => {
  it('unparsable, binary, typeless and unknown events', async () => {
    const rt = await session();
    rt.sendRaw('not json');
    rt.sendRaw(Buffer.from([1, 2, 3]));
    rt.send({ event_id: 'evt_1' });
    rt.send({ type: 'nope', event_id: 'evt_2' });
    await rt.next('error', 4);
    const [json, binary, typeless, unknown] = rt.of('error').map((e) => e.error as Record<string, unknown>);
    expect(json).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', event_id: null });
    expect(binary).toMatchObject({ code: 'invalid_event', message: 'Expected a text WebSocket message; binary frames are not supported.' });
    expect(typeless).toMatchObject({ code: 'missing_required_parameter', param: 'type', event_id: 'evt_1' });
    expect(unknown).toMatchObject({ code: 'invalid_value', param: 'type', event_id: 'evt_2' });
    expect(String(unknown!.message)).toContain("Invalid value: 'nope'. Supported values are: 'session.update'");
    await rt.close();
  });

  it('an empty commit, a cancel with nothing active, unknown items, and bad audio', async () => {
    const rt = await session(manual);
    rt.send({ type: 'input_audio_buffer.commit', event_id: 'evt_commit' });
    rt.send({ type: 'response.cancel', event_id: 'evt_cancel' });
    rt.send({ type: 'conversation.item.truncate', event_id: 'evt_trunc', item_id: 'item_nope', content_index: 0, audio_end_ms: 10 });
    rt.send({ type: 'conversation.item.delete', event_id: 'evt_del', item_id: 'item_nope' });
    rt.send({ type: 'conversation.item.retrieve', event_id: 'evt_get', item_id: 'item_nope' });
    rt.send({ type: 'input_audio_buffer.append', event_id: 'evt_audio', audio: 'not base64!' });
    rt.send({ type: 'conversation.item.truncate', event_id: 'evt_frac', item_id: 'item_nope', content_index: 0, audio_end_ms: 10.5 });
    await rt.next('error', 7);
    const errors = rt.of('error').map((e) => e.error as Record<string, unknown>);
    expect(errors.map((e) => [e.code, e.event_id])).toEqual([
      ['input_audio_buffer_commit_empty', 'evt_commit'],
      ['response_cancel_not_active', 'evt_cancel'],
      ['item_truncate_invalid_item_id', 'evt_trunc'],
      ['item_delete_invalid_item_id', 'evt_del'],
      ['item_retrieve_invalid_item_id', 'evt_get'],
      ['invalid_value', 'evt_audio'],
      ['invalid_type', 'evt_frac'],
    ]);
    expect(errors[0]!.message).toBe('Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 0.00ms of audio.');
    expect(errors[1]!.message).toBe('Cancellation failed: no active response found');
    // A commit of 60 ms is still too small.
    for (let i = 0; i < 3; i++) rt.append(mulawFrame(true));
    rt.send({ type: 'input_audio_buffer.commit' });
    await rt.next('error', 8);
    expect(lastError(rt).message).toContain('buffer only has 60.00ms of audio');
    await rt.close();
  });

  it('a second response.create while one is active: conversation_already_has_active_response, and the first goes on', async () => {
    const rt = await session({ ...manual, output_modalities: ['audio'] });
    rt.send({ type: 'response.create', event_id: 'evt_first' });
    const created = await rt.next('response.created');
    rt.send({ type: 'response.create', event_id: 'evt_second' });
    await rt.next('error');
    const id = (created.response as { id: string }).id;
    expect(lastError(rt)).toEqual({
      type: 'invalid_request_error', code: 'conversation_already_has_active_response', param: null, event_id: 'evt_second',
      message: `Conversation already has an active response in progress: ${id}. Wait until the response is finished before creating a new one.`,
    });
    const done = await rt.next('response.done');
    expect(done.response).toMatchObject({ id, status: 'completed' });
    expect(rt.of('response.created')).toHaveLength(1);
    await rt.close();
  });

  it('truncating past what the item holds, or a user item', async () => {
    const rt = await session(manual);
    rt.send({ type: 'response.create' });
    const done = await rt.next('response.done');
    const item = (done.response as { output: Array<{ id: string }> }).output[0]!;
    rt.send({ type: 'conversation.item.truncate', event_id: 'evt_long', item_id: item.id, content_index: 0, audio_end_ms: 5000 });
    await rt.next('error');
    expect(lastError(rt)).toEqual({ type: 'invalid_request_error', code: 'invalid_value', message: 'Audio content of 400ms is already shorter than 5000ms', param: 'audio_end_ms', event_id: 'evt_long' });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
    const added = await rt.next('conversation.item.added', 2);
    rt.send({ type: 'conversation.item.truncate', item_id: (added.item as { id: string }).id, content_index: 0, audio_end_ms: 0 });
    await rt.next('error', 2);
    expect(lastError(rt)).toMatchObject({ code: null, message: 'Only model output audio messages can be truncated' });
    await rt.close();
  });
});

describe('turns', () => {
  it('server VAD: one item id from speech_started through committed and the item, then an answer with content and usage', async () => {
    const rt = await session(pcmu);
    sendSpeech(rt, 300, 400);
    const done = await rt.next('response.done');
    const started = rt.of('input_audio_buffer.speech_started')[0]!;
    const stopped = rt.of('input_audio_buffer.speech_stopped')[0]!;
    const committed = rt.of('input_audio_buffer.committed')[0]!;
    expect(stopped.item_id).toBe(started.item_id);
    expect(committed.item_id).toBe(started.item_id);
    expect(committed.previous_item_id).toBeNull();
    const userAdded = rt.of('conversation.item.added')[0]!;
    expect(userAdded.item).toEqual({ id: started.item_id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] });
    expect(started.audio_start_ms).toBe(0);
    expect(stopped.audio_end_ms).toBeGreaterThanOrEqual(300 + 200);
    const response = done.response as Record<string, any>;
    expect(response.status).toBe('completed');
    expect(response.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_audio', transcript: 'This is a simulated answer from callsim.' }] });
    expect(response.usage.total_tokens).toBe(response.usage.input_tokens + response.usage.output_tokens);
    expect(response.usage.output_token_details.audio_tokens).toBeGreaterThan(0);
    // Event order of a response, as the live API sends it.
    const order = rt.types().slice(rt.types().indexOf('response.created'));
    expect(order.filter((t) => !t.endsWith('.delta'))).toEqual([
      'response.created', 'response.output_item.added', 'conversation.item.added', 'response.content_part.added',
      'response.output_audio.done', 'response.output_audio_transcript.done', 'response.content_part.done',
      'conversation.item.done', 'response.output_item.done', 'response.done', 'rate_limits.updated',
    ]);
    const audio = rt.of('response.output_audio.delta').map((e) => Buffer.from(String(e.delta), 'base64').length).reduce((a, b) => a + b, 0);
    expect(audio).toBe(400 * 8);
    expect(rt.of('response.output_audio_transcript.delta').map((e) => e.delta).join('')).toBe('This is a simulated answer from callsim.');
    // The record has what the gate times a turn by: speech start and stop, and the first delta.
    const record = sim.sessions().find((s) => s.commits.some((c) => c.itemId === started.item_id))!;
    const commit = record.commits[0]!;
    expect(commit).toMatchObject({ by: 'vad', audioStartMs: 0 });
    expect(commit.speechStoppedAt! - commit.speechStartedAt!).toBeGreaterThanOrEqual(0);
    expect(record.responses[0]!.firstDeltaAt!).toBeGreaterThanOrEqual(commit.speechStoppedAt!);
    expect(record.responses[0]!.audioSha256).toMatch(/^[0-9a-f]{64}$/);
    await rt.close();
  });

  it('a socket closed mid-answer leaves the record the digest of the audio sent so far (no response.done came)', async () => {
    const whole = await session(manual);
    whole.send({ type: 'response.create' });
    await whole.next('response.done');
    const full = Buffer.concat(whole.of('response.output_audio.delta').map((e) => Buffer.from(String(e.delta), 'base64')));
    await whole.close();
    const cut = await session(manual);
    const sessionId = String((cut.of('session.created')[0]!.session as Record<string, unknown>).id);
    cut.send({ type: 'response.create' });
    await cut.next('response.output_audio.delta');
    await cut.close();
    let record = sim.sessions().find((s) => s.id === sessionId);
    for (let i = 0; i < 100 && record?.closedAt == null; i++) {
      await sleep(10);
      record = sim.sessions().find((s) => s.id === sessionId);
    }
    const response = record!.responses[0]!;
    expect(response).toMatchObject({ status: 'in_progress', doneAt: null });
    expect(response.audioBytes).toBeGreaterThan(0);
    expect(response.audioBytes).toBeLessThan(full.length);
    expect(response.audioSha256).toBe(createHash('sha256').update(full.subarray(0, response.audioBytes)).digest('hex'));
  });

  it('honours silence_duration_ms and threshold; create_response false commits without answering', async () => {
    const rt = await session({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', silence_duration_ms: 800, create_response: false } } } });
    sendSpeech(rt, 200, 600);
    await sleep(300);
    expect(rt.of('input_audio_buffer.speech_stopped')).toHaveLength(0);
    sendSpeech(rt, 0, 300);
    await rt.next('input_audio_buffer.committed');
    await sleep(200);
    expect(rt.of('response.created')).toHaveLength(0);
    // A threshold of 1.0 needs far louder audio than this: no speech at all.
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad', threshold: 1 } } } } });
    await rt.next('session.updated', 2);
    sendSpeech(rt, 300, 400);
    await sleep(300);
    expect(rt.of('input_audio_buffer.speech_started')).toHaveLength(1);
    await rt.close();
  });

  it('manual turns: no VAD events; commit, then response.create', async () => {
    const rt = await session(manual);
    sendSpeech(rt, 300, 400);
    await sleep(200);
    expect(rt.of('input_audio_buffer.speech_started')).toHaveLength(0);
    rt.send({ type: 'input_audio_buffer.commit' });
    const committed = await rt.next('input_audio_buffer.committed');
    rt.send({ type: 'response.create' });
    const done = await rt.next('response.done');
    expect((done.response as { status: string }).status).toBe('completed');
    rt.send({ type: 'conversation.item.retrieve', item_id: committed.item_id });
    const retrieved = await rt.next('conversation.item.retrieved');
    const content = (retrieved.item as { content: Array<{ audio: string }> }).content[0]!;
    expect(Buffer.from(content.audio, 'base64').length).toBe(700 * 8);
    await rt.close();
  });

  it('barge-in: speech cancels the answer (turn_detected); truncate cuts the item and its transcript', async () => {
    const slow = await startRealtimeSimulator({ tls: false, answerMs: 3000, streamSpeed: 1 });
    const rt = await RawRealtime.open(`${slow.realtimeURL}?model=gpt-realtime`);
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', silence_duration_ms: 300 } }, output: { format: { type: 'audio/pcmu' } } } } });
    rt.send({ type: 'response.create' });
    await rt.next('response.output_audio.delta');
    sendSpeech(rt, 100, 0);
    const done = await rt.next('response.done');
    const response = done.response as Record<string, any>;
    expect(response.status).toBe('cancelled');
    expect(response.status_details).toEqual({ type: 'cancelled', reason: 'turn_detected' });
    expect(response.output[0].status).toBe('incomplete');
    const itemId = response.output[0].id as string;
    rt.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 40 });
    const truncated = await rt.next('conversation.item.truncated');
    expect(truncated).toMatchObject({ item_id: itemId, content_index: 0, audio_end_ms: 40 });
    rt.send({ type: 'conversation.item.retrieve', item_id: itemId });
    const item = (await rt.next('conversation.item.retrieved')).item as { content: Array<{ transcript: string; audio: string }> };
    expect(item.content[0]!.transcript).toBe('');
    expect(Buffer.from(item.content[0]!.audio, 'base64').length).toBe(40 * 8);
    const record = slow.sessions()[0]!;
    expect(record.truncations.at(-1)).toMatchObject({ itemId, audioEndMs: 40, accepted: true });
    // What had been sent of the answer when the truncate came: at least the first delta, less than all 3 s.
    expect(record.truncations.at(-1)!.audioSentMs).toBeGreaterThanOrEqual(100);
    expect(record.truncations.at(-1)!.audioSentMs).toBeLessThan(3000);
    expect(record.responses[0]).toMatchObject({ status: 'cancelled', reason: 'turn_detected' });
    await rt.close();
    await slow.close();
  });

  it('interrupt_response false: speech does not cancel the answer', async () => {
    const rt = await session({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', interrupt_response: false, create_response: false } }, output: { format: { type: 'audio/pcmu' } } } });
    rt.send({ type: 'response.create' });
    await rt.next('response.output_audio.delta');
    sendSpeech(rt, 100, 0);
    await rt.next('input_audio_buffer.speech_started');
    const done = await rt.next('response.done');
    expect((done.response as { status: string }).status).toBe('completed');
    await rt.close();
  });

  it('idle_timeout_ms: after the answer has played out and the caller stays silent, timeout_triggered, a commit and an answer', async () => {
    const rt = await session({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', idle_timeout_ms: 300 } }, output: { format: { type: 'audio/pcmu' } } } });
    rt.send({ type: 'response.create' });
    const first = await rt.next('response.done');
    const doneAt = Date.now();
    const triggered = await rt.next('input_audio_buffer.timeout_triggered');
    // The 400 ms answer plays out at real time from its first delta, then 300 ms of silence.
    expect(Date.now() - doneAt).toBeGreaterThanOrEqual(300);
    const committed = await rt.next('input_audio_buffer.committed');
    expect(committed.item_id).toBe(triggered.item_id);
    const second = await rt.next('response.done', 2);
    expect((second.response as { id: string }).id).not.toBe((first.response as { id: string }).id);
    const record = sim.sessions().find((s) => s.responses.some((r) => r.id === (second.response as { id: string }).id))!;
    expect(record.commits.at(-1)!.by).toBe('idle');
    expect(record.responses.at(-1)!.trigger).toBe('idle');
    await rt.close();
  });

  it('response.cancel: client_cancelled', async () => {
    const sim2 = await startRealtimeSimulator({ tls: false, answerMs: 3000, streamSpeed: 1 });
    const rt = await RawRealtime.open(`${sim2.realtimeURL}?model=gpt-realtime`);
    rt.send({ type: 'session.update', session: { type: 'realtime', ...manual } });
    rt.send({ type: 'response.create' });
    await rt.next('response.output_audio.delta');
    rt.send({ type: 'response.cancel' });
    const done = await rt.next('response.done');
    expect(done.response).toMatchObject({ status: 'cancelled', status_details: { type: 'cancelled', reason: 'client_cancelled' } });
    expect(rt.of('response.output_audio.done')).toHaveLength(1);
    await rt.close();
    await sim2.close();
  });
});

describe('more of the session', () => {
  it('semantic_vad: eagerness sets how long a pause ends the turn (high: short, low: long)', async () => {
    const eager = await session({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'semantic_vad', eagerness: 'high', create_response: false } } } });
    sendSpeech(eager, 200, 500);
    await eager.next('input_audio_buffer.speech_stopped');
    const patient = await session({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'semantic_vad', eagerness: 'low', create_response: false } } } });
    sendSpeech(patient, 200, 1000);
    await sleep(300);
    expect(patient.of('input_audio_buffer.speech_stopped')).toHaveLength(0);
    sendSpeech(patient, 0, 600);
    await patient.next('input_audio_buffer.speech_stopped');
    // server_vad's tuning fields are not semantic_vad's: the API refuses them there.
    patient.send({ type: 'session.update', event_id: 'evt_sem', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'semantic_vad', silence_duration_ms: 100 } } } } });
    await patient.next('error');
    expect(lastError(patient)).toMatchObject({ code: 'unknown_parameter', param: 'session.audio.input.turn_detection.silence_duration_ms', event_id: 'evt_sem' });
    await eager.close();
    await patient.close();
  });

  it('an out-of-band response (conversation none) runs beside the default one and adds no items', async () => {
    const rt = await session(manual);
    rt.send({ type: 'response.create' });
    await rt.next('response.created');
    rt.send({ type: 'response.create', response: { conversation: 'none', output_modalities: ['text'], metadata: { purpose: 'classify' } } });
    await rt.next('response.done', 2);
    const done = rt.of('response.done').map((e) => e.response as Record<string, any>);
    const oob = done.find((r) => r.metadata?.purpose === 'classify')!;
    expect(oob.status).toBe('completed');
    expect(oob.conversation_id).toBeUndefined();
    const itemIds = rt.of('conversation.item.added').map((e) => (e.item as { id: string }).id);
    expect(itemIds).not.toContain(oob.output[0].id);
    expect(rt.of('error')).toEqual([]);
    await rt.close();
  });

  it('the voice is locked once the model has spoken; a transcription session update is refused', async () => {
    const rt = await session(manual);
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { output: { voice: 'marin' } } } });
    await rt.next('session.updated', 2);
    rt.send({ type: 'response.create' });
    await rt.next('response.done');
    rt.send({ type: 'session.update', event_id: 'evt_voice', session: { type: 'realtime', audio: { output: { voice: 'cedar' } } } });
    rt.send({ type: 'session.update', event_id: 'evt_same', session: { type: 'realtime', audio: { output: { voice: 'marin' } } } });
    rt.send({ type: 'session.update', event_id: 'evt_tx', session: { type: 'transcription' } });
    await rt.next('error', 2);
    expect(rt.of('error').map((e) => [(e.error as { code: string }).code, (e.error as { event_id: string }).event_id])).toEqual([['cannot_update_voice', 'evt_voice'], ['invalid_value', 'evt_tx']]);
    expect(rt.of('session.updated')).toHaveLength(3);
    await rt.close();
  });
});

describe('formats and modalities', () => {
  it('audio/pcm 24 kHz both ways (the default): VAD on 24 kHz PCM, 24 kHz PCM answers', async () => {
    const rt = await session();
    sendSpeech(rt, 300, 400, pcm24Frame);
    await rt.next('response.done');
    const bytes = rt.of('response.output_audio.delta').map((e) => Buffer.from(String(e.delta), 'base64').length);
    expect(bytes.reduce((a, b) => a + b, 0)).toBe(400 * 48);
    expect(bytes[0]).toBe(100 * 48);
    await rt.close();
  });

  it('audio/pcma answers in A-law (8 kHz)', async () => {
    const rt = await session({ audio: { input: { format: { type: 'audio/pcma' }, turn_detection: null }, output: { format: { type: 'audio/pcma' } } } });
    rt.send({ type: 'response.create' });
    await rt.next('response.done');
    const audio = Buffer.concat(rt.of('response.output_audio.delta').map((e) => Buffer.from(String(e.delta), 'base64')));
    expect(audio.length).toBe(400 * 8);
    // A-law silence is 0xd5/0x55 territory, mu-law's is 0xff: the bytes are A-law's.
    const { alawRms } = await import('../src/audio/g711.js');
    expect(alawRms(audio)).toBeGreaterThan(0.05);
    await rt.close();
  });

  it('text modality: response.output_text.*, no audio, output_text content', async () => {
    const rt = await session({ ...manual, output_modalities: ['text'] });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hi' }] } });
    rt.send({ type: 'response.create' });
    const done = await rt.next('response.done');
    expect(rt.of('response.output_audio.delta')).toHaveLength(0);
    const text = rt.of('response.output_text.delta').map((e) => e.delta).join('');
    expect(text).toBe('This is a simulated answer from callsim.');
    expect((await rt.next('response.output_text.done')).text).toBe(text);
    expect((rt.of('response.content_part.added')[0]!.part as { type: string }).type).toBe('text');
    expect(done.response).toMatchObject({ output_modalities: ['text'], output: [{ content: [{ type: 'output_text', text }] }] });
    await rt.close();
  });
});

describe('conversation items', () => {
  it('create (with previous_item_id), retrieve, delete; added/done carry previous_item_id', async () => {
    const rt = await session(manual);
    rt.send({ type: 'conversation.item.create', item: { id: 'item_a', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'first' }] } });
    rt.send({ type: 'conversation.item.create', item: { id: 'item_b', type: 'message', role: 'system', content: [{ type: 'input_text', text: 'rules' }] }, previous_item_id: 'root' });
    rt.send({ type: 'conversation.item.create', item: { id: 'item_c', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'after a' }] }, previous_item_id: 'item_a' });
    rt.send({ type: 'conversation.item.create', event_id: 'evt_bad_prev', item: { type: 'message', role: 'user', content: [] }, previous_item_id: 'item_zzz' });
    rt.send({ type: 'conversation.item.create', event_id: 'evt_dup', item: { id: 'item_a', type: 'message', role: 'user', content: [] } });
    await rt.next('conversation.item.done', 3);
    await rt.next('error', 2);
    const added = rt.of('conversation.item.added');
    expect(added.map((e) => [(e.item as { id: string }).id, e.previous_item_id])).toEqual([['item_a', null], ['item_b', null], ['item_c', 'item_a']]);
    expect(rt.of('error').map((e) => (e.error as { event_id: string }).event_id)).toEqual(['evt_bad_prev', 'evt_dup']);
    rt.send({ type: 'conversation.item.retrieve', item_id: 'item_c' });
    expect((await rt.next('conversation.item.retrieved')).item).toMatchObject({ id: 'item_c', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'after a' }] });
    rt.send({ type: 'conversation.item.delete', item_id: 'item_c' });
    expect((await rt.next('conversation.item.deleted')).item_id).toBe('item_c');
    rt.send({ type: 'conversation.item.retrieve', item_id: 'item_c', event_id: 'evt_gone' });
    await rt.next('error', 3);
    expect(lastError(rt)).toMatchObject({ code: 'item_retrieve_invalid_item_id', event_id: 'evt_gone' });
    await rt.close();
  });

  it('each role carries only its own content types (an assistant audio message cannot be created)', async () => {
    const rt = await session(manual);
    rt.send({ type: 'conversation.item.create', event_id: 'evt_sys', item: { type: 'message', role: 'system', content: [{ type: 'input_audio', audio: 'AAAA' }] } });
    rt.send({ type: 'conversation.item.create', event_id: 'evt_asst', item: { type: 'message', role: 'assistant', content: [{ type: 'output_audio', audio: 'AAAA' }] } });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Earlier I said hi.' }] } });
    await rt.next('error', 2);
    await rt.next('conversation.item.done');
    expect(rt.of('error').map((e) => [(e.error as { param: string }).param, (e.error as { event_id: string }).event_id])).toEqual([['item.content[0].type', 'evt_sys'], ['item.content[0].type', 'evt_asst']]);
    await rt.close();
  });

  it('a function_call_output must name a call in the conversation', async () => {
    const rt = await session(manual);
    rt.send({ type: 'conversation.item.create', event_id: 'evt_out', item: { type: 'function_call_output', call_id: 'call_nope', output: '{}' } });
    await rt.next('error');
    expect(lastError(rt)).toMatchObject({ code: 'invalid_value', param: 'item.call_id', event_id: 'evt_out' });
    await rt.close();
  });
});

describe('handshake', () => {
  async function refused(target: string, headers: Record<string, string>): Promise<{ error: Record<string, unknown>; code: number; reason: string }> {
    const rt = await RawRealtime.open(target, { headers });
    await rt.closed;
    const [first] = rt.events as ServerEvent[];
    expect(rt.events).toHaveLength(1);
    return { error: first!.error as Record<string, unknown>, code: rt.closeCode!, reason: rt.closeReason };
  }

  it('a beta client gets beta_api_shape_disabled and close 4000', async () => {
    const beta = await refused(url(), { 'OpenAI-Beta': 'realtime=v1' });
    expect(beta).toEqual({ error: { type: 'invalid_request_error', code: 'beta_api_shape_disabled', message: 'The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.', param: null, event_id: null }, code: 4000, reason: 'invalid_request_error.beta_api_shape_disabled' });
    const viaProtocol = await RawRealtime.open(url(), { protocols: ['realtime', 'openai-beta.realtime-v1'] });
    expect(await viaProtocol.closed).toBe(4000);
  });

  it('no key: close 3000; no model, or not a realtime model: close 4000', async () => {
    expect(await refused(url(), { Authorization: '' })).toMatchObject({ error: { code: null, message: 'Missing bearer or basic authentication in header' }, code: 3000, reason: 'invalid_request_error' });
    expect(await refused(sim.realtimeURL, {})).toMatchObject({ error: { code: 'missing_model' }, code: 4000, reason: 'invalid_request_error.missing_model' });
    expect(await refused(`${sim.realtimeURL}?model=gpt-4o`, {})).toMatchObject({ error: { code: 'invalid_model', message: 'Model "gpt-4o" is not supported in realtime mode.' }, code: 4000 });
    const ok = await RawRealtime.open(url(), { protocols: ['realtime', 'openai-insecure-api-key.sk-browser'], headers: { Authorization: '' } });
    expect((await ok.next('session.created')).type).toBe('session.created');
    expect(ok.ws.protocol).toBe('realtime');
    await ok.close();
  });

  it('a required key: a wrong one gets invalid_api_key, masked', async () => {
    const keyed = await startRealtimeSimulator({ tls: false, apiKey: 'sk-right-key-0123456789' });
    const wrong = await RawRealtime.open(`${keyed.realtimeURL}?model=gpt-realtime`, { headers: { Authorization: 'Bearer sk-wrong-key-9876543210' } });
    await wrong.closed;
    expect(wrong.closeCode).toBe(3000);
    const message = String((wrong.events[0]!.error as { message: string }).message);
    expect(message).toContain('Incorrect API key provided: sk-wrong***3210');
    expect(message).not.toContain('sk-wrong-key-9876543210');
    const right = await RawRealtime.open(`${keyed.realtimeURL}?model=gpt-realtime`, { headers: { Authorization: 'Bearer sk-right-key-0123456789' } });
    await right.next('session.created');
    await right.close();
    await keyed.close();
  });
});
