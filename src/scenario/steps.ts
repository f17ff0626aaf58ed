// The scripted caller: a scenario's steps run frame by frame as the call's voice (caller/voice.ts),
// listening to the agent through the caller's ear. Each step is a small state machine over the
// frames it is given (say a clip, stay silent, wait until the agent talks or stops, press keys,
// hang up); a step that finishes on a frame hands that frame to the next step, so no frame is
// lost between steps. What happened at each step, instant by instant, is kept for the
// measurements (StepRun). Durations in a scenario are call audio time: at --speed N they pass N
// times faster on the wall clock, as the caller's audio and the handset do.
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../audio/format.js';
import { DTMF_DIGIT_SPACING_MS } from '../caller/options.js';
import type { CallerEar } from '../caller/heard.js';
import type { CallerVoice, VoiceFrame } from '../caller/voice.js';
import type { CallDirection } from '../twilio/codec.js';
import type { LoadedScenario, ScenarioStep } from './load.js';

const SILENCE: VoiceFrame = { audio: Buffer.alloc(FRAME_BYTES, MULAW_SILENCE), speech: false };
/**
 * After the last step the caller stays on the line at least this long (audio ms, as a replay's
 * tail does), until the agent has been quiet WIND_DOWN_QUIET_MS, then hangs up.
 */
export const WIND_DOWN_MIN_MS = 1500;
export const WIND_DOWN_QUIET_MS = 500;
/** ...but no longer than this after the last step (audio ms). */
export const WIND_DOWN_MAX_MS = 30_000;

export type StepOutcome =
  /** It ran to its end. */
  | 'done'
  /** What it waited for never came: the caller hung up there. */
  | 'timeout'
  /** Not for this call's direction. */
  | 'skipped'
  /** The call ended while it ran (the server hung up, the call timed out). */
  | 'cut-short'
  /** An earlier step ended the scenario. */
  | 'not-run';

/** What one step did, on performance.now()'s clock. */
export interface StepRun {
  step: ScenarioStep;
  outcome: StepOutcome;
  startedAt: number | null;
  endedAt: number | null;
  /** A say: when its first and last voiced frames were said (the caller's words). */
  speech: { startAt: number; endAt: number } | null;
  /** A dtmf: when each key went. */
  keys: Array<{ digit: string; at: number }>;
  /** A say over the agent: when the stretch of agent talk it cut into began. */
  agentTalkingSince: number | null;
  /** Why it did not finish, in a line. */
  note: string | null;
}

/** Every step of `scenario` as not yet run. */
export function unrunSteps(scenario: LoadedScenario): StepRun[] {
  return scenario.steps.map((step) => ({ step, outcome: 'not-run', startedAt: null, endedAt: null, speech: null, keys: [], agentTalkingSince: null, note: null }));
}

export class ScenarioCaller implements CallerVoice {
  readonly runs: StepRun[];
  private current = 0;
  /** Frames of the current step so far (a say: of its clip; a wait: of silence). */
  private framesInStep = 0;
  private speaking = false;
  private windDownFrom: number | null = null;
  private hungUp = false;
  /** Why the caller hung up after the last step, when it was the wind-down's cap. */
  windDownNote: string | null = null;

  constructor(
    scenario: LoadedScenario,
    private readonly ear: CallerEar,
    private readonly direction: CallDirection,
    /** How fast the call runs (1 real time): scenario ms are divided by it for the wall clock. */
    private readonly speed: number,
  ) {
    this.runs = unrunSteps(scenario);
  }

  private wall(audioMs: number): number {
    return audioMs / this.speed;
  }

  next(_n: number, dueAt: number): VoiceFrame | 'hangup' {
    if (this.hungUp) return 'hangup';
    for (;;) {
      const run = this.runs[this.current];
      if (run === undefined) return this.windDown(dueAt);
      if (run.startedAt === null) {
        run.startedAt = dueAt;
        this.framesInStep = 0;
        this.speaking = false;
        if (run.step.direction !== null && run.step.direction !== this.direction) {
          this.finishStep(run, 'skipped', dueAt);
          continue;
        }
      }
      const frame = this.stepFrame(run, dueAt);
      if (frame !== null) return frame;
      if (this.hungUp) return 'hangup';
    }
  }

