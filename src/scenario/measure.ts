// The conversation's measurements, read after the call from two records on one clock: what the
// scripted caller did at each step (steps.ts) and what it heard of the agent, chunk by chunk
// (caller/heard.ts), both performance.now() instants of this process. Every figure is from the
// caller's side of Twilio, in wall-clock ms (what a caller waits, at any --speed): agent audio
// counts when the handset played it, after the bad line's delay. A figure that could not be measured (the agent never spoke) is null, never 0. Where the
// model's session record is at hand (the simulator, matched by callSid), a response latency is
// split into the turn detector's wait, the model's part and the agent's own part.
import { FRAME_MS, mulawMs } from '../audio/format.js';
import { JOIN_GAP_MS, type HeardAudio, type HeardChunk } from '../caller/heard.js';
import type { ModelTurnRecord } from '../caller/witness.js';
import type { StepRun } from './steps.js';

/** After a backchannel, the agent must still be talking this long (wall ms) after the caller's last voiced frame. */
export const KEEPS_TALKING_MS = 300;

/** A caller turn (words, words over the agent, a backchannel, keys), the agent's greeting, or a wait that expects the agent to speak. */
export type TurnKind = 'turn' | 'barge-in' | 'backchannel' | 'keys' | 'greeting' | 'wait';

/** Where a response's time went, in ms; each part null when the session record does not say. */
export interface ResponseSplit {
  /** End of the caller's words to the model's turn detector committing the turn (its silence window). */
  turnDetectionMs: number | null;
  /** The commit (input_audio_buffer.speech_stopped), or the response's creation when nothing was committed (a greeting), to the model's first audio delta. */
  modelMs: number | null;
  /** The model's first delta to the first agent frame on the Twilio socket: the agent's own part. */
  agentMs: number | null;
  /** That frame arriving to the caller hearing it: the line's delay and what played before it. */
  lineMs: number | null;
}

export interface TurnReport {
  step: number;
  label: string;
  kind: TurnKind;
  /** The step's cue, ms from the call's origin: the end of the caller's words, the last key, or the step's start. */
  cueAt: number;
  /** The cue to the first agent audio heard after it; null: none before the call ended. */
  responseMs: number | null;
  /** The agent was talking at the cue (it talked over the caller, or had not stopped). */
  agentTalkingAtCue: boolean;
  /** Agent audio that began while the caller was speaking, ms of overlap. */
  talkOverMs: number;
  /** A say over the agent: from the caller starting to talk to a clear or the agent's audio stopping. */
  bargeIn: { reactionMs: number | null; by: 'clear' | 'audio-stopped' | null; agentWasTalking: boolean } | null;
  /** A backchannel: the agent stopped (a clear, or its audio ended) within it and KEEPS_TALKING_MS after. */
  yielded: { yielded: boolean; by: 'clear' | 'audio-stopped' | null; afterMs: number | null; agentWasTalking: boolean } | null;
  split: ResponseSplit | null;
}

export interface AnswerReport {
  /** ms from the call's origin, as heard. */
  startAt: number;
  endAt: number;
  /** Audio heard, in audio ms. */
  audioMs: number;
  /** Gaps inside it the playout buffer could not cover (JOIN_GAP_MS or more), ms from origin and length. */
  deadAir: Array<{ at: number; ms: number }>;
  /** A clear cut it short. */
  cleared: boolean;
}

/**
 * A run of the agent's sending: frames off the socket with no gap of JOIN_GAP_MS between them,
 * whatever answer they belong to. A burst is audio sent far faster than it plays.
 */
export interface SendReport {
  /** ms from the call's origin, off the socket. */
  startAt: number;
  endAt: number;
  /** Audio in it, audio ms. */
  audioMs: number;
  /** Audio ms per wall ms of sending (the last frame counts its own length): 1 is real time, 20 a burst twenty times faster. */
  burstFactor: number;
  /** How long the caller still heard it after its last frame came off the socket (what a clear cut, it did not hear). */
  listeningAfterSendMs: number;
}

