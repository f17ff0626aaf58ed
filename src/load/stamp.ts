// The send-time stamp the generator writes into each caller frame when the model is its own
// simulator, read back when the frame's audio is appended at the model: the server's forwarding
// latency, with no help from the server. The stamp is the frame's first STAMP_BYTES, each
// 0xF0|nibble: a mu-law code within 0.4 % of zero, so the VAD still hears silence as silence.
// 15 bytes is a multiple of 3, so the stamp's base64 is a clean 20-character prefix.
//
// One clock for every thread and process: CLOCK_MONOTONIC in µs. performance.now() runs on it but
// from a per-thread origin; one offset read at load turns it into machine-wide time without an
// hrtime() array per frame.

export const STAMP_BYTES = 15;
const STAMP_MAGIC = [0xa, 0x5, 0xc] as const;
const STAMP_VALUE_NIBBLES = 12; // 48 bits of µs since the run's epoch (about 9 years)

const [hrS, hrNs] = process.hrtime();
const MONO_OFFSET_MICROS = hrS * 1e6 + hrNs / 1e3 - performance.now() * 1e3;

/** CLOCK_MONOTONIC in µs, the same in every thread and process of the machine. */
export function monoMicros(): number {
  return MONO_OFFSET_MICROS + performance.now() * 1e3;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** base64 of the three stamp bytes (0xF0|a, 0xF0|b, 0xF0|c), by the 12-bit value abc. */
const TRIPLE_B64: readonly string[] = (() => {
  const table = new Array<string>(4096);
  for (let v = 0; v < 4096; v++) {
    const n = ((0xf0 | (v >> 8)) << 16) | ((0xf0 | ((v >> 4) & 0xf)) << 8) | (0xf0 | (v & 0xf));
    table[v] = B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  return table;
})();
const MAGIC_B64 = TRIPLE_B64[(STAMP_MAGIC[0] << 8) | (STAMP_MAGIC[1] << 4) | STAMP_MAGIC[2]]!;

/** base64 of the STAMP_BYTES stamp bytes carrying `micros` (since the run's epoch). */
export function stampBase64(micros: number): string {
  const v = Math.max(0, Math.round(micros));
  // 48 bits as two 24-bit halves: bit operators reach only 32.
  const hi = Math.floor(v / 0x1000000) & 0xffffff;
  const lo = v & 0xffffff;
  return MAGIC_B64 + TRIPLE_B64[hi >> 12]! + TRIPLE_B64[hi & 0xfff]! + TRIPLE_B64[lo >> 12]! + TRIPLE_B64[lo & 0xfff]!;
}

/** The stamp in decoded audio (µs since the epoch), or -1 when the frame carries none. */
export function readStamp(audio: Uint8Array): number {
  if (audio.length < STAMP_BYTES || audio[0] !== (0xf0 | STAMP_MAGIC[0]) || audio[1] !== (0xf0 | STAMP_MAGIC[1]) || audio[2] !== (0xf0 | STAMP_MAGIC[2])) return -1;
  let v = 0;
  for (let i = 0; i < STAMP_VALUE_NIBBLES; i++) {
    const b = audio[3 + i]!;
    if ((b & 0xf0) !== 0xf0) return -1;
    v = v * 16 + (b & 0xf);
  }
  return v;
}
