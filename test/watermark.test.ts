// The per-call watermark in the caller's mu-law (audio/watermark.ts): read back exactly from
// what an agent forwards untouched, never found in audio nobody marked, gone once an agent
// transcodes; inaudible (every sample within one step of 8) and below the simulator's VAD, which
// still hears the fixture's speech; and a watermarked clip is still recognised by its transcript.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import alawmulaw from 'alawmulaw';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import { mulawRms } from '../src/audio/g711.js';
import { findWatermarks, isCarrier, readWatermarks, WATERMARK_BITS, watermarkFrame } from '../src/audio/watermark.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { RawRealtime, sleep } from './agents/raw-realtime.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const FIXTURES = ['hello-8k-mulaw.wav', 'question-16k-pcm16.wav', 'greeting-44k-stereo.wav'].map((f) => here(`../fixtures/${f}`));
const TAG = 0x5a17c3;

function marked(frames: readonly Buffer[], tag = TAG): Buffer[] {
  return frames.map((f, i) => watermarkFrame(Buffer.concat([f, Buffer.alloc(FRAME_BYTES - f.length, MULAW_SILENCE)]), tag, i));
}

const sims: RunningSimulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.close();
});

describe('the watermark', () => {
  it('is read back exactly from every frame with room for it, and no frame without room is touched', () => {
    for (const file of FIXTURES) {
      const frames = loadWavAsMulawFrames(file).frames;
      const out = marked(frames);
      const roomy = frames.map((f) => [...f].filter(isCarrier).length >= WATERMARK_BITS);
      const hits = readWatermarks(Buffer.concat(out));
      expect(hits.map((h) => h.index)).toEqual(roomy.flatMap((r, i) => (r ? [i] : [])));
      expect(new Set(hits.map((h) => h.tag))).toEqual(new Set([TAG]));
      // Silence and pauses carry it: most of a fixture's frames do.
      expect(hits.length).toBeGreaterThan(frames.length / 2);
      out.forEach((frame, i) => {
        if (!roomy[i]) expect(frame.equals(Buffer.concat([frames[i]!, Buffer.alloc(FRAME_BYTES - frames[i]!.length, MULAW_SILENCE)]))).toBe(true);
      });
    }
  });

  it('is found after the audio was cut anywhere (an agent that dropped early frames, or forwards odd chunks)', () => {
    const out = Buffer.concat(marked(loadWavAsMulawFrames(FIXTURES[0]!).frames));
    const fromFrame7 = findWatermarks(out.subarray(7 * FRAME_BYTES));
    expect(fromFrame7[0]).toMatchObject({ offset: 0, tag: TAG, index: 7 });
    const offGrid = findWatermarks(out.subarray(7 * FRAME_BYTES + 33));
    expect(offGrid[0]).toMatchObject({ offset: FRAME_BYTES - 33, tag: TAG, index: 8 });
  });

  it('is never read out of audio nobody marked: the fixtures, their silence, random near-silent bytes', () => {
    for (const file of FIXTURES) expect(findWatermarks(Buffer.concat(loadWavAsMulawFrames(file).frames))).toEqual([]);
    expect(findWatermarks(Buffer.alloc(FRAME_BYTES * 50, MULAW_SILENCE))).toEqual([]);
    let seed = 1;
    const noise = Buffer.alloc(FRAME_BYTES * 500, 0).map(() => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      // Quiet noise: nearly every byte a carrier, so every frame is read as a candidate code.
      return 0xf0 | ((seed >>> 16) & 0x0f);
    });
    expect(readWatermarks(noise)).toEqual([]);
  });

  it('does not survive an agent that transcodes to 24 kHz PCM16 for the model: the witness then matches by time', () => {
    const out = Buffer.concat(marked(loadWavAsMulawFrames(FIXTURES[0]!).frames));
    const pcm8k = alawmulaw.mulaw.decode(out);
    const pcm24k = Buffer.alloc(pcm8k.length * 6);
    pcm8k.forEach((s, i) => {
      for (let k = 0; k < 3; k++) pcm24k.writeInt16LE(s, (i * 3 + k) * 2);
    });
    expect(findWatermarks(pcm24k.subarray(0, 4096))).toEqual([]);
    expect(readWatermarks(pcm24k)).toEqual([]);
  });

  it('is inaudible: every sample moves by at most one step of 8 (of 32767), the level by less than -75 dBFS', () => {
    for (const file of FIXTURES) {
      const frames = loadWavAsMulawFrames(file).frames;
      const out = marked(frames);
      frames.forEach((f, i) => {
        const before = alawmulaw.mulaw.decode(f);
        const after = alawmulaw.mulaw.decode(out[i]!.subarray(0, f.length));
        for (let s = 0; s < before.length; s++) expect(Math.abs(after[s]! - before[s]!)).toBeLessThanOrEqual(8);
        expect(Math.abs(mulawRms(out[i]!) - mulawRms(Buffer.concat([f, Buffer.alloc(FRAME_BYTES - f.length, MULAW_SILENCE)])))).toBeLessThan(10 ** (-75 / 20));
      });
    }
  });

  async function speechStarts(frames: readonly Buffer[]): Promise<number> {
    const sim = await startRealtimeSimulator({ tls: false });
    sims.push(sim);
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`, { headers: { 'x-callsim-call-sid': 'CAvad' } });
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad' } } } } });
    await rt.next('session.updated');
    for (const frame of frames) rt.append(frame);
    await sleep(300);
    await rt.close();
    return sim.sessionsFor('CAvad')[0]!.speechStarted;
  }

  it("does not fool the VAD: 3 s of watermarked line silence is silence to server_vad, and the fixture's speech is still speech", async () => {
    const silence = marked(Array.from({ length: 150 }, () => Buffer.alloc(FRAME_BYTES, MULAW_SILENCE)));
    expect(readWatermarks(Buffer.concat(silence))).toHaveLength(150);
    expect(await speechStarts(silence)).toBe(0);
    expect(await speechStarts(marked(loadWavAsMulawFrames(FIXTURES[0]!).frames))).toBe(1);
  });

  it('leaves a fixture clip recognisable by its transcript fingerprint', async () => {
    const sim = await startRealtimeSimulator({ tls: false, transcripts: here('./fixtures/transcripts.yaml') });
    sims.push(sim);
    const rt = await RawRealtime.open(`${sim.realtimeURL}?model=gpt-realtime`);
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null, transcription: { model: 'gpt-4o-mini-transcribe' } } } } });
    const frames = marked(loadWavAsMulawFrames(FIXTURES[0]!).frames);
    // The clip's voiced frames are the ones the fingerprint counts: some of them carry the mark.
    expect(frames.some((f, i) => mulawRms(f) >= 0.01 && readWatermarks(f).length === 1 && i > 0)).toBe(true);
    for (const frame of frames) rt.append(frame);
    rt.send({ type: 'input_audio_buffer.commit' });
    const completed = await rt.next('conversation.item.input_audio_transcription.completed');
    expect(completed.transcript).toBe('Hello, I would like to book a table.');
    await rt.close();
  });
});
