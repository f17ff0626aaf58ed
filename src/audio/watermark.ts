// A per-call watermark in 8 kHz mu-law, so the model side can tell which call an agent's audio
// came from without the agent's help. It lives in the least significant bit of near-silent bytes
// only: the "carriers", the bytes of mu-law's lowest segment (|x| ≤ 120 of 32767, below -48 dBFS),
// whose last bit moves the sample by one step of 8 (-72 dBFS). Flipping that bit keeps a byte a
// carrier, so a reader finds the same carriers the writer used without knowing the original.
// Every 20 ms frame with enough carriers (silence, pauses, the quiet edges of speech) carries the
// whole code: a marker, the call's 24-bit tag, the frame's index and a CRC-8. A frame with too few
// (loud speech) is sent unchanged. Bytes pass through any agent that forwards mu-law untouched;
// audio it transcodes loses the mark, and the witness then says so.
import { FRAME_BYTES } from './format.js';

/** Bits of one frame's code: 8 marker + 24 tag + 16 frame index + 8 CRC. */
export const WATERMARK_BITS = 56;
const MARKER = 0xc5;
/** The largest tag (24 bits). */
export const MAX_WATERMARK_TAG = 0xffffff;

/** A byte of mu-law's lowest segment (exponent 0, either sign): its last bit is free. */
export function isCarrier(byte: number): boolean {
  return (byte & 0x70) === 0x70;
}

/** The byte as a fingerprint of audio should read it: a carrier with its last bit set, so the mark never changes what it hashes. */
export function unmarkedByte(byte: number): number {
  return (byte & 0x70) === 0x70 ? byte | 1 : byte;
}

function crc8(bytes: readonly number[]): number {
  // CRC-8/ATM (polynomial 0x07): enough to reject the odd natural frame that looks like a code.
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function codeBytes(tag: number, index: number): number[] {
  const body = [MARKER, (tag >>> 16) & 0xff, (tag >>> 8) & 0xff, tag & 0xff, (index >>> 8) & 0xff, index & 0xff];
  return [...body, crc8(body)];
}

/**
 * Frame `index` of a call tagged `tag`, watermarked: a copy when it has room for the code (at
 * least WATERMARK_BITS carriers), else the frame itself, unchanged.
 */
export function watermarkFrame(frame: Buffer, tag: number, index: number): Buffer {
  let carriers = 0;
  for (let i = 0; i < frame.length && carriers < WATERMARK_BITS; i++) if (isCarrier(frame[i]!)) carriers += 1;
  if (carriers < WATERMARK_BITS) return frame;
  const code = codeBytes(tag, index & 0xffff);
  const out = Buffer.from(frame);
  let bit = 0;
  for (let i = 0; i < out.length && bit < WATERMARK_BITS; i++) {
    const b = out[i]!;
    if (!isCarrier(b)) continue;
    const value = (code[bit >> 3]! >> (7 - (bit & 7))) & 1;
    out[i] = (b & 0xfe) | value;
    bit += 1;
  }
  return out;
}

export interface WatermarkHit {
  /** Byte offset of the frame in the audio read. */
  offset: number;
  tag: number;
  /** The frame's index in its call, modulo 65536. */
  index: number;
}

function readFrame(audio: Uint8Array, start: number): WatermarkHit | null {
  const code = [0, 0, 0, 0, 0, 0, 0];
  let bit = 0;
  for (let i = start; i < start + FRAME_BYTES && bit < WATERMARK_BITS; i++) {
    const b = audio[i]!;
    if (!isCarrier(b)) continue;
    code[bit >> 3] = (code[bit >> 3]! << 1) | (b & 1);
    bit += 1;
  }
  if (bit < WATERMARK_BITS || code[0] !== MARKER || crc8(code.slice(0, 6)) !== code[6]) return null;
  return { offset: start, tag: (code[1]! << 16) | (code[2]! << 8) | code[3]!, index: (code[4]! << 8) | code[5]! };
}

/**
 * Every watermarked frame in `audio`, read at 20 ms frame boundaries from `align` (0: the audio
 * starts on a frame, as it does when an agent forwards whole frames).
 */
export function readWatermarks(audio: Uint8Array, align = 0): WatermarkHit[] {
  const hits: WatermarkHit[] = [];
  for (let at = align; at + FRAME_BYTES <= audio.length; at += FRAME_BYTES) {
    const hit = readFrame(audio, at);
    if (hit !== null) hits.push(hit);
  }
  return hits;
}

/**
 * The watermarks of `audio` wherever its frames start: at the alignment that reads the most
 * (a window straddling two frames can read the second's code when the first's part of it has no
 * carriers, but the frames' own grid reads more). For short stretches: it reads 160 times.
 */
export function findWatermarks(audio: Uint8Array): WatermarkHit[] {
  let best: WatermarkHit[] = readWatermarks(audio, 0);
  for (let align = 1; align < FRAME_BYTES && align + FRAME_BYTES <= audio.length; align++) {
    const hits = readWatermarks(audio, align);
    if (hits.length > best.length) best = hits;
  }
  return best;
}
