// G.711 mu-law both ways, and the per-frame measurements voice-activity detection needs.
// alawmulaw does the codec; the helpers here only adapt its types.
import alawmulaw from 'alawmulaw';

const { mulaw } = alawmulaw;

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

/** mu-law bytes to 16-bit PCM. */
export function mulawToPcm16(bytes: Uint8Array): Int16Array {
  return mulaw.decode(bytes);
}

// ---- A-law and 16-bit PCM, for realtime clients on audio/pcma and audio/pcm -----------------

const { alaw } = alawmulaw;

/** Float samples (-1..1, clipped) to G.711 A-law bytes. */
export function floatToAlaw(samples: Float32Array): Buffer {
  return Buffer.from(alaw.encode(floatToPcm16(samples)));
}

/** A-law bytes to 16-bit PCM. */
export function alawToPcm16(bytes: Uint8Array): Int16Array {
  return alaw.decode(bytes);
}

const ALAW_SQUARES = (() => {
  const table = new Float64Array(256);
  for (let b = 0; b < 256; b++) {
    const v = alaw.decodeSample(b) / 32768;
    table[b] = v * v;
  }
  return table;
})();

/** RMS (0..1) of an A-law frame; allocation-free like mulawRms. */
export function alawRms(frame: Uint8Array): number {
  const n = frame.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += ALAW_SQUARES[frame[i]!]!;
  return Math.sqrt(sum / n);
}

/** RMS (0..1) of little-endian 16-bit PCM bytes (a trailing odd byte is ignored); allocation-free. */
export function pcm16leRms(bytes: Uint8Array): number {
  const n = bytes.length >> 1;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let v = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
    if (v >= 0x8000) v -= 0x10000;
    const x = v / 32768;
    sum += x * x;
  }
  return Math.sqrt(sum / n);
}

/** Float samples (-1..1, clipped) to little-endian 16-bit PCM bytes. */
export function floatToPcm16le(samples: Float32Array): Buffer {
  const pcm = floatToPcm16(samples);
  const out = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i]!, 2 * i);
  return out;
}
