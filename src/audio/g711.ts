// G.711 mu-law and A-law both ways, 16-bit PCM, and the per-frame measurements voice-activity detection needs.
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

// Squared, normalised linear value of every byte of a G.711 law: RMS becomes a table walk.
function squaresTable(decodeSample: (b: number) => number): Float64Array {
  const table = new Float64Array(256);
  for (let b = 0; b < 256; b++) {
    const v = decodeSample(b) / 32768;
    table[b] = v * v;
  }
  return table;
}

function tableRms(table: Float64Array, frame: Uint8Array): number {
  const n = frame.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += table[frame[i]!]!;
  return Math.sqrt(sum / n);
}

const MULAW_SQUARES = squaresTable(mulaw.decodeSample);

/** RMS (0..1) of a mu-law frame. Allocation-free: it runs per frame for voice-activity detection. */
export function mulawRms(frame: Uint8Array): number {
  return tableRms(MULAW_SQUARES, frame);
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

const ALAW_SQUARES = squaresTable(alaw.decodeSample);

/** RMS (0..1) of an A-law frame; allocation-free like mulawRms. */
export function alawRms(frame: Uint8Array): number {
  return tableRms(ALAW_SQUARES, frame);
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
