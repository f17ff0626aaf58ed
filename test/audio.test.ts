import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import alawmulaw from 'alawmulaw';
import {
  WavInputError,
  decodeWavToMono8k,
  loadWavAsMulawFrames,
  mulawFramesToWav,
  type MulawAudio,
} from '../src/audio/wav.js';
import { mulawRms } from '../src/audio/g711.js';
import { synthesizeSpeechLike } from '../src/audio/synth.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';

const { WaveFile } = wavefile;
const { mulaw, alaw } = alawmulaw;
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

let tmp: string;
let fileCounter = 0;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'callsim-audio-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function writeTmp(bytes: Uint8Array, name = `in-${fileCounter++}.wav`): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

const dB = (ratio: number): number => 20 * Math.log10(ratio);

function rms(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! ** 2;
  return Math.sqrt(sum / Math.max(1, to - from));
}

/** Decoded linear samples (-1..1) of all frames, back to back. */
function framesToFloat(frames: Buffer[]): Float32Array {
  const pcm = mulaw.decode(Buffer.concat(frames));
  return Float32Array.from(pcm, (v) => v / 32768);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function expectWavInputError(fn: () => unknown, file: string, problem: RegExp): void {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(WavInputError);
  const wavErr = err as WavInputError;
  expect(wavErr.file).toBe(file);
  expect(wavErr.message).toContain(file);
  expect(wavErr.message).toBe(`${file}: ${wavErr.problem}`);
  expect(wavErr.message).not.toContain('\n');
  expect(wavErr.problem).toMatch(problem);
}

/** Contract every loaded file must meet, for a source of `sourceSamples` at `rate`. */
function expectFrameContract(audio: MulawAudio, sourceSamples: number, rate: number): void {
  const durationMs = (sourceSamples * 1000) / rate;
  expect(audio.durationMs).toBeCloseTo(durationMs, 6);
  expect(audio.frames.length).toBe(Math.ceil(durationMs / 20));
  for (const frame of audio.frames) expect(frame.length).toBe(FRAME_BYTES);
  // Everything past the end of the source audio is 0xff padding.
  const valid = Math.ceil((sourceSamples * 8000) / rate);
  const last = audio.frames[audio.frames.length - 1]!;
  const padFrom = valid - (audio.frames.length - 1) * FRAME_BYTES;
  expect(padFrom).toBeGreaterThan(0);
  expect(padFrom).toBeLessThanOrEqual(FRAME_BYTES);
  for (let i = padFrom; i < FRAME_BYTES; i++) expect(last[i]).toBe(MULAW_SILENCE);
}

// ---- hand-built WAVs for cases wavefile cannot write ----------------------------------------

function chunk(id: string, body: Buffer, declared = body.length): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(declared >>> 0, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
}

function riff(chunks: Buffer[], container: 'RIFF' | 'RF64' = 'RIFF'): Buffer {
  const body = Buffer.concat(chunks);
  const head = Buffer.alloc(12);
  head.write(container, 0, 'latin1');
  head.writeUInt32LE(container === 'RF64' ? 0xffffffff : 4 + body.length, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, body]);
}

function fmt(tag: number, channels: number, rate: number, bits: number, subTag?: number): Buffer {
  const body = Buffer.alloc(subTag === undefined ? 16 : 40);
  const blockAlign = channels * Math.ceil(bits / 8);
  body.writeUInt16LE(tag, 0);
  body.writeUInt16LE(channels, 2);
  body.writeUInt32LE(rate, 4);
  body.writeUInt32LE(rate * blockAlign, 8);
  body.writeUInt16LE(blockAlign, 12);
  body.writeUInt16LE(bits, 14);
  if (subTag !== undefined) {
    body.writeUInt16LE(22, 16); // cbSize
    body.writeUInt16LE(bits, 18); // valid bits
    body.writeUInt32LE(channels === 1 ? 0x4 : 0x3, 20); // channel mask
    body.writeUInt32LE(subTag, 24); // GUID xxxxxxxx-0000-0010-8000-00aa00389b71
    Buffer.from([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]).copy(body, 28);
  }
  return chunk('fmt ', body);
}

