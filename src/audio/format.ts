// src/audio/: sound, split by role: format.ts (this file: the telephone format every part of
// callsim speaks, 8 kHz G.711 mu-law, mono, in the 20 ms frames Twilio Media Streams carry),
// g711.ts (mu-law both ways and per-frame levels), resample.ts (any rate to 8 kHz), wav.ts (WAV
// in and out), synth.ts (speech-like test audio). It imports nothing else of callsim: Twilio,
// the server and the simulator build on it, never the other way round.

/** Samples per second of telephone audio. */
export const SAMPLE_RATE = 8000;
/** One Media Streams frame. */
export const FRAME_MS = 20;
/** mu-law is one byte per sample: 8 bytes per millisecond at 8 kHz. */
export const MULAW_BYTES_PER_MS = SAMPLE_RATE / 1000;
/** 20 ms of 8 kHz mu-law. */
export const FRAME_BYTES = FRAME_MS * MULAW_BYTES_PER_MS;
/** A mu-law byte that decodes to (near) zero: silence padding. */
export const MULAW_SILENCE = 0xff;

/** Milliseconds of audio in `bytes` of 8 kHz mu-law. */
export function mulawMs(bytes: number): number {
  return bytes / MULAW_BYTES_PER_MS;
}