  /** The frame the step says at `dueAt`, or null when the step has just ended and the next one takes the frame. */
  private stepFrame(run: StepRun, dueAt: number): VoiceFrame | 'hangup' | null {
    const step = run.step;
    const elapsed = dueAt - run.startedAt!;
    switch (step.kind) {
      case 'say': {
        if (!this.speaking) {
          if (step.overAgent !== null) {
            const since = this.ear.speakingSince(dueAt);
            if (since === null || dueAt - since < this.wall(step.overAgent.afterMs)) {
              if (elapsed >= this.wall(step.overAgent.timeoutMs)) return this.timeOut(run, dueAt, `the agent was not talking within ${step.overAgent.timeoutMs} ms, so the caller could not talk over it`);
              return SILENCE;
            }
            run.agentTalkingSince = since;
          }
          this.speaking = true;
        }
        const { clip } = step;
        const index = this.framesInStep;
        if (index >= clip.audio.frames.length) {
          this.finishStep(run, 'done', dueAt);
          return null;
        }
        this.framesInStep += 1;
        if (index === clip.firstVoiced) run.speech = { startAt: dueAt, endAt: dueAt };
        if (index === clip.lastVoiced && run.speech !== null) run.speech.endAt = dueAt;
        return { audio: clip.audio.frames[index]!, speech: true };
      }
      case 'wait':
        if (this.framesInStep * FRAME_MS >= step.ms) {
          this.finishStep(run, 'done', dueAt);
          return null;
        }
        this.framesInStep += 1;
        return SILENCE;
      case 'wait_for': {
        const done = step.what === 'agent_audio' ? this.ear.audibleAt(dueAt) : this.quietFor(dueAt, run.startedAt!) >= this.wall(step.quietMs);
        if (done) {
          this.finishStep(run, 'done', dueAt);
          return null;
        }
        if (elapsed >= this.wall(step.timeoutMs)) {
          const what = step.what === 'agent_audio' ? 'the agent was not heard' : `the agent did not go quiet for ${step.quietMs} ms`;
          return this.timeOut(run, dueAt, `${what} within ${step.timeoutMs} ms`);
        }
        return SILENCE;
      }
      case 'dtmf': {
        const spacing = Math.round(DTMF_DIGIT_SPACING_MS / FRAME_MS);
        const key = this.framesInStep / spacing;
        if (key >= step.digits.length) {
          this.finishStep(run, 'done', dueAt);
          return null;
        }
        this.framesInStep += 1;
        if (!Number.isInteger(key)) return SILENCE;
        const digit = step.digits[key]!;
        run.keys.push({ digit, at: dueAt });
        // The last key ends the step: what follows it is the next step's.
        if (key === step.digits.length - 1) this.finishStep(run, 'done', dueAt);
        return { ...SILENCE, digit };
      }
      case 'hangup':
        this.finishStep(run, 'done', dueAt);
        this.hungUp = true;
        return 'hangup';
    }
  }

  /** How long the agent has not been heard at `dueAt`, counted from `since` at the earliest. */
  private quietFor(dueAt: number, since: number): number {
    if (this.ear.audibleAt(dueAt)) return 0;
    return dueAt - Math.max(this.ear.lastHeardAt(dueAt) ?? since, since);
  }

  private windDown(dueAt: number): VoiceFrame | 'hangup' {
    this.windDownFrom ??= dueAt;
    const stayed = dueAt - this.windDownFrom >= this.wall(WIND_DOWN_MIN_MS);
    if (stayed && this.ear.settled(dueAt) && this.quietFor(dueAt, this.windDownFrom) >= this.wall(WIND_DOWN_QUIET_MS)) {
      this.hungUp = true;
      return 'hangup';
    }
    if (dueAt - this.windDownFrom >= this.wall(WIND_DOWN_MAX_MS)) {
      this.windDownNote = `the agent was still talking ${WIND_DOWN_MAX_MS} ms after the last step; the caller hung up`;
      this.hungUp = true;
      return 'hangup';
    }
    return SILENCE;
  }

  private finishStep(run: StepRun, outcome: StepOutcome, at: number): void {
    run.outcome = outcome;
    run.endedAt = at;
    this.current += 1;
    this.framesInStep = 0;
    this.speaking = false;
  }

  private timeOut(run: StepRun, at: number, note: string): 'hangup' {
    run.note = note;
    this.finishStep(run, 'timeout', at);
    this.hungUp = true;
    return 'hangup';
  }

  /** The call is over at `at`: a step still running was cut short (the rest never ran). */
  finish(at: number): void {
    const run = this.runs[this.current];
    if (run === undefined || run.startedAt === null) return;
    run.outcome = 'cut-short';
    run.endedAt = at;
    run.note ??= 'the call ended while this step ran';
  }
}
