// The caller's side of every load call: a WAV of speech then silence, looped, so each call is a
// conversation: the caller speaks, stops, the agent answers in the silence, the caller speaks
// again. Prepared once per run as base64 strings (no per-frame encoding in the generator), with
// the frame where each turn's speech ends: the response latency is measured from there.
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../audio/format.js';
import { mulawRms } from '../audio/g711.js';
import { loadWavAsMulawFrames } from '../audio/wav.js';
import { STAMP_BYTES } from './stamp.js';

/** A frame louder than this (RMS, 0..1) is speech: the simulator's default VAD threshold. */
const SPEECH_RMS = 0.02;

/** What a generator needs of the call audio: plain data, so it crosses to worker threads as is. */
export interface CallAudio {
  /** What it is, for the report. */
  name: string;
  frames: number;
  /** base64 of each whole frame (unstamped calls). */
  payloads: string[];
  /** base64 of bytes STAMP_BYTES..160 of each frame: a stamped payload is stamp + tail. */
  tails: string[];
  /** Index of the loop's last frame of speech (the turn ends when it has been sent); null: no speech. */
  speechEndFrame: number | null;
  /** Index of the loop's first frame of speech; null: no speech. */
  speechStartFrame: number | null;
}

/** `file` (any WAV the audio module reads) plus `padSilenceMs` of silence, one loop of it. */
export function loadCallAudio(file: string, padSilenceMs: number): CallAudio {
  const frames = [...loadWavAsMulawFrames(file).frames];
  const silence = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  for (let i = 0; i < Math.round(padSilenceMs / FRAME_MS); i++) frames.push(silence);
  let first: number | null = null;
  let last: number | null = null;
  frames.forEach((frame, i) => {
    if (mulawRms(frame) <= SPEECH_RMS) return;
    first ??= i;
    last = i;
  });
  // A short last frame (a WAV not a whole number of frames long) is padded to a full one.
  const full = frames.map((frame) => (frame.length === FRAME_BYTES ? frame : Buffer.concat([frame, Buffer.alloc(FRAME_BYTES - frame.length, MULAW_SILENCE)])));
  return {
    name: `${file} + ${padSilenceMs} ms of silence, looped`,
    frames: full.length,
    payloads: full.map((f) => f.toString('base64')),
    tails: full.map((f) => f.subarray(STAMP_BYTES).toString('base64')),
    speechEndFrame: last,
    speechStartFrame: first,
  };
}