export interface ConversationFigures {
  /** `start` to the first agent audio heard. */
  firstHeardMs: number | null;
  /** The slowest answered turn. */
  responseMs: number | null;
  /** The slowest barge-in reaction. */
  bargeInMs: number | null;
  /** Backchannels the agent stopped for. */
  falseYields: number | null;
  /** Agent audio begun while the caller was talking, ms in all. */
  talkOverMs: number;
  /** The longest gap inside one answer. */
  deadAirMs: number | null;
  /** The fastest run of sending, × real time. */
  burstFactor: number | null;
  /** The longest the caller still listened after the agent stopped sending. */
  listeningAfterSendMs: number | null;
}

export interface Measurements {
  turns: TurnReport[];
  answers: AnswerReport[];
  sends: SendReport[];
  figures: ConversationFigures;
  /** Whether the response split came from the model's session record; why not, when it did not. */
  split: { source: 'session-record'; sessions: number } | { source: null; why: string };
}

export interface MeasureInput {
  runs: readonly StepRun[];
  heard: HeardAudio;
  /** performance.now() of `start`: the origin every `at` is measured from. */
  origin: number;
  /** performance.now() the call ended: nothing was heard after it. */
  endedAt: number;
  /** The model's sessions for this call (epoch ms), when the gate or replay could read them; null: not available. */
  sessions: readonly ModelTurnRecord[] | null;
  /** Why there are no sessions, for the report. */
  sessionsNote: string;
}

/** A stretch of agent talk as heard: chunks closer than JOIN_GAP_MS joined. */
interface Stretch {
  startAt: number;
  endAt: number;
  /** Ended by a clear (not by running out). */
  cleared: boolean;
}

const round = (ms: number): number => Math.round(ms);

function stretchesOf(heard: HeardAudio): Stretch[] {
  const out: Stretch[] = [];
  for (const chunk of heard.chunks) {
    const last = out.at(-1);
    if (last !== undefined && chunk.startAt - last.endAt < JOIN_GAP_MS) last.endAt = Math.max(last.endAt, chunk.endAt);
    else out.push({ startAt: chunk.startAt, endAt: chunk.endAt, cleared: false });
  }
  for (const clear of heard.clears) {
    const cut = out.find((s) => s.startAt < clear.at && s.endAt >= clear.at - 0.5);
    if (cut !== undefined) cut.cleared = true;
  }
  return out;
}

/** The caller's cue for a step's expectations: the end of its words, its last key, or its start. */
export function cueOf(run: StepRun): number | null {
  if (run.speech !== null) return run.speech.endAt;
  if (run.keys.length > 0) return run.keys.at(-1)!.at;
  return run.startedAt;
}

/** `callerSpoke`: a say or dtmf ran before this step. */
function kindOf(run: StepRun, callerSpoke: boolean): TurnKind | null {
  const step = run.step;
  if (step.kind === 'say') return step.backchannel ? 'backchannel' : step.overAgent !== null ? 'barge-in' : 'turn';
  if (step.kind === 'dtmf') return 'keys';
  // Waiting for the agent before the caller said anything is waiting for its greeting.
  if (!callerSpoke && (step.kind === 'wait' || (step.kind === 'wait_for' && step.what === 'agent_audio'))) return 'greeting';
  if (step.kind === 'wait' && step.expect.agent_audio_within_ms !== undefined) return 'wait';
  return null;
}

