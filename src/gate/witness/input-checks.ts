// The caller's side of the model leg: did every caller frame reach the model, in order, once
// (model-audio-in), and was the session configured for the audio before any of it was appended
// (model-configured-first)? The caller kept its frames as sent (watermark and all); the session
// record has the running SHA-256 of everything appended, a checkpoint every second and the first
// 2 KiB. An agent that forwards Twilio's mu-law untouched is judged byte for byte: where its
// audio starts in the caller's is found from that first 2 KiB, and the hashes say whether the
// rest is the caller's exactly. Audio the agent transcodes is judged by duration, within a frame.
// Before its first session.update a session reads input as the API's default, 24 kHz audio/pcm
// (session.created, live capture: model/simulator/config.ts), so mu-law appended then is noise.
import { createHash } from 'node:crypto';
import { FRAME_BYTES, FRAME_MS, MULAW_BYTES_PER_MS } from '../../audio/format.js';
import { failed, ms, passed, plural, skipped, type ModelCheck } from './check.js';
import type { SessionView } from './session-view.js';

export const AUDIO_IN = 'model-audio-in';
export const CONFIGURED_FIRST = 'model-configured-first';

/** Where one session's appended audio sits in what the caller sent. */
export interface Segment {
  session: SessionView;
  /** Byte offset in the caller's audio where the session's audio starts; null: not found (transcoded). */
  offset: number | null;
  /** Its bytes equal the caller's from that offset on (SHA-256); null when not found. */
  intact: boolean | null;
  /** Where it stops matching, as a range of caller audio (ms), when not intact. */
  divergence: { fromMs: number; toMs: number } | null;
}

