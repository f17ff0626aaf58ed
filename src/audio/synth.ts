// Deterministic speech-like test audio: what the simulator answers with and the synthetic
// fixtures are made of. Not speech anyone could transcribe; it only has to look like speech to a VAD.
import { seededRandom } from '../random.js';

export interface SpeechLikeOptions {
  durationMs: number;
  sampleRate: number;
  seed: number;
  utterances: Array<{ startMs: number; endMs: number }>;
}

// Rough F1/F2/F3 (Hz) of a few vowels: /a/, /e/, /i/, /o/, /u/, /ae/, /er/.
const VOWELS: ReadonlyArray<readonly [number, number, number]> = [
  [730, 1090, 2440],
  [530, 1840, 2480],
  [300, 2250, 2950],
  [570, 840, 2410],
  [330, 950, 2300],
  [660, 1720, 2410],
  [490, 1350, 1690],
];
const FORMANT_BANDWIDTHS = [90, 110, 170];
const MAX_HARMONICS = 40;
const HARMONIC_TOP_HZ = 3500; // keep the voiced spectrum inside the telephone band at every rate
const PEAK = 0.5; // -6 dBFS
const FRICATIVE_LEVEL = 0.25; // relative to unit-RMS vowels: about -12 dB

interface Syllable {
  start: number; // sample index
  end: number;
  vowel: number;
  amp: number;
  accent: number;
  /** Fraction of the syllable that is a fricative onset (0 = none). */
  fricative: number;
}

function smoothstep(x: number): number {
  const t = x <= 0 ? 0 : x >= 1 ? 1 : x;
  return t * t * (3 - 2 * t);
}

/** Voiced envelope over a syllable: quick rise, sustain, longer fall, zero at both ends. */
function syllableEnvelope(u: number): number {
  if (u <= 0 || u >= 1) return 0;
  if (u < 0.2) return smoothstep(u / 0.2);
  if (u > 0.65) return smoothstep((1 - u) / 0.35);
  return 1;
}

/**
 * Deterministic speech-like audio: harmonic (glottal) source with a moving 100-220 Hz pitch,
 * shaped by three formants that glide between per-syllable vowel targets, ~4 syllables/s,
 * some fricative noise onsets. Silence (exact zeros) outside `utterances`. Peaks at -6 dBFS.
 */
