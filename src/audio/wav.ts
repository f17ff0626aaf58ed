// WAV in, 8 kHz mu-law frames out (and back), plus deterministic speech-like test audio.
// wavefile parses the container; alawmulaw does the G.711 codecs; the resampler is ours.

import { readFileSync } from 'node:fs';
import wavefile from 'wavefile';
import alawmulaw from 'alawmulaw';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from '../twilio/protocol.js';

const { WaveFile } = wavefile;
const { mulaw, alaw } = alawmulaw;

// ---- errors ---------------------------------------------------------------------------------

/** Any problem with an input WAV: the one exception type this module throws for bad input. */
export class WavInputError extends Error {
  readonly file: string;
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'WavInputError';
    this.file = file;
    this.problem = problem;
  }
}

// ---- types ----------------------------------------------------------------------------------

export interface SourceFormat {
  sampleRate: number;
  channels: number;
  /** wavefile's bit depth code: '8', '16', '24', '32', '32f', '64', '8m', '8a'. */
  bitDepth: string;
  /** Sample encoding: 'pcm8', 'pcm16', 'pcm24', 'pcm32', 'float32', 'float64', 'mulaw', 'alaw'. */
  container: string;
}

export interface MulawAudio {
  /** Each exactly 160 bytes of 8 kHz mu-law (views into one buffer); last frame padded with 0xff. */
  frames: Buffer[];
  /** Duration of the source audio. */
  durationMs: number;
  source: SourceFormat;
}

export interface DecodedAudio {
  /** Mono, 8 kHz, -1..1. */
  samples: Float32Array;
  durationMs: number;
  source: SourceFormat;
}

// The subset of wavefile's untyped `fmt` object we read.
interface FmtChunk {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  subformat: number[];
}

// ---- container scan -------------------------------------------------------------------------

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0040: 'G.721 ADPCM',
  0x0050: 'MPEG',
  0x0055: 'MP3',
  0x0161: 'WMA',
};

const CONVERT_HINT = 'convert it with e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`';

interface DataLocation {
  bigEndian: boolean;
  dataStart: number;
  dataBytes: number;
}

function fourcc(bytes: Buffer, at: number): string {
  return bytes.toString('latin1', at, at + 4);
}

// Our own walk over the chunks: wavefile silently clamps a short data chunk, and we want to
// report truncation (with sizes) rather than play half a file.
function locateData(bytes: Buffer, file: string): DataLocation {
  const container = fourcc(bytes, 0);
  if (bytes.length < 12 || !['RIFF', 'RIFX', 'RF64'].includes(container) || fourcc(bytes, 8) !== 'WAVE') {
    throw new WavInputError(file, 'not a WAV file (no RIFF/WAVE header)');
  }
  const bigEndian = container === 'RIFX';
  const u32 = (at: number): number => (bigEndian ? bytes.readUInt32BE(at) : bytes.readUInt32LE(at));
  let rf64DataBytes: number | undefined;
  let sawFmt = false;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = fourcc(bytes, pos);
    const size = u32(pos + 4);
    const body = pos + 8;
    if (id === 'ds64' && size >= 16 && body + 16 <= bytes.length) {
      // ds64 body: riffSize (u64), dataSize (u64), ... little-endian, low dword first.
      rf64DataBytes = bytes.readUInt32LE(body + 8) + bytes.readUInt32LE(body + 12) * 2 ** 32;
    } else if (id === 'fmt ') {
      sawFmt = true;
    } else if (id === 'data') {
      const available = bytes.length - body;
      let declared = size;
      if (container === 'RF64' && size === 0xffffffff) {
        if (rf64DataBytes === undefined) throw new WavInputError(file, 'malformed RF64 file: no ds64 chunk');
        declared = rf64DataBytes;
      } else if (size === 0xffffffff) {
        // Writers that stream to a pipe cannot seek back to fill in sizes: audio runs to EOF.
        declared = available;
      }
      if (declared > available) {
        throw new WavInputError(file, `truncated: header declares ${declared} bytes of audio, file holds ${available}`);
      }
      if (!sawFmt) throw new WavInputError(file, "malformed WAV: no 'fmt ' chunk before the audio data");
      return { bigEndian, dataStart: body, dataBytes: declared };
    }
    pos = body + size + (size & 1);
  }
  throw new WavInputError(file, sawFmt ? "malformed WAV: no 'data' chunk" : "malformed WAV: no 'fmt ' chunk");
}

// ---- sample conversion ----------------------------------------------------------------------

type Encoding = 'pcm' | 'float' | 'mulaw' | 'alaw';

interface SampleLayout {
  encoding: Encoding;
  channels: number;
  sampleRate: number;
  /** Bytes per sample in one channel (the container, e.g. 4 for 24-in-32). */
  width: number;
  bitsPerSample: number;
}