export interface InputAnalysis {
  sentBytes: number;
  segments: Segment[];
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function locate(session: SessionView, sent: Buffer): Segment {
  const head = Buffer.from(session.audioIn.head, 'base64');
  // Shorter than a frame, a match could be anywhere in silence: too little to say where.
  if (head.length < Math.min(FRAME_BYTES, session.audioIn.bytes) || head.length === 0) return { session, offset: null, intact: null, divergence: null };
  const offset = sent.indexOf(head);
  if (offset < 0) return { session, offset: null, intact: null, divergence: null };
  const bytes = session.audioIn.bytes;
  const expected = sent.subarray(offset, offset + bytes);
  if (expected.length === bytes && sha256(expected) === session.audioIn.sha256) return { session, offset, intact: true, divergence: null };
  // The first checkpoint that differs says which second went wrong.
  let matchedUpTo = 0;
  for (const checkpoint of session.audioIn.checkpoints) {
    if (sha256(sent.subarray(offset, offset + checkpoint.offset)) !== checkpoint.sha256) {
      return { session, offset, intact: false, divergence: { fromMs: (offset + matchedUpTo) / MULAW_BYTES_PER_MS, toMs: (offset + checkpoint.offset) / MULAW_BYTES_PER_MS } };
    }
    matchedUpTo = checkpoint.offset;
  }
  return { session, offset, intact: false, divergence: { fromMs: (offset + matchedUpTo) / MULAW_BYTES_PER_MS, toMs: (offset + bytes) / MULAW_BYTES_PER_MS } };
}

export function analyseInput(sent: Buffer, sessions: readonly SessionView[]): InputAnalysis {
  return { sentBytes: sent.length, segments: sessions.filter((s) => s.audioIn.bytes > 0).map((s) => locate(s, sent)) };
}

const frames = (bytes: number): number => Math.round(bytes / FRAME_BYTES);
const audioMs = (bytes: number): number => bytes / MULAW_BYTES_PER_MS;

/** Every caller frame reached the model, in order, none twice. */
export function audioInCheck(analysis: InputAnalysis, sessionCount: number): ModelCheck {
  const { sentBytes, segments } = analysis;
  const total = frames(sentBytes);
  if (sentBytes === 0) return skipped(AUDIO_IN, 'the caller sent no audio');
  if (segments.length === 0) {
    return failed(AUDIO_IN, `none of the ${total} caller frames (${ms(audioMs(sentBytes))}) reached the model: ${plural(sessionCount, 'session')}, no audio appended`, 'the agent heard nothing the caller said');
  }
  const located = segments.filter((s) => s.offset !== null).sort((a, b) => a.offset! - b.offset!);
  if (located.length === 0) return byDuration(sentBytes, segments);
  const problems: string[] = [];
  let covered = 0;
  for (const segment of located) {
    const offset = segment.offset!;
    const bytes = segment.session.audioIn.bytes;
    if (offset > covered) {
      const lost = offset - covered;
      problems.push(covered === 0 ? `the first ${frames(lost)} caller frames (${ms(audioMs(lost))}) never reached the model: its audio starts at caller frame ${frames(offset)}` : `${frames(lost)} caller frames (${ms(audioMs(lost))}) from ${ms(audioMs(covered))} on never reached the model`);
    } else if (offset < covered) {
      problems.push(`${frames(covered - offset)} caller frames from ${ms(audioMs(offset))} on reached the model twice (session ${segment.session.id} again from there)`);
    }
    if (segment.intact === false && segment.divergence !== null) {
      problems.push(`from about ${ms(segment.divergence.fromMs)}–${ms(segment.divergence.toMs)} into the call the audio appended is not the caller's (frames lost, reordered or repeated)`);
    } else if (offset + bytes > sentBytes) {
      problems.push(`the model got ${ms(audioMs(offset + bytes - sentBytes))} more audio than the caller sent`);
    }
    covered = Math.max(covered, offset + bytes);
  }
  if (covered < sentBytes && problems.length === 0) {
    const lost = sentBytes - covered;
    problems.push(`the last ${frames(lost)} caller frames (${ms(audioMs(lost))}) never reached the model`);
  }
  const where = located.length === 1 ? `session ${located[0]!.session.id}` : `${located.length} sessions (${located.map((s) => s.session.id).join(', ')})`;
  const unlocated = segments.length - located.length;
  const extra = unlocated > 0 ? `; ${plural(unlocated, 'more session')} appended audio not found in the caller's (transcoded)` : '';
  if (problems.length === 0) return passed(AUDIO_IN, `all ${total} caller frames (${ms(audioMs(sentBytes))}) reached ${where} in order, byte for byte (SHA-256 equal)${extra}`);
  return failed(AUDIO_IN, `${problems.join('; ')} (${total} frames sent, ${where})${extra}`, 'the agent did not hear the caller as the caller spoke');
}

/** A transcoding agent's audio cannot be compared byte for byte: its length can, within a frame. */
function byDuration(sentBytes: number, segments: readonly Segment[]): ModelCheck {
  const sentMs = audioMs(sentBytes);
  const appendedMs = segments.reduce((sum, s) => sum + s.session.audioIn.ms, 0);
  const formats = [...new Set(segments.flatMap((s) => s.session.audioIn.formats))].join(', ');
  const what = `by duration (the audio appended is not the caller's mu-law byte for byte: transcoded, as ${formats}): ${ms(sentMs)} sent, ${ms(appendedMs)} appended`;
  if (Math.abs(appendedMs - sentMs) <= FRAME_MS) return passed(AUDIO_IN, `${what}, within one frame`);
  const consequence = appendedMs < sentMs ? 'the agent did not hear all the caller said' : 'the agent heard more audio than the caller sent (repeated audio)';
  return failed(AUDIO_IN, `${what}: ${ms(Math.abs(appendedMs - sentMs))} ${appendedMs < sentMs ? 'missing' : 'too much'}`, consequence);
}

function intendedFormat(session: SessionView): string {
  const accepted = session.configs.filter((c) => c.accepted);
  return accepted.at(-1)?.session.audio?.input?.format?.type ?? 'audio/pcm';
}

/** session.update, with the format it then appends, before the first audio append. */
export function configuredFirstCheck(analysis: InputAnalysis): ModelCheck {
  const appending = analysis.segments;
  if (appending.length === 0) return skipped(CONFIGURED_FIRST, 'no audio was appended to the model');
  const problems: string[] = [];
  const fine: string[] = [];
  for (const { session, offset } of appending) {
    const mulaw = offset !== null;
    const first = session.configs.find((c) => c.accepted);
    const appendAt = session.audioIn.firstAppendAt ?? session.openedAt;
    const atFirst = session.audioIn.format ?? 'audio/pcm';
    const intended = intendedFormat(session);
    if (first === undefined) {
      if (mulaw) problems.push(`session ${session.id} was never configured (no accepted session.update): its caller mu-law was read as ${atFirst}, the API's default`);
      else fine.push(`session ${session.id} ran on the API's defaults (no session.update) and appended ${atFirst}`);
      continue;
    }
    if (first.at > appendAt) {
      problems.push(`session ${session.id}'s first session.update came ${ms(first.at - appendAt)} after its first audio append: that audio was read as ${atFirst}${atFirst !== intended ? `, not the ${intended} it was` : ''}`);
    } else if (session.audioIn.formats.length > 1) {
      problems.push(`session ${session.id} appended audio in ${session.audioIn.formats.join(' then ')}: its format changed after audio had gone in`);
    } else if (mulaw && atFirst !== 'audio/pcmu') {
      problems.push(`session ${session.id} was configured for ${atFirst} but was sent the caller's G.711 mu-law`);
    } else {
      fine.push(`session ${session.id} got session.update (${intended}) ${ms(appendAt - first.at)} before its first append`);
    }
  }
  if (problems.length > 0) return failed(CONFIGURED_FIRST, problems.join('; '), 'the model misread the start of the call (wrong audio format) or answered it with the wrong settings');
  return passed(CONFIGURED_FIRST, fine.join('; '));
}