function pcm16Body(samples: Float32Array): Buffer {
  const body = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => body.writeInt16LE(Math.round(v * 32767), i * 2));
  return body;
}

function tone(freq: number, rate: number, seconds: number, amplitude = 0.5): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

// ---- the format matrix ----------------------------------------------------------------------

type Channels = Float32Array[];
type BitDepth = '8' | '16' | '24' | '32' | '32f' | '64' | '8m' | '8a';

const clampRound = (v: number, max: number): number => Math.max(-max - 1, Math.min(max, Math.round(v * max)));
const toInt16 = (ch: Float32Array): Int16Array => Int16Array.from(ch, (v) => clampRound(v, 32767));

// How wavefile wants samples for each bit depth (8-bit PCM is unsigned; G.711 comes pre-encoded).
const ENCODERS: Record<BitDepth, (ch: Float32Array) => ArrayLike<number>> = {
  '8': (ch) => Uint8Array.from(ch, (v) => clampRound(v, 127) + 128),
  '16': toInt16,
  '24': (ch) => Int32Array.from(ch, (v) => clampRound(v, 8388607)),
  '32': (ch) => Float64Array.from(ch, (v) => clampRound(v, 2147483647)),
  '32f': (ch) => ch,
  '64': (ch) => Float64Array.from(ch),
  '8m': (ch) => mulaw.encode(toInt16(ch)),
  '8a': (ch) => alaw.encode(toInt16(ch)),
};
const CONTAINERS: Record<BitDepth, string> = {
  '8': 'pcm8',
  '16': 'pcm16',
  '24': 'pcm24',
  '32': 'pcm32',
  '32f': 'float32',
  '64': 'float64',
  '8m': 'mulaw',
  '8a': 'alaw',
};

function buildWav(channels: Channels, rate: number, bitDepth: BitDepth, options?: { container: 'RIFX' }): Buffer {
  const wav = new WaveFile();
  const encoded = channels.map((ch) => ENCODERS[bitDepth](ch));
  wav.fromScratch(channels.length, rate, bitDepth, channels.length === 1 ? encoded[0]! : encoded, options);
  return Buffer.from(wav.toBuffer());
}

const MATRIX_MS = 834; // not a whole number of frames: exercises padding
const speechCache = new Map<string, Channels>();
function speech(rate: number, channelCount: number): Channels {
  const key = `${rate}/${channelCount}`;
  let channels = speechCache.get(key);
  if (!channels) {
    const mono = synthesizeSpeechLike({
      durationMs: MATRIX_MS,
      sampleRate: rate,
      seed: 42,
      utterances: [{ startMs: 100, endMs: 760 }],
    });
    channels = [mono];
    for (let c = 1; c < channelCount; c++) {
      // Each extra channel quieter and a few samples late: mixing must average, not pick one.
      const ch = new Float32Array(mono.length);
      for (let i = 3 * c; i < mono.length; i++) ch[i] = mono[i - 3 * c]! * (1 - 0.15 * c);
      channels.push(ch);
    }
    speechCache.set(key, channels);
  }
  return channels;
}

function monoMix(channels: Channels): Float32Array {
  const out = new Float32Array(channels[0]!.length);
  for (const ch of channels) for (let i = 0; i < out.length; i++) out[i]! += ch[i]! / channels.length;
  return out;
}

const BIT_DEPTHS: BitDepth[] = ['8', '16', '24', '32', '32f', '64', '8m', '8a'];
const RATES = [8000, 11025, 16000, 22050, 44100, 48000];
const CASES = BIT_DEPTHS.flatMap((bitDepth) =>
  RATES.flatMap((rate) => [1, 2].map((channels) => ({ bitDepth, rate, channels }))),
);

