// The session record, the model side's witness for the gate: appends checked byte-exactly by a
// running hash, configs with the effective session after each, commits, responses with their
// first-delta times, truncations against what had been sent, errors with the client's event_id,
// who closed and how; read in-process and over GET /v1/callsim/sessions. And transcripts of
// fixture clips recognised by fingerprint.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { startRealtimeSimulator, type RunningSimulator, type SimulatorSessionRecord, UNRECOGNISED_TRANSCRIPT } from '../src/model/simulator/simulator.js';
import { RawRealtime, mulawFrame, sleep } from './agents/raw-realtime.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const sims: RunningSimulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.close();
});
async function simulator(options: Parameters<typeof startRealtimeSimulator>[0] = {}): Promise<RunningSimulator> {
  const sim = await startRealtimeSimulator({ tls: false, answerMs: 300, streamSpeed: 8, ...options });
  sims.push(sim);
  return sim;
}
const pcmuManual = { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcmu' } } } };

describe('the session record', () => {
  it('hashes every appended byte in order: equal for the same frames, different for a dropped, swapped or doubled one', async () => {
    const sim = await simulator();
    const frames = Array.from({ length: 120 }, (_, i) => Buffer.alloc(160, i));
    const expected = createHash('sha256').update(Buffer.concat(frames)).digest('hex');
    const variants: Record<string, Buffer[]> = {
      whole: frames,
      dropped: frames.filter((_, i) => i !== 40),
      swapped: frames.map((f, i) => (i === 10 ? frames[11]! : i === 11 ? frames[10]! : f)),
      doubled: [...frames.slice(0, 60), frames[59]!, ...frames.slice(60)],
    };
    const hashes: Record<string, string> = {};
    for (const [name, sent] of Object.entries(variants)) {
      const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': `CA${name}` } });
      rt.send({ type: 'session.update', session: pcmuManual });
      for (const f of sent) rt.append(f);
      await rt.close();
      const [record] = sim.sessionsFor(`CA${name}`);
      hashes[name] = record!.audioIn.sha256;
      expect(record!.audioIn.bytes).toBe(sent.length * 160);
    }
    expect(hashes.whole).toBe(expected);
    for (const name of ['dropped', 'swapped', 'doubled']) expect(hashes[name]).not.toBe(expected);
    // Checkpoints every 8000 bytes localise where a stream went wrong.
    const [whole] = sim.sessionsFor('CAwhole');
    expect(whole!.audioIn.checkpoints.map((c) => c.offset)).toEqual([8000, 16000]);
    expect(whole!.audioIn.checkpoints[0]!.sha256).toBe(createHash('sha256').update(Buffer.concat(frames).subarray(0, 8000)).digest('hex'));
    expect(Buffer.from(whole!.audioIn.head, 'base64')).toEqual(Buffer.concat(frames).subarray(0, 2048));
    expect(Buffer.from(whole!.audioIn.tail, 'base64')).toEqual(Buffer.concat(frames).subarray(-2048));
    // Short of the ring, and in appends of odd sizes, some larger than it: the last bytes in order.
    const [dropped] = sim.sessionsFor('CAdropped');
    expect(Buffer.from(dropped!.audioIn.tail, 'base64')).toEqual(Buffer.concat(variants.dropped!).subarray(-2048));
    const odd = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAodd' } });
    odd.send({ type: 'session.update', session: pcmuManual });
    const chunks = [700, 3001, 1, 999, 1500].map((n, i) => Buffer.alloc(n, i + 1).map((b, j) => (b * 31 + j) & 0xff));
    for (const chunk of chunks.slice(0, 1)) odd.append(Buffer.from(chunk));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.from(sim.sessionsFor('CAodd')[0]!.audioIn.tail, 'base64')).toEqual(Buffer.from(chunks[0]!));
    for (const chunk of chunks.slice(1)) odd.append(Buffer.from(chunk));
    await odd.close();
    expect(Buffer.from(sim.sessionsFor('CAodd')[0]!.audioIn.tail, 'base64')).toEqual(Buffer.concat(chunks).subarray(-2048));
  });

  it('records audio that came before session.update (negative offset), configs, commits, responses, errors and the close', async () => {
    const sim = await simulator();
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAorder' } });
    await rt.next('session.created');
    for (let i = 0; i < 10; i++) rt.append(mulawFrame(true));
    await sleep(30);
    rt.send({ type: 'session.update', event_id: 'evt_cfg', session: pcmuManual });
    await rt.next('session.updated');
    for (let i = 0; i < 10; i++) rt.append(mulawFrame(true));
    rt.send({ type: 'input_audio_buffer.commit' });
    rt.send({ type: 'response.create' });
    await rt.next('response.done');
    rt.send({ type: 'response.create' });
    await rt.next('response.created', 2);
    rt.send({ type: 'response.create', event_id: 'evt_dup' });
    await rt.next('error');
    await rt.next('response.done', 2);
    rt.ws.close(1000, 'bye');
    await rt.closed;
    const [record] = sim.sessionsFor('CAorder') as [SimulatorSessionRecord];
    expect(record.model).toBe('gpt-realtime');
    expect(record.transport).toBe('ws');
    expect(record.audioIn.format).toBe('audio/pcm');
    // The first ten appends were read as the default 24 kHz PCM, the rest as mu-law: both are on record.
    expect(record.audioIn.formats).toEqual(['audio/pcm', 'audio/pcmu']);
    expect(record.audioIn.firstAppendAfterSessionUpdateMs).toBeLessThan(0);
    expect(record.configs).toHaveLength(1);
    expect(record.configs[0]).toMatchObject({ eventId: 'evt_cfg', accepted: true, session: { audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null } } } });
    expect(record.commits).toHaveLength(1);
    expect(record.commits[0]).toMatchObject({ by: 'client', bytes: 3200 });
    expect(record.responses.map((r) => r.status)).toEqual(['completed', 'completed']);
    expect(record.responses[0]!.audioMs).toBe(300);
    expect(record.responses[0]!.firstDeltaAt).toBeGreaterThanOrEqual(record.responses[0]!.createdAt);
    expect(record.errors).toEqual([expect.objectContaining({ code: 'conversation_already_has_active_response', clientEventType: 'response.create', clientEventId: 'evt_dup' })]);
    expect(record.items.map((i) => [i.role, i.by])).toEqual([['user', 'simulator'], ['assistant', 'simulator'], ['assistant', 'simulator']]);
    expect(record).toMatchObject({ open: false, closedBy: 'client', closeCode: 1000, closeReason: 'bye' });
    expect(record.closedAt).toBeGreaterThan(record.openedAt);
    // On one clock with the rest of the process: epoch milliseconds from performance.timeOrigin.
    expect(Math.abs(record.openedAt - Date.now())).toBeLessThan(60_000);
  });

  it('is served read-only over HTTP, all sessions or one call', async () => {
    const sim = await simulator();
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAhttp' } });
    rt.append(mulawFrame(false));
    await sleep(30);
    const all = (await (await fetch(sim.sessionsURL)).json()) as { sessions: SimulatorSessionRecord[] };
    expect(all.sessions.map((s) => [s.callSid, s.open, s.appendsReceived])).toEqual([['CAhttp', true, 1]]);
    const none = (await (await fetch(`${sim.sessionsURL}?callSid=CAother`)).json()) as { sessions: unknown[] };
    expect(none.sessions).toEqual([]);
    expect((await fetch(sim.sessionsURL, { method: 'POST' })).status).toBe(404);
    await rt.close();
    const after = (await (await fetch(sim.sessionsURL)).json()) as { sessions: SimulatorSessionRecord[] };
    expect(after.sessions[0]!.open).toBe(false);
  });

  it('answers with its clock, and ?since= keeps the sessions open then or opened or closed since', async () => {
    const sim = await simulator();
    const first = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAold' } });
    await first.close();
    await sleep(20);
    const between = performance.timeOrigin + performance.now();
    await sleep(20);
    const second = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAnew' } });
    const before = Date.now();
    const answer = (await (await fetch(`${sim.sessionsURL}?since=${Math.floor(between)}`)).json()) as { now: number; sessions: SimulatorSessionRecord[] };
    expect(answer.sessions.map((s) => s.callSid)).toEqual(['CAnew']);
    expect(Math.abs(answer.now - before)).toBeLessThan(1000);
    const everything = (await (await fetch(`${sim.sessionsURL}?since=not-a-number`)).json()) as { sessions: SimulatorSessionRecord[] };
    expect(everything.sessions.map((s) => s.callSid)).toEqual(['CAold', 'CAnew']);
    await second.close();
  });

  it('a refused handshake is recorded too (a beta client leaves its error behind)', async () => {
    const sim = await simulator();
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'OpenAI-Beta': 'realtime=v1', 'x-callsim-call-sid': 'CAbeta' } });
    await rt.closed;
    const [record] = sim.sessionsFor('CAbeta');
    expect(record).toMatchObject({ open: false, closedBy: 'simulator', closeCode: 4000, errors: [{ code: 'beta_api_shape_disabled' }] });
  });

  it('keeps each list bounded', async () => {
    const sim = await simulator();
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`);
    for (let i = 0; i < 520; i++) rt.send({ type: 'input_audio_buffer.commit' });
    await rt.next('error', 520);
    const [record] = sim.sessions();
    expect(record!.errors).toHaveLength(500);
    expect(record!.dropped.errors).toBe(20);
    expect(record!.clientErrors).toBe(520);
    await rt.close();
  });
});

describe('transcripts without speech recognition', () => {
  async function transcribe(sim: RunningSimulator, frames: Buffer[], lead = 0): Promise<string> {
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`);
    rt.send({ type: 'session.update', session: { ...pcmuManual, audio: { ...pcmuManual.audio, input: { ...pcmuManual.audio.input, transcription: { model: 'gpt-4o-mini-transcribe' } } } } });
    for (let i = 0; i < lead; i++) rt.append(mulawFrame(false));
    if (lead > 0) rt.send({ type: 'input_audio_buffer.commit' });
    for (const f of frames) rt.append(f);
    rt.send({ type: 'input_audio_buffer.commit' });
    const completed = await rt.next('conversation.item.input_audio_transcription.completed', lead > 0 ? 2 : 1);
    expect(completed.usage).toMatchObject({ type: 'tokens' });
    const deltas = rt.of('conversation.item.input_audio_transcription.delta').filter((d) => d.item_id === completed.item_id).map((d) => d.delta).join('');
    expect(deltas).toBe(completed.transcript);
    await rt.close();
    return String(completed.transcript);
  }

  it('recognises a fixture clip by fingerprint, after other audio too; anything else is a neutral placeholder', async () => {
    const sim = await simulator({ transcripts: here('./fixtures/transcripts.yaml') });
    const hello = loadWavAsMulawFrames(here('../fixtures/hello-8k-mulaw.wav')).frames;
    const question = loadWavAsMulawFrames(here('../fixtures/question-16k-pcm16.wav')).frames;
    expect(await transcribe(sim, hello)).toBe('Hello, I would like to book a table.');
    expect(await transcribe(sim, question, 10)).toBe('Do you have anything for two tonight?');
    expect(await transcribe(sim, Array.from({ length: 50 }, () => mulawFrame(true)))).toBe(UNRECOGNISED_TRANSCRIPT);
    // Without a manifest nothing is recognised.
    const bare = await simulator();
    expect(await transcribe(bare, hello)).toBe(UNRECOGNISED_TRANSCRIPT);
  });
});
