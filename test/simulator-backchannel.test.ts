// What the simulator's turn detection does with a backchannel, as the live API's does: server_vad
// has no minimum length of speech (the documented knobs are threshold, prefix padding and
// silence), so a real "mm-hmm" over an answer fires input_audio_buffer.speech_started; with
// interrupt_response on (the default) that cancels the answer, with it off the answer goes on
// and the agent decides. That is why a careful agent turns interrupt_response off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { RawRealtime, sleep } from './agents/raw-realtime.js';

let sim: RunningSimulator;
beforeAll(async () => {
  // A 3 s answer streamed at real time: it is still being made when the caller says "mm-hmm".
  sim = await startRealtimeSimulator({ tls: false, answerMs: 3000, streamSpeed: 1 });
});
afterAll(async () => {
  await sim.close();
});

const MMHMM = loadWavAsMulawFrames('fixtures/speech/mm-hmm.wav').frames;
const SILENCE = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

async function answerThenBackchannel(interruptResponse: boolean): Promise<RawRealtime> {
  const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`);
  await rt.next('session.created');
  rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', interrupt_response: interruptResponse } }, output: { format: { type: 'audio/pcmu' } } } } });
  await rt.next('session.updated');
  rt.send({ type: 'response.create' });
  await rt.next('response.output_audio.delta');
  await sleep(300);
  // The clip in real time, then line silence long enough for the turn to end.
  for (const frame of [...MMHMM, ...Array<Buffer>(20).fill(SILENCE)]) {
    rt.append(frame);
    await sleep(20);
  }
  await rt.next('response.done');
  return rt;
}

describe('a backchannel over an answer', () => {
  it('fires speech_started (a 0.4 s "mm-hmm" is speech); interrupt_response cancels the answer at once, as on the live API', async () => {
    const rt = await answerThenBackchannel(true);
    expect(rt.of('input_audio_buffer.speech_started')).toHaveLength(1);
    expect((rt.of('response.done')[0]!.response as { status: string; status_details: { reason: string } })).toMatchObject({ status: 'cancelled', status_details: { reason: 'turn_detected' } });
    await rt.close();
  }, 15_000);

  it('with interrupt_response off the answer goes on to its end: the agent decides whether the caller interrupted', async () => {
    const rt = await answerThenBackchannel(false);
    expect(rt.of('input_audio_buffer.speech_started')).toHaveLength(1);
    expect(rt.of('input_audio_buffer.speech_stopped')).toHaveLength(1);
    expect((rt.of('response.done')[0]!.response as { status: string }).status).toBe('completed');
    // The "mm-hmm" turn was committed while the answer was still being made: no second response over it.
    expect(rt.of('response.created')).toHaveLength(1);
    await rt.close();
  }, 15_000);
});