describe('loadWavAsMulawFrames: formats x rates x channels', () => {
  it.each(CASES)('$bitDepth-bit @ $rate Hz, $channels ch', ({ bitDepth, rate, channels }) => {
    const source = speech(rate, channels);
    const path = writeTmp(buildWav(source, rate, bitDepth));
    const audio = loadWavAsMulawFrames(path);

    expect(audio.source).toEqual({ sampleRate: rate, channels, bitDepth, container: CONTAINERS[bitDepth] });
    expectFrameContract(audio, source[0]!.length, rate);

    // Same level as the source (per unit time, so padding does not count) and clearly not silent.
    const decoded = framesToFloat(audio.frames);
    const valid = Math.ceil((source[0]!.length * 8000) / rate);
    const decodedRms = rms(decoded, 0, valid);
    const sourceRms = rms(monoMix(source));
    expect(dB(decodedRms)).toBeGreaterThan(-30);
    expect(Math.abs(dB(decodedRms / sourceRms))).toBeLessThan(1);
  });
});

describe('other containers and layouts', () => {
  it('reads big-endian RIFX (16 and 24 bit)', () => {
    const [mono] = speech(16000, 1);
    for (const bitDepth of ['16', '24'] as const) {
      const audio = loadWavAsMulawFrames(writeTmp(buildWav([mono!], 16000, bitDepth, { container: 'RIFX' })));
      expectFrameContract(audio, mono!.length, 16000);
      expect(Math.abs(dB(rms(framesToFloat(audio.frames)) / rms(mono!)))).toBeLessThan(1);
    }
  });

  it('averages more than two channels', () => {
    const channels = speech(48000, 6);
    const audio = loadWavAsMulawFrames(writeTmp(buildWav(channels, 48000, '16')));
    expect(audio.source.channels).toBe(6);
    expectFrameContract(audio, channels[0]!.length, 48000);
    const valid = Math.ceil((channels[0]!.length * 8000) / 48000);
    expect(Math.abs(dB(rms(framesToFloat(audio.frames), 0, valid) / rms(monoMix(channels))))).toBeLessThan(1);
  });

  it('reads WAVE_FORMAT_EXTENSIBLE float32 as float, not integer PCM', () => {
    const signal = tone(1000, 16000, 0.5);
    const body = Buffer.alloc(signal.length * 4);
    signal.forEach((v, i) => body.writeFloatLE(v, i * 4));
    const audio = loadWavAsMulawFrames(writeTmp(riff([fmt(0xfffe, 1, 16000, 32, 3), chunk('data', body)])));
    expect(audio.source.container).toBe('float32');
    expect(audio.frames.length).toBe(25);
    expect(Math.abs(dB(rms(framesToFloat(audio.frames), 400, 3600) / rms(signal)))).toBeLessThan(0.5);
  });

  it('reads RF64 (64-bit sizes in ds64)', () => {
    const signal = tone(500, 8000, 0.3);
    const data = pcm16Body(signal);
    const ds64 = Buffer.alloc(28);
    ds64.writeUInt32LE(data.length + 100, 0); // riff size (low dword), high = 0
    ds64.writeUInt32LE(data.length, 8); // data size (low dword), high = 0
    ds64.writeUInt32LE(signal.length, 16); // sample count
    const bytes = riff([chunk('ds64', ds64), fmt(1, 1, 8000, 16), chunk('data', data, 0xffffffff)], 'RF64');
    const audio = loadWavAsMulawFrames(writeTmp(bytes));
    expectFrameContract(audio, signal.length, 8000);
  });

  it('accepts a streamed WAV whose data size is the 0xffffffff placeholder', () => {
    const signal = tone(500, 8000, 0.25);
    const bytes = riff([fmt(1, 1, 8000, 16), chunk('data', pcm16Body(signal), 0xffffffff)]);
    expectFrameContract(loadWavAsMulawFrames(writeTmp(bytes)), signal.length, 8000);
  });

  it('ignores a trailing partial sample and skips unknown chunks', () => {
    const signal = tone(500, 8000, 0.1);
    const data = Buffer.concat([pcm16Body(signal), Buffer.from([0x12])]);
    const bytes = riff([chunk('JUNK', Buffer.alloc(27)), fmt(1, 1, 8000, 16), chunk('data', data)]);
    expectFrameContract(loadWavAsMulawFrames(writeTmp(bytes)), signal.length, 8000);
  });

  it('counts frames from the source duration at exact frame boundaries', () => {
    const cases: Array<[number, number, number]> = [
      // [rate, samples, expected frames]
      [44100, 44100, 50], // exactly 1 s: no extra frame
      [44100, 44101, 51], // one sample over: one more frame
      [11025, 11025 * 3, 150],
      [22050, 441, 1], // exactly 20 ms
      [48000, 1, 1],
    ];
    for (const [rate, samples, frames] of cases) {
      const audio = loadWavAsMulawFrames(writeTmp(buildWav([tone(700, rate, samples / rate, 0.3)], rate, '16')));
      expect(audio.frames.length).toBe(frames);
    }
  });

  it('keeps audio right up to the padding', () => {
    // 1010 ms of loud tone: the last frame is 80 samples of tone then 80 bytes of 0xff.
    const audio = loadWavAsMulawFrames(writeTmp(buildWav([tone(440, 8000, 1.01, 0.8)], 8000, '16')));
    expect(audio.frames.length).toBe(51);
    const last = audio.frames[50]!;
    expect(mulawRms(last.subarray(0, 80))).toBeGreaterThan(0.3);
    expect([...last.subarray(80)].every((b) => b === MULAW_SILENCE)).toBe(true);
  });
});

