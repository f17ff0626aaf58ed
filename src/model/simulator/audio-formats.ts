// The three audio formats of the GA Realtime API, both ways: how long a chunk is, how loud it is
// (for VAD), and the bytes of an answer in each. pcm is 16-bit little-endian at 24 kHz only
// (docs: RealtimeAudioFormats.AudioPCM, "Only a 24kHz sample rate is supported"); pcmu and pcma
// are G.711 at 8 kHz.
import { alawRms, floatToAlaw, floatToMulaw, floatToPcm16le, mulawRms, pcm16leRms } from '../../audio/g711.js';
import { upsample8kTo24k } from '../../audio/upsample.js';

export type AudioFormatType = 'audio/pcm' | 'audio/pcmu' | 'audio/pcma';
/** The format object the API echoes in session and response configs. */
export type AudioFormat = { type: 'audio/pcm'; rate: 24000 } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };

export const DEFAULT_AUDIO_FORMAT: AudioFormat = { type: 'audio/pcm', rate: 24000 };

export function formatObject(type: AudioFormatType): AudioFormat {
  return type === 'audio/pcm' ? { type, rate: 24000 } : { type };
}

/** Bytes per millisecond of audio. */
export function bytesPerMs(type: AudioFormatType): number {
  return type === 'audio/pcm' ? 48 : 8;
}

/** Bytes per VAD window (20 ms, one Twilio frame of G.711). */
export function windowBytes(type: AudioFormatType): number {
  return 20 * bytesPerMs(type);
}

/** RMS (0..1) of a chunk in this format; allocation-free. */
export function chunkRms(type: AudioFormatType, chunk: Uint8Array): number {
  return type === 'audio/pcmu' ? mulawRms(chunk) : type === 'audio/pcma' ? alawRms(chunk) : pcm16leRms(chunk);
}

/** 8 kHz float samples in this format (pcm is upsampled to 24 kHz). */
export function encode8k(type: AudioFormatType, samples8k: Float32Array): Buffer {
  if (type === 'audio/pcmu') return floatToMulaw(samples8k);
  if (type === 'audio/pcma') return floatToAlaw(samples8k);
  return floatToPcm16le(upsample8kTo24k(samples8k));
}

/** Samples per second of this format. */
export function sampleRate(type: AudioFormatType): number {
  return type === 'audio/pcm' ? 24000 : 8000;
}

/** Float samples at this format's own rate, encoded. */
export function encodeNative(type: AudioFormatType, samples: Float32Array): Buffer {
  if (type === 'audio/pcmu') return floatToMulaw(samples);
  if (type === 'audio/pcma') return floatToAlaw(samples);
  return floatToPcm16le(samples);
}