function describeLayout(fmt: FmtChunk, file: string): SampleLayout {
  // WAVE_FORMAT_EXTENSIBLE keeps the real format in the first field of the subformat GUID;
  // wavefile ignores it, which would read extensible float as integer PCM.
  const tag = fmt.audioFormat === FORMAT_EXTENSIBLE ? (fmt.subformat[0] ?? 0) & 0xffff : fmt.audioFormat;
  const { numChannels: channels, sampleRate, bitsPerSample: bits, blockAlign } = fmt;
  const tagText = `0x${tag.toString(16).padStart(4, '0')}`;
  if (!Number.isInteger(channels) || channels < 1) {
    throw new WavInputError(file, `unsupported WAV format: ${channels} channels`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 768000) {
    throw new WavInputError(file, `unsupported WAV format: sample rate ${sampleRate} Hz`);
  }
  let encoding: Encoding;
  if (tag === FORMAT_PCM && bits >= 8 && bits <= 32) encoding = 'pcm';
  else if (tag === FORMAT_FLOAT && (bits === 32 || bits === 64)) encoding = 'float';
  else if (tag === FORMAT_MULAW && bits === 8) encoding = 'mulaw';
  else if (tag === FORMAT_ALAW && bits === 8) encoding = 'alaw';
  else {
    const name = FORMAT_NAMES[tag] ?? (tag === FORMAT_PCM || tag === FORMAT_FLOAT ? `${bits}-bit` : 'format');
    throw new WavInputError(file, `unsupported WAV format: ${name} (tag ${tagText}, ${bits} bits); ${CONVERT_HINT}`);
  }
  const width = Math.ceil(bits / 8);
  if (blockAlign !== width * channels) {
    throw new WavInputError(
      file,
      `unsupported WAV format: block align ${blockAlign} does not match ${channels} channel(s) of ${bits} bits`,
    );
  }
  return { encoding, channels, sampleRate, width, bitsPerSample: bits };
}

function sourceFormat(layout: SampleLayout): SourceFormat {
  const { encoding, bitsPerSample: bits } = layout;
  const bitDepth =
    encoding === 'mulaw' ? '8m' : encoding === 'alaw' ? '8a' : encoding === 'float' && bits === 32 ? '32f' : String(bits);
  const container = encoding === 'pcm' || encoding === 'float' ? `${encoding}${bits}` : encoding;
  return { sampleRate: layout.sampleRate, channels: layout.channels, bitDepth, container };
}

/**
 * Average all channels of `frameCount` interleaved sample frames into `out[offset..]`, in -1..1.
 * Done by hand rather than via wavefile's getSamples(): that is ~20x slower on long files and
 * allocates a Float64Array per channel.
 */
function mixToMono(
  data: Buffer,
  layout: SampleLayout,
  bigEndian: boolean,
  frameCount: number,
  out: Float32Array,
  offset: number,
): void {
  const { encoding, channels, width } = layout;
  const norm = 1 / channels;
  const total = frameCount * channels;

  if (encoding === 'mulaw' || encoding === 'alaw') {
    const pcm = (encoding === 'mulaw' ? mulaw : alaw).decode(data.subarray(0, total));
    const scale = norm / 32768;
    for (let f = 0, i = 0; f < frameCount; f++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += pcm[i++]!;
      out[offset + f] = sum * scale;
    }
    return;
  }

  const view = new DataView(data.buffer, data.byteOffset, total * width);
  const le = !bigEndian;
  let read: (at: number) => number;
  let scale = norm;
  if (encoding === 'float') {
    read = width === 4 ? (at) => view.getFloat32(at, le) : (at) => view.getFloat64(at, le);
  } else if (width === 1) {
    read = (at) => view.getUint8(at) - 128; // 8-bit WAV is unsigned
    scale = norm / 128;
  } else if (width === 2) {
    read = (at) => view.getInt16(at, le);
    scale = norm / 32768;
  } else if (width === 3) {
    read = le
      ? (at) => (view.getInt8(at + 2) << 16) | (view.getUint8(at + 1) << 8) | view.getUint8(at)
      : (at) => (view.getInt8(at) << 16) | (view.getUint8(at + 1) << 8) | view.getUint8(at + 2);
    scale = norm / 8388608;
  } else {
    read = (at) => view.getInt32(at, le);
    scale = norm / 2147483648;
  }
  for (let f = 0, at = 0; f < frameCount; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, at += width) sum += read(at);
    const v = sum * scale;
    // Float files may hold NaN/Inf or overs; keep the resampler's input finite and in range.
    out[offset + f] = v > 1 ? 1 : v < -1 ? -1 : v === v ? v : 0;
  }
}

// ---- resampling -----------------------------------------------------------------------------

