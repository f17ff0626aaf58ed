// The audio a simulated answer speaks, in the session's output format: speech-like synthetic
// audio of a given length (made once per process per length and format), or a script's WAV.
import { synthesizeSpeechLike } from '../../audio/synth.js';
import { encode8k, encodeNative, sampleRate, type AudioFormatType } from './audio-formats.js';

const synthCache = new Map<string, Buffer>();
const wavCache = new WeakMap<Float32Array, Map<AudioFormatType, Buffer>>();

/** Speech-like audio `durationMs` long; every answer of that length is the same audio. */
export function synthesizedAnswer(durationMs: number, format: AudioFormatType): Buffer {
  const key = `${durationMs}:${format}`;
  let audio = synthCache.get(key);
  if (!audio) {
    const rate = sampleRate(format);
    audio = encodeNative(format, synthesizeSpeechLike({ durationMs, sampleRate: rate, seed: 7, utterances: [{ startMs: 0, endMs: durationMs }] }));
    synthCache.set(key, audio);
  }
  return audio;
}

/** A script's WAV (decoded to 8 kHz once at load) in the output format. */
export function wavAnswer(samples8k: Float32Array, format: AudioFormatType): Buffer {
  let byFormat = wavCache.get(samples8k);
  if (!byFormat) wavCache.set(samples8k, (byFormat = new Map()));
  let audio = byFormat.get(format);
  if (!audio) byFormat.set(format, (audio = encode8k(format, samples8k)));
  return audio;
}
