// Resampling any source rate to 8 kHz: a Kaiser-windowed sinc polyphase filter, written here
// because no well-kept npm resampler is both exact for arbitrary ratios and dependency-free.
import { SAMPLE_RATE } from './format.js';

export interface ResampleFilter {
  /** Source samples per output sample, as the reduced fraction up/down = 8000/srcRate. */
  up: number;
  down: number;
  /** Number of precomputed fractional-delay phases. */
  phases: number;
  /** Taps per phase (even); an output at source position t uses samples floor(t)-taps/2+1 .. floor(t)+taps/2. */
  taps: number;
  table: Float32Array;
}

const MAX_PHASES = 4096;
const MAX_TABLE = 1 << 20; // filter coefficients per source rate
const STOPBAND_DB = 70;
const filterCache = new Map<number, ResampleFilter>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The zeroth-order modified Bessel function of the first kind (for Kaiser windows). */
export function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/**
 * Kaiser-windowed sinc low-pass, tabulated per fractional phase (a polyphase resampler).
 * Cutoff 3.7 kHz with a 700 Hz transition for downsampling to 8 kHz (passband to ~3.35 kHz,
 * >= 70 dB down from ~4.05 kHz); the same shape scaled to the source rate when upsampling.
 */
export function resampleFilter(srcRate: number): ResampleFilter {
  const cached = filterCache.get(srcRate);
  if (cached) return cached;
  const g = gcd(SAMPLE_RATE, srcRate);
  const up = SAMPLE_RATE / g;
  const down = srcRate / g;
  const base = Math.min(srcRate, SAMPLE_RATE);
  const cutoff = (0.4625 * base) / srcRate; // cycles per source sample
  const transition = (0.0875 * base) / srcRate;
  const beta = 0.1102 * (STOPBAND_DB - 8.7);
  const length = (STOPBAND_DB - 8) / (2.285 * 2 * Math.PI * transition);
  const half = Math.max(2, Math.ceil(length / 2));
  const taps = 2 * half;
  // Exact phases when the ratio allows; otherwise the nearest of a few thousand (< 1/500
  // sample of timing error), fewer for very high rates so the table stays a few MB.
  const phases = Math.min(up, MAX_PHASES, Math.max(256, Math.floor(MAX_TABLE / taps)));
  const table = new Float32Array(phases * taps);
  const i0Beta = besselI0(beta);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const tau = k - half + 1 - frac; // source-sample offset from the output instant
      const x = 2 * cutoff * tau;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = tau / half;
      const window = r * r >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
      const h = sinc * window;
      table[p * taps + k] = h;
      sum += h;
    }
    // Unity DC gain for every phase, so levels survive and no phase-dependent ripple appears.
    for (let k = 0; k < taps; k++) table[p * taps + k]! /= sum;
  }
  const filter = { up, down, phases, taps, table };
  filterCache.set(srcRate, filter);
  return filter;
}

/**
 * Resample `padded` (source samples at offset taps/2, zeros around them) to 8 kHz.
 * Output count is ceil(n * 8000 / srcRate): covers the whole source duration.
 */
export function resampleTo8k(padded: Float32Array, n: number, filter: ResampleFilter): Float32Array {
  const { up, down, phases, taps, table } = filter;
  const outCount = Math.ceil((n * up) / down);
  const out = new Float32Array(outCount);
  for (let i = 0; i < outCount; i++) {
    // Exact rational position i * down / up in source samples: integer part + phase.
    const pos = i * down;
    let idx = Math.floor(pos / up);
    let phase = pos - idx * up;
    if (phases !== up) {
      phase = Math.round((phase * phases) / up);
      if (phase === phases) {
        phase = 0;
        idx++;
      }
    }
    const t0 = phase * taps;
    let acc = 0;
    for (let k = 0; k < taps; k++) acc += padded[idx + 1 + k]! * table[t0 + k]!;
    out[i] = acc;
  }
  return out;
}
