// The witness's checks on records made the way the simulator makes them (its own SessionRecorder
// hashes every append) and calls shaped as the fake Twilio records them: each check fails the
// faulty leg and passes its healthy twin, and says what it saw.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import { watermarkFrame } from '../src/audio/watermark.js';
import { SessionRecorder } from '../src/model/simulator/record.js';
import { defaultSession } from '../src/model/simulator/config.js';
import type { PlaybackLog } from '../src/caller/playback.js';
import type { CallClock } from '../src/gate/witness/call-clock.js';
import { CallRegistry, type CallWindow } from '../src/gate/witness/correlate.js';
import { HeardAnswers } from '../src/gate/witness/heard.js';
import { analyseInput, audioInCheck, configuredFirstCheck } from '../src/gate/witness/input-checks.js';
import { audioOutCheck, truncationCheck } from '../src/gate/witness/output-checks.js';
import { modelAnswers } from '../src/gate/witness/answers.js';
import { closedCheck, errorsCheck, firstSpeakerCheck } from '../src/gate/witness/session-checks.js';
import { viewOf, type SessionView } from '../src/gate/witness/session-view.js';

const T0 = 1_000_000;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A call's caller audio: 150 frames of a tone and silence, watermarked as the fake Twilio does. */
function callerAudio(tag: number, frames = 150): Buffer[] {
  return Array.from({ length: frames }, (_, i) => {
    const frame = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
    if (i % 10 < 4) for (let s = 0; s < FRAME_BYTES; s++) frame[s] = (s * 37 + i) & 0x6f;
    return watermarkFrame(frame, tag, i);
  });
}

/** A session record from the simulator's own recorder, configured for mu-law at `configAt` (null: never). */
function session(appended: readonly Buffer[], options: { id?: string; callSid?: string | null; configAt?: number | null; firstAppendAt?: number; format?: 'audio/pcmu' | 'audio/pcm' } = {}): SessionView {
  const recorder = new SessionRecorder(options.id ?? 'sess_a', options.callSid ?? null, 'gpt-realtime', 'wss');
  const record = recorder.record;
  record.openedAt = T0;
  const configAt = options.configAt === undefined ? T0 + 5 : options.configAt;
  const format = options.format ?? 'audio/pcmu';
  const config = defaultSession(record.id, 'gpt-realtime');
  config.audio!.input!.format = { type: format } as never;
  if (configAt !== null && configAt <= (options.firstAppendAt ?? T0 + 10)) recorder.sessionUpdated({ at: configAt, eventId: null, session: config, accepted: true });
  for (const bytes of appended) recorder.append(bytes, configAt === null || configAt > (options.firstAppendAt ?? T0 + 10) ? 'audio/pcm' : format, bytes.length / (format === 'audio/pcm' ? 48 : 8));
  record.audioIn.firstAppendAt = options.firstAppendAt ?? T0 + 10;
  if (configAt !== null && configAt > (options.firstAppendAt ?? T0 + 10)) {
    recorder.sessionUpdated({ at: configAt, eventId: null, session: config, accepted: true });
    record.audioIn.formats.push(format);
  }
  return viewOf(recorder.snapshot());
}