interface ResampleFilter {
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

function besselI0(x: number): number {
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
function resampleFilter(srcRate: number): ResampleFilter {
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
function resampleTo8k(padded: Float32Array, n: number, filter: ResampleFilter): Float32Array {
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

// ---- decoding -------------------------------------------------------------------------------

/** Decode a WAV (any rate, channel count, PCM/float/G.711 encoding) to mono 8 kHz float. */
export function decodeWavToMono8k(bytes: Buffer, file: string): DecodedAudio {
  if (bytes.length === 0) throw new WavInputError(file, 'file is empty');
  const { bigEndian, dataStart, dataBytes } = locateData(bytes, file);

  let fmt: FmtChunk;
  try {
    const wav = new WaveFile();
    wav.fromBuffer(bytes, false); // header only: we read the samples from the located data chunk
    fmt = wav.fmt as FmtChunk;
  } catch (err) {
    throw new WavInputError(file, `malformed WAV: ${err instanceof Error ? err.message : String(err)}`);
  }
  const layout = describeLayout(fmt, file);
  const source = sourceFormat(layout);
  // A trailing partial sample frame (odd-sized data) is ignored, as players do.
  const n = Math.floor(dataBytes / (layout.width * layout.channels));
  if (n === 0) throw new WavInputError(file, 'no audio: the data chunk is empty');
  const data = bytes.subarray(dataStart, dataStart + dataBytes);
  const durationMs = (n * 1000) / layout.sampleRate;

  if (layout.sampleRate === SAMPLE_RATE) {
    const samples = new Float32Array(n);
    mixToMono(data, layout, bigEndian, n, samples, 0);
    return { samples, durationMs, source };
  }
  const filter = resampleFilter(layout.sampleRate);
  const half = filter.taps / 2;
  const padded = new Float32Array(n + filter.taps + 1);
  mixToMono(data, layout, bigEndian, n, padded, half);
  return { samples: resampleTo8k(padded, n, filter), durationMs, source };
}

function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EISDIR':
      return 'is a directory, not a WAV file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ERR_FS_FILE_TOO_LARGE':
      return 'file too large to load';
    default:
      return `cannot read file: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Read a WAV file and cut it into 20 ms mu-law frames ready for a Twilio media stream. */
export function loadWavAsMulawFrames(path: string): MulawAudio {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new WavInputError(path, readProblem(err));
  }
  const { samples, durationMs, source } = decodeWavToMono8k(bytes, path);

  // Frame count from the source duration, not the resampled length, so rounding cannot add
  // or drop a frame; the exact-integer division keeps whole-frame durations exact.
  const frameCount = Math.ceil(durationMs / FRAME_MS);
  const total = frameCount * FRAME_BYTES;
  const all = Buffer.alloc(total, MULAW_SILENCE);
  all.set(floatToMulaw(samples.subarray(0, Math.min(samples.length, total))), 0);
  const frames: Buffer[] = new Array<Buffer>(frameCount);
  for (let f = 0; f < frameCount; f++) frames[f] = all.subarray(f * FRAME_BYTES, (f + 1) * FRAME_BYTES);
  return { frames, durationMs, source };
}

/** Float samples (-1..1, clipped) to G.711 mu-law bytes. */
export function floatToMulaw(samples: Float32Array): Buffer {
  return Buffer.from(mulaw.encode(floatToPcm16(samples)));
}

/** [-1, 1] floats to 16-bit PCM, rounded and clamped (NaN becomes 0). */
export function floatToPcm16(samples: Float32Array): Int16Array {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * 32767);
    pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return pcm;
}

/** Build a playable WAV (8 kHz mono PCM16) from mu-law frames, e.g. a recorded call leg. */
export function mulawFramesToWav(frames: Buffer[] | Buffer): Buffer {
  const bytes = Buffer.isBuffer(frames) ? frames : Buffer.concat(frames);
  const wav = new WaveFile();
  wav.fromScratch(1, SAMPLE_RATE, '16', mulaw.decode(bytes));
  return Buffer.from(wav.toBuffer());
}

// Squared, normalised linear value of every mu-law byte: RMS becomes a table walk.
const MULAW_SQUARES = (() => {
  const table = new Float64Array(256);
  for (let b = 0; b < 256; b++) {
    const v = mulaw.decodeSample(b) / 32768;
    table[b] = v * v;
  }
  return table;
})();

/** RMS (0..1) of a mu-law frame. Allocation-free: it runs per frame for voice-activity detection. */
export function mulawRms(frame: Uint8Array): number {
  const n = frame.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += MULAW_SQUARES[frame[i]!]!;
  return Math.sqrt(sum / n);
}

// ---- synthetic speech -----------------------------------------------------------------------

export interface SpeechLikeOptions {
  durationMs: number;
  sampleRate: number;
  seed: number;
  utterances: Array<{ startMs: number; endMs: number }>;
}

/** mulberry32: small, fast, deterministic across platforms. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
  const rand = prng(seed);
  const noise = prng(seed ^ 0x5bd1e995);
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
