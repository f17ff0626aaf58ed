// The telephone audio format every part of callsim speaks: 8 kHz G.711 mu-law, mono, cut into
// the 20 ms frames Twilio Media Streams carry. Named once here; nothing in audio/ knows Twilio.

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
