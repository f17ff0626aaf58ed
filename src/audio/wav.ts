// WAV in, 8 kHz mu-law frames out (and back). wavefile parses the container; the chunk walk
// and the sample conversion are ours (see below for why); g711.ts and resample.ts do the rest.

import { readFileSync } from 'node:fs';
import wavefile from 'wavefile';
import alawmulaw from 'alawmulaw';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from './format.js';
import { floatToMulaw } from './g711.js';
import { resampleFilter, resampleTo8k } from './resample.js';

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

/** Build a playable WAV (8 kHz mono PCM16) from mu-law frames, e.g. a recorded call leg. */
export function mulawFramesToWav(frames: Buffer[] | Buffer): Buffer {
  const bytes = Buffer.isBuffer(frames) ? frames : Buffer.concat(frames);
  const wav = new WaveFile();
  wav.fromScratch(1, SAMPLE_RATE, '16', mulaw.decode(bytes));
  return Buffer.from(wav.toBuffer());
}


/** Build a playable two-channel WAV (8 kHz PCM16) from its left and right samples (the shorter padded with silence). */
export function stereoPcm16ToWav(left: Int16Array, right: Int16Array): Buffer {
  const length = Math.max(left.length, right.length);
  const pad = (channel: Int16Array): Int16Array => (channel.length === length ? channel : Int16Array.from({ length }, (_, i) => channel[i] ?? 0));
  const wav = new WaveFile();
  wav.fromScratch(2, SAMPLE_RATE, '16', [pad(left), pad(right)]);
  return Buffer.from(wav.toBuffer());
}