describe('resampler', () => {
  const level = (freq: number, rate: number): number => {
    const input = tone(freq, rate, 1);
    const { samples } = decodeWavToMono8k(buildWav([input], rate, '32f'), 'tone.wav');
    expect(samples.length).toBe(8000);
    return dB(rms(samples, 400, 7600) / rms(input)); // skip the filter's edge transients
  };

  it('removes content above 4 kHz instead of aliasing it', () => {
    expect(level(6000, 48000)).toBeLessThan(-30);
    expect(level(6000, 44100)).toBeLessThan(-30);
    expect(level(5000, 16000)).toBeLessThan(-30);
    expect(level(4500, 11025)).toBeLessThan(-30);
  });

  it('passes the telephone band', () => {
    for (const rate of [48000, 44100, 22050, 16000, 11025]) {
      expect(Math.abs(level(1000, rate))).toBeLessThan(1);
      expect(Math.abs(level(3000, rate))).toBeLessThan(1);
    }
  });

  it('upsamples rates below 8 kHz', () => {
    const { samples, durationMs } = decodeWavToMono8k(buildWav([tone(1000, 6000, 1)], 6000, '16'), 'low.wav');
    expect(durationMs).toBe(1000);
    expect(samples.length).toBe(8000);
    expect(Math.abs(dB(rms(samples, 400, 7600) / (0.5 / Math.SQRT2)))).toBeLessThan(1);
  });
});