export function synthesizeSpeechLike(options: SpeechLikeOptions): Float32Array {
  const { durationMs, sampleRate, seed, utterances } = options;
  if (!(sampleRate > 0) || !Number.isFinite(sampleRate)) throw new RangeError(`bad sampleRate ${sampleRate}`);
  if (!(durationMs >= 0) || !Number.isFinite(durationMs)) throw new RangeError(`bad durationMs ${durationMs}`);
  const out = new Float32Array(Math.round((durationMs * sampleRate) / 1000));
  // Separate streams: the structure (syllables, pitch) is the same at every sample rate.
  const rand = seededRandom(seed);
  const noise = seededRandom(seed ^ 0x5bd1e995);
  const amps = new Float64Array(MAX_HARMONICS + 1);
  const block = Math.max(1, Math.round(sampleRate / 1000)); // parameters update every 1 ms
  // Band-pass for fricative noise (RBJ biquad, ~3 kHz, Q 1.2), clamped below Nyquist.
  const w0 = (2 * Math.PI * Math.min(3000, 0.4 * sampleRate)) / sampleRate;
  const alpha = Math.sin(w0) / (2 * 1.2);
  const a0 = 1 + alpha;
  const bp = { b0: alpha / a0, b2: -alpha / a0, a1: (-2 * Math.cos(w0)) / a0, a2: (1 - alpha) / a0 };
  // Unit-RMS band-passed noise: uniform noise has RMS 1/sqrt(3); the filter keeps about
  // (pi/2 * bandwidth) / (fs/2) of its power.
  const noiseBandwidth = Math.min(3000, 0.4 * sampleRate) / 1.2;
  const noiseNorm = Math.sqrt(3) / Math.sqrt((Math.PI * noiseBandwidth) / sampleRate);

  for (const utterance of utterances) {
    const start = Math.max(0, Math.round((utterance.startMs * sampleRate) / 1000));
    const end = Math.min(out.length, Math.round((utterance.endMs * sampleRate) / 1000));
    if (end - start < block * 4) continue;

    // Syllables of ~250 ms with +-25% jitter, filling the utterance exactly.
    const count = Math.max(1, Math.round((end - start) / (0.25 * sampleRate)));
    const weights = Array.from({ length: count }, () => 0.75 + 0.5 * rand());
    const weightSum = weights.reduce((a, b) => a + b, 0);
    const syllables: Syllable[] = [];
    let cursor = start;
    let lastVowel = -1;
    for (let s = 0; s < count; s++) {
      const next = s === count - 1 ? end : cursor + Math.round(((end - start) * weights[s]!) / weightSum);
      let vowel = Math.floor(rand() * VOWELS.length);
      if (vowel === lastVowel) vowel = (vowel + 1) % VOWELS.length;
      lastVowel = vowel;
      const longEnough = next - cursor > 0.15 * sampleRate;
      syllables.push({
        start: cursor,
        end: next,
        vowel,
        amp: 0.6 + 0.4 * rand(),
        accent: 0.04 + 0.1 * rand(),
        fricative: longEnough && rand() < 0.4 ? 0.22 + 0.1 * rand() : 0,
      });
      cursor = next;
    }

    const basePitch = 120 + 70 * rand();
    const driftPhase = 2 * Math.PI * rand();
    let theta = 0;
    let x1 = 0;
    let x2 = 0;
    let y1 = 0;
    let y2 = 0;
    let syl = 0;
    for (let b0 = start; b0 < end; b0 += block) {
      const b1 = Math.min(end, b0 + block);
      while (syllables[syl]!.end <= b0) syl++;
      const s = syllables[syl]!;
      const u = (b0 - s.start) / (s.end - s.start);
      const progress = (b0 - start) / (end - start);
      const tSec = b0 / sampleRate;

      // Pitch: declination over the utterance, slow drift, an accent bump per syllable.
      let f0 = basePitch * (1 - 0.2 * progress) * (1 + 0.05 * Math.sin(2 * Math.PI * 1.7 * tSec + driftPhase));
      f0 *= 1 + s.accent * Math.sin(Math.PI * u);
      f0 = Math.min(220, Math.max(100, f0));

      // Formants glide from the previous vowel to this one (coarticulation).
      const prev = VOWELS[syl > 0 ? syllables[syl - 1]!.vowel : s.vowel]!;
      const target = VOWELS[s.vowel]!;
      const mix = smoothstep(u / 0.35);
      const top = Math.min(HARMONIC_TOP_HZ, 0.45 * sampleRate);
      const harmonics = Math.min(MAX_HARMONICS, Math.floor(top / f0));
      let power = 0;
      for (let k = 1; k <= harmonics; k++) {
        const f = k * f0;
        let gain = 1 / k; // glottal roll-off plus lip radiation: about -6 dB/octave
        for (let i = 0; i < 3; i++) {
          const fc = prev[i]! + (target[i]! - prev[i]!) * mix;
          const bw = FORMANT_BANDWIDTHS[i]!;
          gain *= (fc * fc) / Math.sqrt((fc * fc - f * f) ** 2 + (bw * f) ** 2);
        }
        // Fade the top harmonics so one crossing `top` as pitch moves does not click.
        amps[k] = gain * Math.min(1, (top - f) / 400);
        power += amps[k]! * amps[k]!;
      }
      // Unit RMS for the voiced source, whatever the vowel: loudness comes from the envelope.
      const norm = Math.SQRT2 / Math.sqrt(power);
      for (let k = 1; k <= harmonics; k++) amps[k]! *= norm;

      const voicedStart = s.fricative;
      const voicedEnv = syllableEnvelope((u - voicedStart) / (1 - voicedStart)) * s.amp;
      const fricEnv = s.fricative > 0 && u < s.fricative ? Math.sin((Math.PI * u) / s.fricative) ** 2 * FRICATIVE_LEVEL : 0;
      const step = (2 * Math.PI * f0) / sampleRate;

      for (let n = b0; n < b1; n++) {
        theta += step;
        if (theta > 2 * Math.PI) theta -= 2 * Math.PI;
        let v = 0;
        if (voicedEnv > 0) {
          // sin(k theta) by the Chebyshev recurrence: two trig calls per sample, not forty.
          const c2 = 2 * Math.cos(theta);
          let sPrev = 0;
          let sCur = Math.sin(theta);
          for (let k = 1; k <= harmonics; k++) {
            v += amps[k]! * sCur;
            const sNext = c2 * sCur - sPrev;
            sPrev = sCur;
            sCur = sNext;
          }
          v *= voicedEnv;
        }
        if (fricEnv > 0) {
          const x0 = noise() * 2 - 1;
          const y0 = bp.b0 * x0 + bp.b2 * x2 - bp.a1 * y1 - bp.a2 * y2;
          x2 = x1;
          x1 = x0;
          y2 = y1;
          y1 = y0;
          v += y0 * fricEnv * noiseNorm;
        }
        out[n] = v;
      }
    }
  }

  let peak = 0;
  for (let i = 0; i < out.length; i++) peak = Math.max(peak, Math.abs(out[i]!));
  if (peak > 0) {
    const scale = PEAK / peak;
    for (let i = 0; i < out.length; i++) out[i]! *= scale;
  }
  return out;
}