describe('model-audio-in: every caller frame reached the model, in order, once', () => {
  const sent = callerAudio(0x123456);
  const S = Buffer.concat(sent);

  it('passes the frames byte for byte, and fails a model that never heard the first five, naming them', () => {
    expect(audioInCheck(analyseInput(S, [session(sent)]), 1)).toMatchObject({ status: 'pass', reason: expect.stringMatching(/all 150 caller frames \(3\.0 s\) reached session sess_a in order, byte for byte/) });
    const late = audioInCheck(analyseInput(S, [session(sent.slice(5))]), 1);
    expect(late.status).toBe('fail');
    expect(late.reason).toMatch(/the first 5 caller frames \(100 ms\) never reached the model: its audio starts at caller frame 5/);
    expect(late.failure).toMatch(/^model-audio-in: /);
  });

  it('fails a doubled frame, a swapped pair and a lost tail, each with where it went wrong', () => {
    const doubled = [...sent.slice(0, 80), sent[79]!, ...sent.slice(80)];
    expect(audioInCheck(analyseInput(S, [session(doubled)]), 1).reason).toMatch(/from about 1\.0 s–2\.0 s into the call the audio appended is not the caller's/);
    const swapped = sent.map((f, i) => (i === 100 ? sent[101]! : i === 101 ? sent[100]! : f));
    expect(audioInCheck(analyseInput(S, [session(swapped)]), 1).reason).toMatch(/from about 2\.0 s–3\.0 s/);
    expect(audioInCheck(analyseInput(S, [session(sent.slice(0, 140))]), 1).reason).toMatch(/the last 10 caller frames \(200 ms\) never reached the model/);
  });

  it('follows the audio across a reconnect: two sessions that cover it pass, an overlap is audio heard twice', () => {
    const two = [session(sent.slice(0, 70), { id: 'sess_1' }), session(sent.slice(70), { id: 'sess_2' })];
    expect(audioInCheck(analyseInput(S, two), 2)).toMatchObject({ status: 'pass', reason: expect.stringMatching(/reached 2 sessions \(sess_1, sess_2\)/) });
    const overlap = [session(sent.slice(0, 70), { id: 'sess_1' }), session(sent.slice(60), { id: 'sess_2' })];
    expect(audioInCheck(analyseInput(S, overlap), 2).reason).toMatch(/10 caller frames from 1\.2 s on reached the model twice/);
  });

  it('judges audio the agent transcodes by duration, within one frame', () => {
    const pcm = (ms: number): Buffer[] => [Buffer.alloc(ms * 48, 1)];
    expect(audioInCheck(analyseInput(S, [session(pcm(3000), { format: 'audio/pcm' })]), 1)).toMatchObject({ status: 'pass', reason: expect.stringMatching(/by duration .*transcoded, as audio\/pcm.*3\.0 s sent, 3\.0 s appended, within one frame/) });
    expect(audioInCheck(analyseInput(S, [session(pcm(2800), { format: 'audio/pcm' })]), 1)).toMatchObject({ status: 'fail', reason: expect.stringMatching(/200 ms missing/) });
  });

  it('fails a session that got no audio at all', () => {
    expect(audioInCheck(analyseInput(S, [session([])]), 1)).toMatchObject({ status: 'fail', reason: expect.stringMatching(/none of the 150 caller frames/) });
  });
});

describe('model-configured-first: session.update with the format it then appends, before the first append', () => {
  const sent = callerAudio(0x654321);
  const S = Buffer.concat(sent);

  it('passes an update before the audio, fails one after it and says how the audio was read', () => {
    expect(configuredFirstCheck(analyseInput(S, [session(sent, { configAt: T0 + 5 })]))).toMatchObject({ status: 'pass', reason: expect.stringMatching(/got session\.update \(audio\/pcmu\) 5 ms before its first append/) });
    const late = configuredFirstCheck(analyseInput(S, [session(sent, { configAt: T0 + 310 })]));
    expect(late.status).toBe('fail');
    expect(late.reason).toMatch(/first session\.update came 300 ms after its first audio append: that audio was read as audio\/pcm, not the audio\/pcmu it was/);
  });

  it('fails mu-law sent to a session never configured, but not 24 kHz PCM on the defaults', () => {
    expect(configuredFirstCheck(analyseInput(S, [session(sent, { configAt: null })])).reason).toMatch(/never configured .*read as audio\/pcm, the API's default/);
    expect(configuredFirstCheck(analyseInput(S, [session([Buffer.alloc(48_000, 3)], { configAt: null, format: 'audio/pcm' })]))).toMatchObject({ status: 'pass', reason: expect.stringMatching(/ran on the API's defaults/) });
  });
});

describe('model-session-closed, model-no-errors, model-first-speaker', () => {
  it('a session open at the bound is a leak; one closed in time passes; one closed late fails', () => {
    const open = session([]);
    expect(closedCheck([open], T0 + 5000, 2000, T0 + 7000)).toMatchObject({ status: 'fail', reason: expect.stringMatching(/still open 2\.0 s after the caller's stream ended \(a leak/) });
    const closed = { ...open, open: false, closedAt: T0 + 5900, closedBy: 'client', closeCode: 1000 };
    expect(closedCheck([closed], T0 + 5000, 2000, T0 + 7000)).toMatchObject({ status: 'pass', reason: expect.stringMatching(/closed by the agent 900 ms after the stream ended, code 1000/) });
    expect(closedCheck([{ ...closed, closedAt: T0 + 8000 }], T0 + 5000, 2000, T0 + 9000).status).toBe('fail');
  });

  it('an error the agent caused fails, with its event and event_id; a scripted one is the script\'s', () => {
    const base = session([]);
    const error = { at: T0, type: 'invalid_request_error', code: 'conversation_already_has_active_response', message: 'Conversation already has an active response in progress: resp_1.', clientEventType: 'response.create', clientEventId: 'evt_\u001b[2Jx', scripted: false };
    const failed = errorsCheck([{ ...base, errors: [error] }]);
    expect(failed.status).toBe('fail');
    expect(failed.reason).toContain('conversation_already_has_active_response for response.create (event_id evt_\\x1b[2Jx)');
    expect(errorsCheck([{ ...base, errors: [{ ...error, scripted: true }] }]).status).toBe('pass');
  });

  it('who spoke first: the model answering before it heard the caller is the agent', () => {
    const base = session([]);
    const answer = { id: 'resp_1', trigger: 'client', outOfBand: false, audioFormat: 'audio/pcmu', itemIds: ['item_1'], status: 'completed', reason: null, createdAt: T0 + 100, firstDeltaAt: T0 + 120, doneAt: T0 + 900, audioBytes: 8000, audioMs: 1000, audioSha256: null };
    const greeted = { ...base, responses: [answer], commits: [{ at: T0 + 2000, by: 'vad', speechStartedAt: T0 + 1500 }] };
    expect(firstSpeakerCheck([greeted], 'outbound', 'agent')).toMatchObject({ status: 'pass', reason: expect.stringMatching(/outbound: the agent spoke first, as expected \(the model began its first answer 1\.4 s before it heard the caller start to speak\)/) });
    expect(firstSpeakerCheck([greeted], 'inbound', 'caller')).toMatchObject({ status: 'fail', failure: expect.stringMatching(/^model-first-speaker: inbound: expected the caller to speak first/) });
    const waited = { ...greeted, responses: [{ ...answer, createdAt: T0 + 2100 }] };
    expect(firstSpeakerCheck([waited], 'inbound', 'caller').status).toBe('pass');
    // A greeting the caller's first words cut off before any audio went out was still begun first.
    const cutOff = { ...greeted, responses: [{ ...answer, audioBytes: 0, audioMs: 0, firstDeltaAt: null, status: 'cancelled' }] };
    expect(firstSpeakerCheck([cutOff], 'outbound', 'agent').status).toBe('pass');
  });
});

describe('what the caller heard: model-truncation and model-audio-out', () => {
  const answer = (id: string, at: number, ms: number, audio: Buffer | null): SessionView['responses'][number] => ({
    id, trigger: 'vad', outOfBand: false, audioFormat: 'audio/pcmu', itemIds: [`item_${id}`], status: 'completed', reason: null,
    createdAt: at - 10, firstDeltaAt: at, doneAt: at + ms / 4, audioBytes: ms * 8, audioMs: ms, audioSha256: audio === null ? null : sha256(audio),
  });
  const tone = (ms: number, seed: number): Buffer => Buffer.from(Array.from({ length: ms * 8 }, (_, i) => (i * seed) & 0xff));
  /** Frames of 100 ms arriving from `at`, every 50 ms (twice real time), and a playback run at real time. */
  function received(audio: Buffer, at: number, clears: number[] = [], cutAtMs: number | null = null): { record: { receivedAudio: Buffer[]; receivedFramesNotKept: number; playback: PlaybackLog }; clock: CallClock } {
    const frames: Buffer[] = [];
    for (let i = 0; i < audio.length; i += 800) frames.push(audio.subarray(i, i + 800));
    const bytes = cutAtMs === null ? audio.length : cutAtMs * 8;
    return {
      record: { receivedAudio: frames, receivedFramesNotKept: 0, playback: { speed: 1, runs: [{ at, fromByte: 0, bytes }], runsDropped: 0, clears, clearsDropped: 0 } },
      clock: { receivedAt: frames.map((_, i) => at + i * 50), complete: true, stopSentAt: at + 9000, closedAt: at + 9100 },
    };
  }

  it('truncating at what was heard passes; at what was sent (ahead of playback) fails by how much; another item fails', () => {
    const audio = tone(1000, 7);
    const { record, clock } = received(audio, T0, [T0 + 400], 400);
    const responses = [answer('a', T0, 1000, audio)];
    const heard = new HeardAnswers(record, clock, responses.map((response) => ({ response, sessionId: 's' })), 0);
    const at = (audioEndMs: number, itemId = 'item_a'): SessionView => ({ ...session([]), responses, truncations: [{ at: T0 + 420, itemId, audioEndMs, audioSentMs: 1000, accepted: true }] });
    expect(truncationCheck([at(360)], heard, { minMs: 20, maxMs: 40 })).toMatchObject({ status: 'pass', reason: expect.stringMatching(/item_a at 360 ms of 400 ms heard/) });
    const stale = truncationCheck([at(800)], heard, { minMs: 20, maxMs: 40 });
    expect(stale.status).toBe('fail');
    expect(stale.reason).toMatch(/audio_end_ms 800, but the caller had heard only 400 ms of it when the truncate arrived \(400 ms more than played; tolerance 60 ms/);
    expect(truncationCheck([at(100, 'item_\u0007other')], heard, { fixedMs: 30 }).reason).toMatch(/named item item_\\x07other, which is not an answer the model spoke on this call/);
  });

  it("gives an answer back the frames that arrived after the next one began: an interrupted greeting is not the next answer's", () => {
    const greeting = tone(100, 3);
    const reply = tone(1200, 5);
    // The greeting's one delta reaches the caller 5 ms after the reply's first delta left the model.
    const frames = [greeting, ...Array.from({ length: 12 }, (_, i) => reply.subarray(i * 800, (i + 1) * 800))];
    const record = { receivedAudio: frames, receivedFramesNotKept: 0, playback: { speed: 1, runs: [{ at: T0 + 105, fromByte: 0, bytes: 10_400 }], runsDropped: 0, clears: [], clearsDropped: 0 } };
    const clock = { receivedAt: frames.map((_, i) => T0 + 105 + i * 50), complete: true, stopSentAt: T0 + 9000, closedAt: T0 + 9100 };
    const responses = [answer('g', T0, 100, greeting), answer('r', T0 + 100, 1200, reply)];
    const heard = new HeardAnswers(record, clock, responses.map((response) => ({ response, sessionId: 's' })), 0);
    expect(heard.spans.map((s) => [s.response.id, s.bytes])).toEqual([['g', 800], ['r', 9600]]);
    expect(audioOutCheck(heard, record, clock)).toMatchObject({ status: 'pass', reason: expect.stringMatching(/2 answers \(1\.3 s of model audio\): 2 reached the caller byte for byte/) });
    // The other way round (a reader's clock a little ahead): the reply's first frame seen before its first delta.
    const early = { ...clock, receivedAt: frames.map((_, i) => (i === 0 ? T0 + 50 : T0 + 47 + i * 50)) };
    // Each answer's latency split: the reply answers the turn committed 40 ms before it began.
    const withTurn = { ...session([]), responses, commits: [{ at: T0 + 50, by: 'vad', speechStartedAt: T0 - 900 }] };
    expect(modelAnswers([withTurn], heard).map((a) => [a.responseId, a.turnEndedAt, a.modelMs, a.agentMs, a.receivedMs])).toEqual([
      ['g', null, null, 105, 100],
      ['r', T0 + 50, 50, 55, 1200],
    ]);
    const shifted = new HeardAnswers(record, early, [answer('g', T0, 100, greeting), answer('r', T0 + 100, 1200, reply)].map((response) => ({ response, sessionId: 's' })), 0);
    expect(shifted.spans.map((s) => [s.response.id, s.bytes, s.fromByte])).toEqual([['g', 800, 0], ['r', 9600, 800]]);
  });

  it('model-audio-out: a lost tail fails unless a clear cut it; doubled or altered audio fails', () => {
    const audio = tone(1000, 11);
    const responses = [answer('a', T0, 1000, audio)];
    const judge = (frames: Buffer, clears: number[] = []) => {
      const { record, clock } = received(frames, T0, clears);
      return audioOutCheck(new HeardAnswers(record, clock, responses.map((response) => ({ response, sessionId: 's' })), 0), record, clock);
    };
    expect(judge(audio).status).toBe('pass');
    expect(judge(audio.subarray(0, 4000))).toMatchObject({ status: 'fail', reason: expect.stringMatching(/the caller got 500 ms of the 1\.0 s the model produced, and no clear or hang-up cut it/) });
    expect(judge(audio.subarray(0, 4000), [T0 + 500])).toMatchObject({ status: 'pass', reason: expect.stringMatching(/500 ms of 1\.0 s, the rest cut by a clear/) });
    expect(judge(Buffer.concat([audio, audio.subarray(0, 800)])).reason).toMatch(/more than the 1\.0 s the model produced \(audio repeated\)/);
    const altered = Buffer.from(audio);
    altered[4321] ^= 0x55;
    expect(judge(altered).reason).toMatch(/as long as the model's, but not the same bytes/);
    // Past the clears a call keeps, the lost tail may be a clear's cut: never a false fail.
    const { record, clock } = received(audio.subarray(0, 4000), T0);
    const flooded = { ...record, playback: { ...record.playback, clearsDropped: 1 } };
    expect(audioOutCheck(new HeardAnswers(flooded, clock, responses.map((response) => ({ response, sessionId: 's' })), 0), flooded, clock)).toMatchObject({ status: 'skip', reason: expect.stringMatching(/more than 10000 clears/) });
  });

  it("says it could not compare when the call kept only part of the agent's audio or of its arrivals: never a false pass or fail", () => {
    const audio = tone(1000, 13);
    const responses = [answer('a', T0, 1000, audio)];
    const tied = responses.map((response) => ({ response, sessionId: 's' }));
    const { record, clock } = received(audio, T0, [T0 + 400], 400);
    const truncated: SessionView = { ...session([]), responses, truncations: [{ at: T0 + 420, itemId: 'item_a', audioEndMs: 360, audioSentMs: 1000, accepted: true }] };
    // The call kept the first 4 of the 10 payloads (past what it keeps of the agent's audio), all 10 timed.
    const unkept = { ...record, receivedAudio: record.receivedAudio.slice(0, 4), receivedFramesNotKept: 6 };
    const partial = new HeardAnswers(unkept, clock, tied, 0);
    expect(audioOutCheck(partial, unkept, clock)).toMatchObject({ status: 'skip', reason: expect.stringMatching(/kept 4 of the 10 payloads of the agent's audio/) });
    expect(truncationCheck([truncated], partial, { fixedMs: 30 })).toMatchObject({ status: 'skip', reason: expect.stringMatching(/kept 4 of the 10 payloads/) });
    expect(modelAnswers([{ ...session([]), responses }], partial).map((a) => a.receivedMs)).toEqual([null]);
    // Every payload kept, but the timeline timed only the first 6 arrivals (its cap).
    const untimed = { ...clock, receivedAt: clock.receivedAt.slice(0, 6), complete: false };
    const early = new HeardAnswers(record, untimed, tied, 0);
    expect(audioOutCheck(early, record, untimed)).toMatchObject({ status: 'skip', reason: expect.stringMatching(/timed 6 of the 10 payloads/) });
    // The healthy twin: everything kept and timed.
    const whole = new HeardAnswers(record, clock, tied, 0);
    expect(audioOutCheck(whole, record, clock).status).toBe('pass');
    expect(truncationCheck([truncated], whole, { fixedMs: 30 }).status).toBe('pass');
    expect(modelAnswers([{ ...session([]), responses }], whole).map((a) => a.receivedMs)).toEqual([1000]);
  });
});

describe('correlation: call-sid header, watermark, time, and ambiguity said', () => {
  const window = (placedAt: number, endedAt: number | null, watermark: number | null, callSid = 'CA1'): CallWindow => ({ callSid, watermark, placedAt, endedAt });
  const twoOverlappingCalls = (): { registry: CallRegistry; a: CallWindow; b: CallWindow } => {
    const registry = new CallRegistry();
    const a = window(T0, T0 + 4000, 0xaaaaaa, 'CAa');
    const b = window(T0 + 100, T0 + 4100, 0xbbbbbb, 'CAb');
    registry.open(a);
    registry.open(b);
    return { registry, a, b };
  };

  it('ties by header and by watermark whatever the timing, and never takes another call\'s', () => {
    const { registry, a, b } = twoOverlappingCalls();
    const byHeader = session([], { id: 'sess_h', callSid: 'CAa' });
    const markedB = session(callerAudio(0xbbbbbb).slice(3, 15), { id: 'sess_w' });
    expect(registry.correlate(a, [byHeader, markedB], 1)).toMatchObject({ method: 'call-sid-header', sessions: [{ session: { id: 'sess_h' }, tiedBy: 'call-sid-header' }], ambiguous: [] });
    expect(registry.correlate(b, [byHeader, markedB], 1)).toMatchObject({ method: 'watermark', sessions: [{ session: { id: 'sess_w' }, tiedBy: 'watermark' }] });
  });

  it('an agent that lost the caller\'s first words to loud speech is still tied by watermark: the last audio carries it', () => {
    const { registry, a, b } = twoOverlappingCalls();
    // Loud from the first byte: no frame has room for the mark, as in the middle of a word.
    const loud = Array.from({ length: 30 }, (_, i) => watermarkFrame(Buffer.alloc(FRAME_BYTES, 0x20 + (i % 8)), 0xbbbbbb, i));
    const late = session([...loud, ...callerAudio(0xbbbbbb).slice(30, 60)], { id: 'sess_late' });
    expect(Buffer.from(late.audioIn.head, 'base64')).toEqual(Buffer.concat(loud).subarray(0, 2048));
    expect(registry.correlate(b, [late], 1)).toMatchObject({ method: 'watermark', sessions: [{ session: { id: 'sess_late' }, tiedBy: 'watermark' }], ambiguous: [] });
    expect(registry.correlate(a, [late], 1)).toMatchObject({ method: 'none', sessions: [], ambiguous: [] });
    // A record from a simulator older than the tail: the head alone, and time cannot tell two calls apart.
    const { tail: _tail, ...older } = late.audioIn;
    expect(registry.correlate(b, [{ ...late, openedAt: T0 + 200, audioIn: older }], 1)).toMatchObject({ method: 'none', ambiguous: [{ rivals: 1 }] });
  });

  it('ties by time only when one call was running; two overlapping calls make an unmarked session ambiguous', () => {
    const registry = new CallRegistry();
    const a = window(T0, T0 + 4000, 1);
    registry.open(a);
    const unmarked = { ...session([Buffer.alloc(4800, 7)], { id: 'sess_t', format: 'audio/pcm' }), openedAt: T0 + 50 };
    expect(registry.correlate(a, [unmarked], 1)).toMatchObject({ method: 'time', sessions: [{ tiedBy: 'time' }] });
    const solo = new CallRegistry();
    const c = window(T0, T0 + 4000, 3);
    const d = window(T0 + 20, null, 4, 'CA2');
    solo.open(c);
    solo.open(d);
    expect(solo.correlate(c, [unmarked], 1)).toMatchObject({ method: 'none', sessions: [], ambiguous: [{ session: { id: 'sess_t' }, rivals: 1 }] });
    // Opened before the other call began: it was the only one running.
    expect(solo.correlate(c, [{ ...unmarked, openedAt: T0 + 10 }], 1)).toMatchObject({ method: 'time' });
  });
});