describe('bad input', () => {
  it('missing file', () => {
    const path = join(tmp, 'does-not-exist.wav');
    expectWavInputError(() => loadWavAsMulawFrames(path), path, /^file not found$/);
  });

  it('empty file', () => {
    const path = join(FIXTURES, 'invalid', 'empty.wav');
    expectWavInputError(() => loadWavAsMulawFrames(path), path, /^file is empty$/);
  });

  it('not a WAV file', () => {
    const path = join(FIXTURES, 'invalid', 'not-a-wav.wav');
    expectWavInputError(() => loadWavAsMulawFrames(path), path, /^not a WAV file \(no RIFF\/WAVE header\)$/);
  });

  it('truncated file', () => {
    const path = join(FIXTURES, 'invalid', 'truncated.wav');
    expectWavInputError(
      () => loadWavAsMulawFrames(path),
      path,
      /^truncated: header declares 96000 bytes of audio, file holds 47978$/,
    );
  });

  it('a directory', () => {
    expectWavInputError(() => loadWavAsMulawFrames(tmp), tmp, /directory/);
  });

  it('unsupported encodings', () => {
    const wav = new WaveFile();
    wav.fromScratch(1, 8000, '16', new Int16Array(800));
    wav.toIMAADPCM();
    const path = writeTmp(wav.toBuffer());
    expectWavInputError(() => loadWavAsMulawFrames(path), path, /^unsupported WAV format: IMA ADPCM/);
    const mp3 = riff([fmt(0x55, 1, 8000, 0), chunk('data', Buffer.alloc(100))]);
    expectWavInputError(() => decodeWavToMono8k(mp3, 'a.wav'), 'a.wav', /^unsupported WAV format: MP3/);
  });

  it('structurally broken headers', () => {
    const data = chunk('data', Buffer.alloc(100));
    const f = fmt(1, 1, 8000, 16);
    expectWavInputError(() => decodeWavToMono8k(riff([data]), 'x.wav'), 'x.wav', /no 'fmt ' chunk/);
    expectWavInputError(() => decodeWavToMono8k(riff([f]), 'x.wav'), 'x.wav', /no 'data' chunk/);
    expectWavInputError(() => decodeWavToMono8k(riff([f, chunk('data', Buffer.alloc(0))]), 'x.wav'), 'x.wav', /no audio/);
    expectWavInputError(() => decodeWavToMono8k(riff([fmt(1, 0, 8000, 16), data]), 'x.wav'), 'x.wav', /0 channels/);
    expectWavInputError(() => decodeWavToMono8k(riff([fmt(1, 1, 0, 16), data]), 'x.wav'), 'x.wav', /sample rate 0/);
  });

  it('never throws anything but WavInputError on damaged files', () => {
    const good = buildWav([tone(300, 8000, 0.05)], 8000, '16');
    const check = (bytes: Buffer): void => {
      try {
        decodeWavToMono8k(bytes, 'fuzz.wav');
      } catch (err) {
        expect(err).toBeInstanceOf(WavInputError);
      }
    };
    for (let len = 0; len <= 60; len++) check(good.subarray(0, len));
    let seed = 1;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(good);
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) bytes[Math.floor(rand() * 48)] = Math.floor(rand() * 256);
      check(bytes);
    }
  });
});

describe('committed fixtures', () => {
  const cases = [
    { name: 'hello-8k-mulaw.wav', frames: 100, durationMs: 2000, rate: 8000, channels: 1, bitDepth: '8m', lastSpeechMs: 1100 },
    { name: 'question-16k-pcm16.wav', frames: 150, durationMs: 3000, rate: 16000, channels: 1, bitDepth: '16', lastSpeechMs: 2150 },
    { name: 'greeting-44k-stereo.wav', frames: 83, durationMs: 1650, rate: 44100, channels: 2, bitDepth: '16', lastSpeechMs: 800 },
  ];

  it.each(cases)('$name decodes to $frames frames and ends in silence', (c) => {
    const audio = loadWavAsMulawFrames(join(FIXTURES, c.name));
    expect(audio.frames.length).toBe(c.frames);
    expect(audio.durationMs).toBeCloseTo(c.durationMs, 6);
    expect(audio.source).toMatchObject({ sampleRate: c.rate, channels: c.channels, bitDepth: c.bitDepth });
    const levels = audio.frames.map((f) => mulawRms(f));
    expect(Math.max(...levels)).toBeGreaterThan(0.1); // there is speech
    // >= 800 ms of (near) silence at the end, starting right after the last utterance.
    const tailFrom = Math.ceil(c.lastSpeechMs / 20) + 1;
    expect(c.frames - tailFrom).toBeGreaterThanOrEqual(800 / 20);
    for (const level of levels.slice(tailFrom)) expect(level).toBeLessThan(0.001);
  });

  it('question fixture has >= 600 ms of silence between its utterances', () => {
    const levels = loadWavAsMulawFrames(join(FIXTURES, 'question-16k-pcm16.wav')).frames.map((f) => mulawRms(f));
    // Utterances at 200-1000 ms and 1700-2150 ms: frames 51..84 lie wholly inside the gap.
    for (const level of levels.slice(51, 85)) expect(level).toBeLessThan(0.001);
    expect(Math.max(...levels.slice(10, 50))).toBeGreaterThan(0.1);
    expect(Math.max(...levels.slice(85, 107))).toBeGreaterThan(0.1);
  });
});

