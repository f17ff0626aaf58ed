// Transcripts without speech recognition: a manifest names WAV clips and their words, and the
// simulator recognises a caller's turn as one of them by fingerprint: the FNV-1a hash of each
// 20 ms mu-law frame of the clip, as callsim's fake Twilio cuts it. That is exact for a server
// that passes Twilio's mu-law through unchanged (the common case); audio it cannot match
// (transcoded, or not a known clip) gets a neutral placeholder. The hash skips the last bit of
// near-silent bytes, where the gate's per-call watermark lives (audio/watermark.ts): a
// watermarked clip is still the clip.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { FRAME_BYTES } from '../../audio/format.js';
import { mulawRms } from '../../audio/g711.js';
import { loadWavAsMulawFrames } from '../../audio/wav.js';
import { unmarkedByte } from '../../audio/watermark.js';

/** What a turn the simulator cannot match is transcribed as. */
export const UNRECOGNISED_TRANSCRIPT = '[inaudible]';
const MIN_MATCHING_FRAMES = 3;
const SILENCE_RMS = 0.01;

const manifestSchema = z.union([
  z.strictObject({ clips: z.array(z.strictObject({ file: z.string().min(1), transcript: z.string() })) }),
  z.record(z.string(), z.string()),
]);

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ unmarkedByte(bytes[i]!), 0x01000193) >>> 0;
  return h;
}

export class TranscriptIndex {
  private readonly frames = new Map<number, number>();
  readonly clips: Array<{ file: string; transcript: string; frames: number }> = [];

  /** Reads a manifest (JSON or YAML): `{clips: [{file, transcript}]}` or `{ "file.wav": "words" }`; paths are relative to it. */
  static load(manifestPath: string): TranscriptIndex {
    const parsed = manifestSchema.safeParse(parseYaml(readFileSync(manifestPath, 'utf8')));
    if (!parsed.success) throw new Error(`invalid transcript manifest ${manifestPath}: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
    const entries = 'clips' in parsed.data && Array.isArray(parsed.data.clips)
      ? (parsed.data.clips as Array<{ file: string; transcript: string }>)
      : Object.entries(parsed.data as Record<string, string>).map(([file, transcript]) => ({ file, transcript }));
    const index = new TranscriptIndex();
    for (const entry of entries) index.add(resolve(dirname(manifestPath), entry.file), entry.transcript);
    return index;
  }

  add(wavPath: string, transcript: string): void {
    const clip = this.clips.length;
    let voiced = 0;
    for (const frame of loadWavAsMulawFrames(wavPath).frames) {
      if (mulawRms(frame) < SILENCE_RMS) continue;
      this.frames.set(fnv1a(frame, 0, frame.length), clip);
      voiced += 1;
    }
    this.clips.push({ file: wavPath, transcript, frames: voiced });
  }

  /**
   * The transcript of a caller turn in mu-law: `audio` starts `sessionOffset` bytes into the
   * session's appended audio (frames are aligned to the session's first byte). Null: no match.
   */
  recognise(audio: Buffer, sessionOffset: number): string | null {
    if (this.clips.length === 0) return null;
    const votes = new Map<number, number>();
    for (let at = (FRAME_BYTES - (sessionOffset % FRAME_BYTES)) % FRAME_BYTES; at + FRAME_BYTES <= audio.length; at += FRAME_BYTES) {
      const clip = this.frames.get(fnv1a(audio, at, at + FRAME_BYTES));
      if (clip !== undefined) votes.set(clip, (votes.get(clip) ?? 0) + 1);
    }
    let best = -1;
    let bestVotes = 0;
    for (const [clip, n] of votes) if (n > bestVotes) [best, bestVotes] = [clip, n];
    return bestVotes >= MIN_MATCHING_FRAMES ? (this.clips[best]?.transcript ?? null) : null;
  }
}
