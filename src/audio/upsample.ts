// 8 kHz to 24 kHz, for realtime clients on audio/pcm (the OpenAI Realtime API's 24 kHz PCM):
// an integer factor of 3, so a zero-stuffing polyphase FIR with a Kaiser-windowed sinc is exact
// and small. Written here because resample.ts only converges on 8 kHz (its one job).
import { besselI0 } from './resample.js';

const FACTOR = 3;
const HALF_TAPS = 12; // per phase: 24 taps, ~60 dB of image rejection above 4 kHz
const BETA = 6;


// phases[p][k]: weight of input sample (n - HALF_TAPS + 1 + k) for output 3n + p.
const PHASES: Float32Array[] = (() => {
  const phases: Float32Array[] = [];
  const i0 = besselI0(BETA);
  for (let p = 0; p < FACTOR; p++) {
    const taps = new Float32Array(2 * HALF_TAPS);
    let sum = 0;
    for (let k = 0; k < taps.length; k++) {
      const t = k - HALF_TAPS + 1 - p / FACTOR; // input-sample offset of this tap from the output instant
      const x = 0.95 * t; // cutoff just under the 8 kHz Nyquist, in input samples
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = t / HALF_TAPS;
      const w = r * r >= 1 ? 0 : besselI0(BETA * Math.sqrt(1 - r * r)) / i0;
      taps[k] = sinc * w;
      sum += sinc * w;
    }
    for (let k = 0; k < taps.length; k++) taps[k]! /= sum;
    phases.push(taps);
  }
  return phases;
})();

/** 8 kHz float samples to 24 kHz (three times as many), band-limited to 4 kHz. */
export function upsample8kTo24k(input: Float32Array): Float32Array {
  const n = input.length;
  const out = new Float32Array(n * FACTOR);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < FACTOR; p++) {
      const taps = PHASES[p]!;
      let acc = 0;
      for (let k = 0; k < taps.length; k++) {
        const j = i - HALF_TAPS + 1 + k;
        if (j >= 0 && j < n) acc += input[j]! * taps[k]!;
      }
      out[i * FACTOR + p] = acc;
    }
  }
  return out;
}
