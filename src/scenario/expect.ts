// A scenario's expectations judged as named checks, beside the replay's own: a step that timed
// out fails where it stopped, each `expect` of a step that ran is judged from its turn's
// measurements, one that could not run fails (or is skipped, when the step is not for this
// call's direction). Each failure reads as the caller met it.
import type { ReplayCheck } from '../caller/checks.js';
import type { Measurements, TurnReport } from './measure.js';
import type { StepRun } from './steps.js';
import { cueOf } from './measure.js';
import type { HeardAudio } from '../caller/heard.js';

export interface ScenarioVerdict {
  checks: ReplayCheck[];
  failures: string[];
}

export interface JudgeInput {
  runs: readonly StepRun[];
  measurements: Measurements;
  heard: HeardAudio;
  /** performance.now() the call ended. */
  endedAt: number;
}

const ms = (value: number): string => `${Math.round(value)} ms`;

export function judgeScenario(input: JudgeInput): ScenarioVerdict {
  const checks: ReplayCheck[] = [];
  const failures: string[] = [];
  const pass = (name: string, reason: string): void => void checks.push({ name, status: 'pass', reason });
  const fail = (name: string, reason: string, heard: string): void => {
    checks.push({ name, status: 'fail', reason });
    failures.push(heard);
  };
  const skip = (name: string, reason: string): void => void checks.push({ name, status: 'skip', reason });

  for (const run of input.runs) {
    const { step } = run;
    const where = `step ${step.number} (${step.label})`;
    const expectations = Object.keys(step.expect) as Array<keyof typeof step.expect>;
    if (run.outcome === 'timeout') {
      const note = run.note ?? 'it timed out';
      fail(`step ${step.number}`, note, `the caller gave up at ${where}: ${note}; the rest of the scenario did not run`);
    }
    for (const key of expectations) {
      const name = `step ${step.number}: ${key}`;
      if (run.outcome === 'skipped') {
        skip(name, `not for ${step.direction === 'inbound' ? 'outbound' : 'inbound'} calls`);
        continue;
      }
      if (run.outcome !== 'done') {
        const why = run.outcome === 'cut-short' ? 'the call ended while it ran' : run.outcome === 'timeout' ? 'it timed out' : 'the scenario stopped before it';
        fail(name, why, `${where} never finished — ${why}, so ${key} could not be met`);
        continue;
      }
      const turn = input.measurements.turns.find((t) => t.step === step.number) ?? null;
      const verdict = judge(key, step.expect[key] as number | true, turn, run, input);
      if (verdict.ok) pass(name, verdict.reason);
      else fail(name, verdict.reason, `${verdict.heard} — ${where}`);
    }
  }
  return { checks, failures };
}

type Verdict = { ok: true; reason: string } | { ok: false; reason: string; heard: string };

function judge(key: string, wanted: number | true, turn: TurnReport | null, run: StepRun, input: JudgeInput): Verdict {
  switch (key) {
    case 'agent_audio_within_ms': {
      const limit = wanted as number;
      const got = turn?.responseMs ?? null;
      if (got !== null && got <= limit) return { ok: true, reason: `the agent was heard ${ms(got)} after the cue (limit ${ms(limit)})` };
      if (got !== null) return { ok: false, reason: `the agent was heard ${ms(got)} after the cue (limit ${ms(limit)})`, heard: `the caller waited ${ms(got)} for the agent to answer (expected within ${ms(limit)})` };
      const why = turn?.agentTalkingAtCue ? 'the agent was already talking when the caller finished (it talked over the caller) and began nothing new after' : 'no agent audio was heard after the cue before the call ended';
      return { ok: false, reason: why, heard: `the caller never heard an answer — ${why} (expected within ${ms(limit)})` };
    }
    case 'clear_within_ms': {
      const limit = wanted as number;
      const bargeIn = turn?.bargeIn ?? null;
      if (bargeIn === null || !bargeIn.agentWasTalking) return { ok: false, reason: 'the agent was not talking when the caller began', heard: 'the caller could not talk over the agent: it was not talking when the caller began' };
      const got = bargeIn.reactionMs;
      const by = bargeIn.by === 'clear' ? 'a clear arrived' : "the agent's audio stopped";
      if (got !== null && got <= limit) return { ok: true, reason: `${by} ${ms(got)} after the caller began (limit ${ms(limit)})` };
      if (got !== null) return { ok: false, reason: `${by} ${ms(got)} after the caller began (limit ${ms(limit)})`, heard: `the agent kept talking for ${ms(got)} after the caller interrupted (expected to stop within ${ms(limit)}: a clear, or its audio ending)` };
      return { ok: false, reason: 'no clear, and its audio went on to the end of the call', heard: `the agent never stopped for the caller: no clear, and its audio went on to the end of the call (expected to stop within ${ms(limit)})` };
    }
    case 'agent_keeps_talking': {
      const yielded = turn?.yielded ?? null;
      if (yielded === null || !yielded.agentWasTalking) return { ok: false, reason: 'the agent was not talking when the backchannel began', heard: 'the caller said "mm-hmm" into silence: the agent was not talking, so it could not be judged' };
      if (!yielded.yielded) return { ok: true, reason: 'no clear, and the agent was still talking after the backchannel' };
      const what = yielded.by === 'clear' ? `sent a clear ${ms(yielded.afterMs ?? 0)} after it began` : `went silent ${ms(yielded.afterMs ?? 0)} after it began (no clear: it stopped sending, or its answer ended there)`;
      return { ok: false, reason: `the agent ${what}`, heard: `the agent stopped for a backchannel (a false yield): it ${what}` };
    }
    case 'no_agent_audio_for_ms': {
      const window = wanted as number;
      const cue = cueOf(run)!;
      const heardIn = input.heard.chunks.find((c) => c.endAt > cue && c.startAt < cue + window);
      if (heardIn !== undefined) {
        const after = Math.max(0, heardIn.startAt - cue);
        return { ok: false, reason: `agent audio was heard ${ms(after)} after the cue`, heard: `the agent spoke ${ms(after)} after the cue (expected silence for ${ms(wanted as number)})` };
      }
      if (input.endedAt < cue + window) {
        const lasted = input.endedAt - cue;
        return { ok: false, reason: `the call ended ${ms(lasted)} after the cue`, heard: `the call ended ${ms(lasted)} after the cue, before ${ms(wanted as number)} of silence could be heard` };
      }
      return { ok: true, reason: `no agent audio for ${ms(wanted as number)} after the cue` };
    }
    default:
      return { ok: false, reason: `unknown expectation ${key}`, heard: `unknown expectation ${key}` };
  }
}
