// The model's side of the call back to the caller: were truncations at or before what the caller
// had heard of the answer that was playing (model-truncation), and did the model's answers reach
// the caller whole, apart from what a clear or the hang-up cut (model-audio-out)? Docs
// (ConversationItemTruncateEvent): "The server will produce audio faster than realtime, so this
// event is useful when the user interrupts to truncate audio that has already been sent to the
// client but not yet played. This will synchronize the server's understanding of the audio with
// the client's playback" — the client's playback is the caller's handset, here.
import { createHash } from 'node:crypto';
import { FRAME_MS, MULAW_BYTES_PER_MS } from '../../audio/format.js';
import type { CallRecord } from '../../caller/record.js';
import { MAX_PLAYBACK_CLEARS } from '../../caller/playback.js';
import type { NetworkDelay } from '../../caller/network.js';
import { failed, ms, passed, plural, skipped, type ModelCheck } from './check.js';
import { streamEndedAt, type CallClock } from './call-clock.js';
import type { AnswerSpan, HeardAnswers } from './heard.js';
import type { SessionView } from './session-view.js';
import { quoted } from './session-checks.js';

export const TRUNCATION = 'model-truncation';
export const AUDIO_OUT = 'model-audio-out';

/** The longest one-way delay a mark echo can take back to the agent. */
function longestDelayMs(delay: NetworkDelay): number {
  return 'fixedMs' in delay ? delay.fixedMs : delay.maxMs;
}

/**
 * What an agent may claim was heard beyond what was: one frame (it sees playback in 20 ms steps)
 * plus the longest mark-echo delay (a truncation decided on a mark that was still on its way).
 */
export function truncationToleranceMs(delay: NetworkDelay): number {
  return FRAME_MS + longestDelayMs(delay);
}

const heardMsOf = (heard: HeardAnswers, span: AnswerSpan, at: number): number => heard.heardBytes(at, span.fromByte, span.fromByte + span.bytes) / MULAW_BYTES_PER_MS;

export function truncationCheck(sessions: readonly SessionView[], heard: HeardAnswers, delay: NetworkDelay): ModelCheck {
  const truncations = sessions.flatMap((s) => s.truncations).sort((a, b) => a.at - b.at);
  if (truncations.length === 0) return passed(TRUNCATION, 'no truncation: the agent never cut an answer short');
  if (heard.playbackGap !== null) return skipped(TRUNCATION, heard.playbackGap);
  const tolerance = truncationToleranceMs(delay);
  const problems: string[] = [];
  const fine: string[] = [];
  for (const t of truncations) {
    const span = heard.spanOfItem(t.itemId);
    const item = quoted(t.itemId, 80);
    if (span === null) {
      problems.push(`a truncate named item ${item}, which is not an answer the model spoke on this call`);
      continue;
    }
    const heardMs = heardMsOf(heard, span, t.at);
    const playing = heard.answerHeardAt(t.at);
    if (playing !== null && playing !== span) {
      problems.push(`a truncate named item ${item} while the caller was hearing item ${playing.response.itemIds[0] ?? playing.response.id}`);
    } else if (t.audioEndMs > heardMs + tolerance) {
      problems.push(`item ${item} was truncated at audio_end_ms ${t.audioEndMs}, but the caller had heard only ${Math.round(heardMs)} ms of it when the truncate arrived (${Math.round(t.audioEndMs - heardMs)} ms more than played; tolerance ${tolerance} ms: a frame and the longest mark-echo delay)`);
    } else {
      fine.push(`${item} at ${t.audioEndMs} ms of ${Math.round(heardMs)} ms heard`);
    }
  }
  if (problems.length > 0) {
    return failed(TRUNCATION, problems.join('; '), "the model believes the caller heard words they never heard, and the conversation goes on from there");
  }
  return passed(TRUNCATION, `${plural(truncations.length, 'truncation')}, each at or before what the caller had heard of the answer playing (tolerance ${tolerance} ms): ${fine.join(', ')}`);
}