export function measureConversation(input: MeasureInput): Measurements {
  const { runs, heard, origin } = input;
  const stretches = stretchesOf(heard);
  const at = (instant: number): number => Math.round((instant - origin) * 10) / 10;
  // Figures are wall-clock ms on the caller's side: what a caller waits, at any --speed.
  const wall = (ms: number): number => round(ms);
  const turns: TurnReport[] = [];

  let callerSpoke = false;
  for (const run of runs) {
    const ran = run.outcome !== 'skipped' && run.outcome !== 'not-run';
    const kind = kindOf(run, callerSpoke);
    if (ran && (run.step.kind === 'say' || run.step.kind === 'dtmf')) callerSpoke = true;
    const cue = cueOf(run);
    if (kind === null || cue === null || !ran) continue;
    const after = stretches.find((s) => s.startAt >= cue);
    const talkingAtCue = stretches.some((s) => s.startAt < cue && s.endAt > cue);
    const responseMs = after === undefined || after.startAt > input.endedAt ? null : wall(after.startAt - cue);
    let talkOverMs = 0;
    if (run.speech !== null && kind === 'turn') {
      const { startAt, endAt } = run.speech;
      for (const s of stretches) if (s.startAt >= startAt && s.startAt < endAt) talkOverMs += Math.min(s.endAt, endAt) - s.startAt;
    }
    const turn: TurnReport = {
      step: run.step.number,
      label: run.step.label,
      kind,
      cueAt: at(cue),
      responseMs: kind === 'backchannel' ? null : responseMs,
      agentTalkingAtCue: talkingAtCue,
      talkOverMs: wall(talkOverMs),
      bargeIn: null,
      yielded: null,
      split: null,
    };
    if ((kind === 'barge-in' || kind === 'backchannel') && run.speech !== null) {
      const began = run.speech.startAt;
      const playing = stretches.find((s) => s.startAt <= began && s.endAt > began);
      const clear = heard.clears.find((c) => c.at >= began);
      const stoppedAt = playing === undefined ? null : playing.endAt;
      const firstStop = clear !== undefined && (stoppedAt === null || clear.at <= stoppedAt) ? { at: clear.at, by: 'clear' as const } : stoppedAt !== null && stoppedAt <= input.endedAt ? { at: stoppedAt, by: 'audio-stopped' as const } : null;
      if (kind === 'barge-in') {
        turn.bargeIn = { reactionMs: firstStop === null ? null : wall(firstStop.at - began), by: firstStop?.by ?? null, agentWasTalking: playing !== undefined };
      } else {
        const windowEnd = run.speech.endAt + KEEPS_TALKING_MS;
        const yielded = firstStop !== null && firstStop.at <= windowEnd;
        turn.yielded = { yielded, by: yielded ? firstStop.by : null, afterMs: yielded ? wall(firstStop.at - began) : null, agentWasTalking: playing !== undefined };
      }
    }
    if (turn.responseMs !== null && after !== undefined) turn.split = splitOf(cue, after.startAt, heard, input);
    turns.push(turn);
  }

  const answers = answersOf(heard, stretches, runs, at, wall);
  const sends = sendsOf(heard, at, wall);
  const measured = (values: Array<number | null>): number | null => {
    const present = values.filter((v): v is number => v !== null);
    return present.length === 0 ? null : Math.max(...present);
  };
  const backchannels = turns.filter((t) => t.yielded !== null);
  const firstHeard = heard.chunks[0];
  const figures: ConversationFigures = {
    firstHeardMs: firstHeard === undefined ? null : wall(firstHeard.startAt - origin),
    responseMs: measured(turns.filter((t) => t.kind === 'turn' || t.kind === 'keys').map((t) => t.responseMs)),
    bargeInMs: measured(turns.filter((t) => t.bargeIn !== null).map((t) => t.bargeIn!.reactionMs)),
    falseYields: backchannels.length === 0 ? null : backchannels.filter((t) => t.yielded!.yielded).length,
    talkOverMs: turns.reduce((sum, t) => sum + t.talkOverMs, 0),
    deadAirMs: answers.length === 0 ? null : Math.max(0, ...answers.flatMap((a) => a.deadAir.map((d) => d.ms))),
    burstFactor: measured(sends.map((s) => s.burstFactor)),
    listeningAfterSendMs: measured(sends.map((s) => s.listeningAfterSendMs)),
  };
  const split: Measurements['split'] = input.sessions !== null && input.sessions.length > 0 ? { source: 'session-record', sessions: input.sessions.length } : { source: null, why: input.sessionsNote };
  return { turns, answers, sends, figures, split };
}