describe('mulawFramesToWav', () => {
  it('round-trips frames to a playable 8 kHz mono PCM16 WAV', () => {
    const { frames } = loadWavAsMulawFrames(join(FIXTURES, 'question-16k-pcm16.wav'));
    for (const input of [frames, Buffer.concat(frames)]) {
      const wav = new WaveFile();
      wav.fromBuffer(mulawFramesToWav(input));
      const f = wav.fmt as { sampleRate: number; numChannels: number; bitsPerSample: number; audioFormat: number };
      expect(f).toMatchObject({ sampleRate: 8000, numChannels: 1, bitsPerSample: 16, audioFormat: 1 });
      const samples = wav.getSamples(false, Int16Array);
      expect(samples.length).toBe(frames.length * FRAME_BYTES);
      expect(Array.from(samples)).toEqual(Array.from(mulaw.decode(Buffer.concat(frames))));
    }
  });

  it('loads back through loadWavAsMulawFrames unchanged', () => {
    const { frames } = loadWavAsMulawFrames(join(FIXTURES, 'hello-8k-mulaw.wav'));
    const again = loadWavAsMulawFrames(writeTmp(mulawFramesToWav(frames)));
    expect(Buffer.concat(again.frames).equals(Buffer.concat(frames))).toBe(true);
  });
});

describe('mulawRms', () => {
  it('matches a direct computation', () => {
    expect(mulawRms(Buffer.alloc(160, MULAW_SILENCE))).toBe(0);
    expect(mulawRms(new Uint8Array(0))).toBe(0);
    const frame = Uint8Array.from({ length: 160 }, (_, i) => (i * 97 + 13) & 0xff);
    const direct = rms(Array.from(mulaw.decode(frame), (v) => v / 32768));
    expect(mulawRms(frame)).toBeCloseTo(direct, 12);
    const loud = mulaw.encode(Int16Array.from(tone(1000, 8000, 0.02, 0.5), (v) => Math.round(v * 32767)));
    expect(dB(mulawRms(loud) / (0.5 / Math.SQRT2))).toBeCloseTo(0, 0);
  });
});

describe('synthesizeSpeechLike', () => {
  const options = {
    durationMs: 3000,
    sampleRate: 16000,
    seed: 9,
    utterances: [
      { startMs: 200, endMs: 1100 },
      { startMs: 1800, endMs: 2400 },
    ],
  };

  it('is deterministic per seed', () => {
    const a = synthesizeSpeechLike(options);
    expect(a.length).toBe(48000);
    expect(synthesizeSpeechLike(options)).toEqual(a);
    expect(synthesizeSpeechLike({ ...options, seed: 10 })).not.toEqual(a);
  });

  it('is silent outside utterances and speech-level inside', () => {
    const a = synthesizeSpeechLike(options);
    const at = (ms: number): number => (ms * 16000) / 1000;
    for (const [from, to] of [[0, 200], [1100, 1800], [2400, 3000]] as const) {
      expect(rms(a, at(from), at(to))).toBe(0);
    }
    let peak = 0;
    for (const v of a) peak = Math.max(peak, Math.abs(v));
    expect(dB(peak)).toBeCloseTo(-6, 1);
    const speechRms = Math.sqrt((rms(a, at(200), at(1100)) ** 2 * 900 + rms(a, at(1800), at(2400)) ** 2 * 600) / 1500);
    expect(dB(speechRms)).toBeGreaterThan(-24);
    expect(dB(speechRms)).toBeLessThan(-16);
  });

  it('has a syllable-rate envelope', () => {
    const a = synthesizeSpeechLike({ ...options, utterances: [{ startMs: 0, endMs: 3000 }] });
    // 20 ms frame levels: a ~4 Hz syllable rhythm means about 12 loud/quiet cycles in 3 s.
    const levels = Array.from({ length: 150 }, (_, f) => rms(a, f * 320, (f + 1) * 320));
    const threshold = Math.max(...levels) * 0.3;
    let rises = 0;
    for (let f = 1; f < levels.length; f++) if (levels[f - 1]! < threshold && levels[f]! >= threshold) rises++;
    expect(rises).toBeGreaterThanOrEqual(8);
    expect(rises).toBeLessThanOrEqual(16);
  });
});
