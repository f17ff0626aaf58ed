// The call as a stereo recording on one clock: the caller on the left (what Twilio forwarded:
// a frame the bad line lost is silence), the agent on the right (what the caller heard: each
// chunk where the handset played it, with what a clear cut left out). Frames are placed at the
// instant they were said or played, never concatenated, so a burst's silence afterwards, a
// late answer and a talk-over can be heard as they happened. At --speed N the recording runs on
// the call's audio clock (wall ms × N), so it always plays at the pace of a real call.
import { writeFileSync } from 'node:fs';
import { MULAW_BYTES_PER_MS } from '../audio/format.js';
import { mulawToPcm16 } from '../audio/g711.js';
import { stereoPcm16ToWav } from '../audio/wav.js';
import type { HeardAudio } from './heard.js';
import type { CallTape } from './tape.js';

/** A recording longer than this is cut (an hour of stereo PCM16 at 8 kHz is 115 MB). */
export const MAX_RECORDING_MS = 60 * 60 * 1000;

interface Placed {
  at: number;
  audio: Buffer;
}

/** Sample index of each piece: at its instant, but never over the one before it on the same channel. */
function layOut(pieces: readonly Placed[], origin: number, speed: number, maxSamples: number): Int16Array {
  let end = 0;
  const positions = pieces.map((piece) => {
    const start = Math.max(end, Math.round((piece.at - origin) * speed * MULAW_BYTES_PER_MS));
    end = start + piece.audio.length;
    return start;
  });
  const channel = new Int16Array(Math.min(maxSamples, end));
  pieces.forEach((piece, i) => {
    const start = positions[i]!;
    if (start >= channel.length) return;
    const pcm = mulawToPcm16(piece.audio);
    channel.set(pcm.subarray(0, channel.length - start), start);
  });
  return channel;
}

/** The stereo WAV bytes of a call from its tape and what the caller heard. */
export function renderRecording(tape: CallTape, heard: HeardAudio | null, speed: number): Buffer {
  const maxSamples = MAX_RECORDING_MS * MULAW_BYTES_PER_MS;
  const said = tape.said.map((frame) => ({ at: frame.at, audio: frame.lost ? Buffer.alloc(frame.audio.length, 0xff) : frame.audio }));
  // A chunk's pieces play back to back from its start.
  const agent = (heard?.chunks ?? []).flatMap((c) => c.audio.filter((piece) => piece.length > 0).map((audio) => ({ at: c.startAt, audio })));
  return stereoPcm16ToWav(layOut(said, tape.origin, speed, maxSamples), layOut(agent, tape.origin, speed, maxSamples));
}

/** Writes it; the error as a string (null when written), never thrown: a recording must not fail a call. */
export function writeRecording(file: string, tape: CallTape, heard: HeardAudio | null, speed: number): string | null {
  try {
    writeFileSync(file, renderRecording(tape, heard, speed));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