/** Whether a clear or the hang-up cut this answer short. */
function cutBy(span: AnswerSpan, record: Pick<CallRecord, 'playback'>, clock: CallClock): string | null {
  const clear = record.playback.clears.find((at) => at >= span.from && at < span.until);
  if (clear !== undefined) return 'a clear';
  const hungUp = streamEndedAt(clock);
  const done = span.response.doneAt;
  if (hungUp !== null && (done === null || done > hungUp)) return 'the hang-up';
  return null;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The model's answers reached the caller: byte for byte for mu-law, by duration when the agent transcodes. */
export function audioOutCheck(heard: HeardAnswers, record: Pick<CallRecord, 'playback'>, clock: CallClock): ModelCheck {
  const spans = heard.spans.filter((s) => s.response.audioBytes > 0);
  if (spans.length === 0) return skipped(AUDIO_OUT, 'the model produced no audio on this call');
  if (heard.audioGap !== null) return skipped(AUDIO_OUT, heard.audioGap);
  // An answer cut short by a clear the caller did not keep would read as audio lost.
  if (record.playback.clearsDropped > 0) return skipped(AUDIO_OUT, `the server sent more than ${MAX_PLAYBACK_CLEARS} clears, and past them the call kept none, so a cut answer cannot be told from lost audio`);
  const problems: string[] = [];
  const notes: string[] = [];
  let exact = 0;
  let byDuration = 0;
  for (const span of spans) {
    const r = span.response;
    const name = r.itemIds[0] ?? r.id;
    const receivedMs = span.bytes / MULAW_BYTES_PER_MS;
    const cut = cutBy(span, record, clock);
    if (r.audioFormat === 'audio/pcmu') {
      if (span.bytes === r.audioBytes) {
        if (sha256(heard.bytesOf(span)) === r.audioSha256) exact += 1;
        else problems.push(`answer ${name}: the caller got ${ms(receivedMs)} of audio, as long as the model's, but not the same bytes`);
      } else if (span.bytes > r.audioBytes) {
        problems.push(`answer ${name}: the caller got ${ms(receivedMs)}, more than the ${ms(r.audioMs)} the model produced (audio repeated)`);
      } else if (cut !== null) {
        notes.push(`${name}: ${ms(receivedMs)} of ${ms(r.audioMs)}, the rest cut by ${cut}`);
      } else {
        problems.push(`answer ${name}: the caller got ${ms(receivedMs)} of the ${ms(r.audioMs)} the model produced, and no clear or hang-up cut it`);
      }
      continue;
    }
    // The agent transcodes (or the simulator did not say the format): compare lengths.
    const diff = receivedMs - r.audioMs;
    if (Math.abs(diff) <= FRAME_MS) byDuration += 1;
    else if (diff > 0) problems.push(`answer ${name}: the caller got ${ms(receivedMs)}, more than the ${ms(r.audioMs)} the model produced (${r.audioFormat ?? 'format unknown'}, compared by duration)`);
    else if (cut !== null) notes.push(`${name}: ${ms(receivedMs)} of ${ms(r.audioMs)}, the rest cut by ${cut}`);
    else problems.push(`answer ${name}: the caller got ${ms(receivedMs)} of the ${ms(r.audioMs)} the model produced (${r.audioFormat ?? 'format unknown'}, compared by duration), and no clear or hang-up cut it`);
  }
  const own = heard.ownBytes > 0 ? `; ${ms(heard.ownBytes / MULAW_BYTES_PER_MS)} of audio came from the agent itself before the model's first answer` : '';
  if (problems.length > 0) return failed(AUDIO_OUT, problems.join('; ') + own, 'the caller did not hear what the model said');
  const total = spans.reduce((sum, s) => sum + s.response.audioMs, 0);
  const whole = [exact > 0 ? `${exact} reached the caller byte for byte` : '', byDuration > 0 ? `${byDuration} reached it whole by duration (transcoded)` : ''].filter(Boolean).join(', ');
  return passed(AUDIO_OUT, `${plural(spans.length, 'answer')} (${ms(total)} of model audio): ${[whole, ...notes].filter(Boolean).join('; ')}${own}`);
}