/** Answers: the agent's audio between one caller turn (words or keys) and the next, or a clear. */
function answersOf(heard: HeardAudio, stretches: Stretch[], runs: readonly StepRun[], at: (instant: number) => number, wall: (ms: number) => number): AnswerReport[] {
  const boundaries = runs
    .flatMap((r) => {
      if (r.step.kind === 'say' && !r.step.backchannel && r.speech !== null) return [r.speech.startAt];
      if (r.keys.length > 0) return [r.keys[0]!.at];
      return [];
    })
    .sort((a, b) => a - b);
  const groups: Stretch[][] = [];
  let boundary = 0;
  for (const stretch of stretches) {
    const current = groups.at(-1);
    let crossed = false;
    while (boundary < boundaries.length && boundaries[boundary]! <= stretch.startAt) {
      boundary += 1;
      crossed = true;
    }
    if (current === undefined || crossed || current.at(-1)!.cleared) groups.push([stretch]);
    else current.push(stretch);
  }
  return groups.map((group) => {
    const first = group[0]!;
    const last = group.at(-1)!;
    const chunks = heard.chunks.filter((c) => c.startAt >= first.startAt && c.startAt <= last.endAt);
    const deadAir: AnswerReport['deadAir'] = [];
    for (let i = 1; i < group.length; i++) deadAir.push({ at: at(group[i - 1]!.endAt), ms: wall(group[i]!.startAt - group[i - 1]!.endAt) });
    return { startAt: at(first.startAt), endAt: at(last.endAt), audioMs: round(chunks.reduce((sum, c) => sum + mulawMs(c.bytes), 0)), deadAir, cleared: last.cleared };
  });
}

/** The agent's sending in runs (frames off the socket less than JOIN_GAP_MS apart), each with how fast it went and how long it was heard after. */
function sendsOf(heard: HeardAudio, at: (instant: number) => number, wall: (ms: number) => number): SendReport[] {
  const runs: HeardChunk[][] = [];
  const dropped = new Set(heard.dropped);
  const bySocket = [...heard.chunks, ...heard.dropped].sort((a, b) => a.socketAt - b.socketAt);
  for (const chunk of bySocket) {
    const run = runs.at(-1);
    if (run !== undefined && chunk.socketAt - run.at(-1)!.socketAt < JOIN_GAP_MS) run.push(chunk);
    else runs.push([chunk]);
  }
  return runs.map((run) => {
    const first = run[0]!;
    const last = run.at(-1)!;
    // Sent audio, cut or not: how fast the agent sent is what it sent.
    const audioMs = run.reduce((sum, c) => sum + c.sentMs, 0);
    const spanMs = last.socketAt - first.socketAt + last.sentMs;
    const heardUntil = Math.max(last.socketAt, ...run.filter((c) => !dropped.has(c)).map((c) => c.endAt));
    return { startAt: at(first.socketAt), endAt: at(last.socketAt), audioMs: round(audioMs), burstFactor: Math.round((audioMs / Math.max(spanMs, FRAME_MS)) * 10) / 10, listeningAfterSendMs: wall(Math.max(0, heardUntil - last.socketAt)) };
  });
}

/** The model's record of the turn: its commit after the caller's words, and the first delta of the response that followed. */
function splitOf(cue: number, heardAt: number, heard: HeardAudio, input: MeasureInput): ResponseSplit | null {
  if (input.sessions === null || input.sessions.length === 0) return null;
  const toEpoch = (instant: number): number => performance.timeOrigin + instant;
  const cueEpoch = toEpoch(cue);
  const heardEpoch = toEpoch(heardAt);
  const commits = input.sessions.flatMap((s) => s.commits).filter((c) => c.at >= cueEpoch - 50 && c.at <= heardEpoch).sort((a, b) => a.at - b.at);
  const commit = commits[0];
  const responses = input.sessions.flatMap((s) => s.responses).filter((r) => r.firstDeltaAt !== null && r.firstDeltaAt <= heardEpoch && r.createdAt >= (commit?.at ?? cueEpoch) - 5);
  const response = responses.sort((a, b) => a.createdAt - b.createdAt)[0];
  const deltaAt = response?.firstDeltaAt ?? null;
  const firstFrame = deltaAt === null ? undefined : heard.chunks.find((c) => toEpoch(c.socketAt) >= deltaAt);
  const arrivedEpoch = firstFrame === undefined ? null : toEpoch(firstFrame.socketAt);
  const part = (from: number | null, to: number | null): number | null => (from === null || to === null ? null : round(to - from));
  return {
    turnDetectionMs: part(cueEpoch, commit?.at ?? null),
    // A greeting has no commit: the model's part runs from the response it was asked for.
    modelMs: part(commit?.at ?? response?.createdAt ?? null, deltaAt),
    agentMs: part(deltaAt, arrivedEpoch),
    lineMs: part(arrivedEpoch, heardEpoch),
  };
}
