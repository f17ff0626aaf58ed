// A scenario's part of the replay report: its steps as they ran, its turns and answers with
// their measurements, the call's conversation figures, all on one clock (epoch ms of `start` as
// the origin, instants and figures as wall ms after it) so the HTML
// timeline and the model's session records line up with it.
import type { ScenarioStep } from './load.js';
import type { AnswerReport, ConversationFigures, Measurements, SendReport, TurnReport } from './measure.js';
import type { StepOutcome, StepRun } from './steps.js';
import type { LoadedScenario } from './load.js';

export interface StepReport {
  number: number;
  label: string;
  kind: ScenarioStep['kind'];
  direction: 'inbound' | 'outbound' | null;
  outcome: StepOutcome;
  /** ms after the origin; null when it never started. */
  startAt: number | null;
  endAt: number | null;
  /** A say: its first and last voiced frame. */
  speech: { startAt: number; endAt: number } | null;
  keys: Array<{ digit: string; at: number }>;
  note: string | null;
}

export interface ConversationReport {
  scenario: { name: string; file: string; description: string | null; contentHash: string };
  clock: 'epoch-ms';
  /** Epoch ms (performance.timeOrigin + performance.now()) `start` was sent; null if it never was. */
  origin: number | null;
  /** The call's speed: the scenario's own timings (wait, after_ms, timeout_ms, quiet_ms) ran this many times faster; figures are wall ms whatever it is. */
  speed: number;
  steps: StepReport[];
  turns: TurnReport[];
  answers: AnswerReport[];
  sends: SendReport[];
  figures: ConversationFigures;
  split: Measurements['split'];
  /** Why the caller hung up after the last step, when it was not the agent going quiet; null otherwise. */
  windDown: string | null;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

export function conversationReport(scenario: LoadedScenario, runs: readonly StepRun[], measurements: Measurements | null, origin: number | null, speed: number, windDown: string | null): ConversationReport {
  const at = (instant: number | null): number | null => (instant === null || origin === null ? null : round1(instant - origin));
  return {
    scenario: { name: scenario.name, file: scenario.file, description: scenario.description, contentHash: scenario.contentHash },
    clock: 'epoch-ms',
    origin: origin === null ? null : round1(performance.timeOrigin + origin),
    speed,
    steps: runs.map((run) => ({
      number: run.step.number,
      label: run.step.label,
      kind: run.step.kind,
      direction: run.step.direction,
      outcome: run.outcome,
      startAt: at(run.startedAt),
      endAt: at(run.endedAt),
      speech: run.speech === null ? null : { startAt: at(run.speech.startAt)!, endAt: at(run.speech.endAt)! },
      keys: run.keys.map((key) => ({ digit: key.digit, at: at(key.at)! })),
      note: run.note,
    })),
    turns: measurements?.turns ?? [],
    answers: measurements?.answers ?? [],
    sends: measurements?.sends ?? [],
    figures: measurements?.figures ?? { firstHeardMs: null, responseMs: null, bargeInMs: null, falseYields: null, talkOverMs: 0, deadAirMs: null, burstFactor: null, listeningAfterSendMs: null },
    split: measurements?.split ?? { source: null, why: 'the call never connected' },
    windDown,
  };
}
