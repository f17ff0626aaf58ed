// What the gate measured, by name: each call's figures (the worst of its turns: the slowest
// response, the slowest barge-in reaction), each turn's own, the run's percentiles over every
// turn of every call, and the thresholds (`--max-response-ms`, `--max-barge-in-ms`, the config's
// `thresholds`) that fail a call like any check. A figure never measured is null, never 0, and
// fails a threshold that applies to it: an agent that never answered is not fast.
import type { ReplayReport } from '../caller/replay.js';
import type { ConversationFigures, TurnKind } from '../scenario/measure.js';

/** Each call's figures, ms unless named otherwise; null: the call could have measured it and did not. */
export type CallFigures = Record<string, number | null>;

/** The figures a threshold may bound, each a maximum. */
export const FIGURE_NAMES = ['firstAudioMs', 'firstHeardMs', 'responseMs', 'bargeInMs', 'falseYields', 'talkOverMs', 'deadAirMs', 'burstFactor', 'listeningAfterSendMs'] as const;
export type FigureName = (typeof FIGURE_NAMES)[number];
export type Thresholds = Partial<Record<FigureName, number>>;

/** Figures measured turn by turn: their percentiles pool every turn of every call, and their thresholds bound each turn. */
const PER_TURN: ReadonlySet<FigureName> = new Set<FigureName>(['responseMs', 'bargeInMs']);

/** Whether `name` is measured turn by turn (else once a call). */
export function isPerTurn(name: FigureName): boolean {
  return PER_TURN.has(name);
}

/** The turns a per-turn figure is measured on: barge-ins for the reaction, spoken and keyed turns for the response. */
function measuredOn(name: FigureName): (turn: TurnFigures) => boolean {
  return name === 'bargeInMs' ? (t) => t.kind === 'barge-in' : (t) => t.kind === 'turn' || t.kind === 'keys';
}

export const FIGURE_LABELS: Readonly<Record<FigureName, { label: string; unit: 'ms' | 'count' | 'x' }>> = {
  firstAudioMs: { label: 'first audio', unit: 'ms' },
  firstHeardMs: { label: 'first heard', unit: 'ms' },
  responseMs: { label: 'response latency', unit: 'ms' },
  bargeInMs: { label: 'barge-in reaction', unit: 'ms' },
  falseYields: { label: 'false yields', unit: 'count' },
  talkOverMs: { label: 'talk-over', unit: 'ms' },
  deadAirMs: { label: 'dead air', unit: 'ms' },
  burstFactor: { label: 'burst sending', unit: 'x' },
  listeningAfterSendMs: { label: 'heard after sending', unit: 'ms' },
};

/** One turn's figures: what a threshold or a percentile reads of it. */
export interface TurnFigures {
  step: number;
  label: string;
  kind: TurnKind;
  responseMs: number | null;
  bargeInMs: number | null;
  /** The response latency split, when the model's record was at hand. */
  split: { turnDetectionMs: number | null; modelMs: number | null; agentMs: number | null; lineMs: number | null } | null;
}

/** The call's figures and its turns', from its replay report. */
export function figuresOf(report: ReplayReport): { figures: CallFigures; turns: TurnFigures[] } {
  const figures: CallFigures = { firstAudioMs: report.call.firstAudioLatencyMs };
  const conversation = report.conversation;
  if (conversation === null) return { figures, turns: [] };
  const measured: ConversationFigures = conversation.figures;
  // A figure only a kind of turn measures is left out of a call without one (not applicable), and
  // is null in a call that had one and did not measure it.
  const has = (kinds: readonly TurnKind[]): boolean => conversation.turns.some((t) => kinds.includes(t.kind));
  const applies: Partial<Record<FigureName, boolean>> = { responseMs: has(['turn', 'keys']), bargeInMs: has(['barge-in']), falseYields: has(['backchannel']) };
  for (const name of FIGURE_NAMES) {
    if (name === 'firstAudioMs' || applies[name] === false) continue;
    figures[name] = measured[name as keyof ConversationFigures] ?? null;
  }
  const turns = conversation.turns
    .filter((t) => t.kind !== 'backchannel')
    .map((t) => ({ step: t.step, label: t.label, kind: t.kind, responseMs: t.responseMs, bargeInMs: t.bargeIn?.reactionMs ?? null, split: t.split }));
  return { figures, turns };
}

export interface FigureSummary {
  name: FigureName;
  label: string;
  unit: 'ms' | 'count' | 'x';
  /** Values measured: turns for the per-turn figures, calls for the rest. */
  count: number;
  /** Turns or calls that could have measured it and did not. */
  missing: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Nearest-rank percentile of `sorted` (ascending), or null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

export interface MeasuredCall {
  figures: CallFigures;
  turns: readonly TurnFigures[];
}

/** The values of `name` across `calls`: every applicable turn for a per-turn figure, else every call that has it. */
function valuesOf(calls: readonly MeasuredCall[], name: FigureName): Array<number | null> {
  if (PER_TURN.has(name)) {
    const key = name as 'responseMs' | 'bargeInMs';
    return calls.flatMap((call) => call.turns.filter(measuredOn(name)).map((t) => t[key]));
  }
  return calls.filter((call) => Object.hasOwn(call.figures, name)).map((call) => call.figures[name] ?? null);
}

/** p50 / p95 / max of each figure the calls measured (or could have); figures no call has are left out. */
export function summarizeFigures(calls: readonly MeasuredCall[]): FigureSummary[] {
  const out: FigureSummary[] = [];
  for (const name of FIGURE_NAMES) {
    const values = valuesOf(calls, name);
    if (values.length === 0) continue;
    const present = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
    out.push({ name, ...FIGURE_LABELS[name], count: present.length, missing: values.length - present.length, p50: percentile(present, 50), p95: percentile(present, 95), max: present.at(-1) ?? null });
  }
  return out;
}

export function formatFigure(name: FigureName, value: number | null): string {
  if (value === null) return 'none';
  const unit = FIGURE_LABELS[name].unit;
  return unit === 'ms' ? `${Math.round(value)} ms` : unit === 'x' ? `${value}×` : String(value);
}

/** A threshold a call broke, said as the caller met it. */
export interface ThresholdBreach {
  name: FigureName;
  limit: number;
  value: number | null;
  message: string;
}

/** Every threshold `call` breaks; a threshold on a figure the call does not measure at all does not apply to it. */
export function breachesOf(call: MeasuredCall, thresholds: Thresholds): ThresholdBreach[] {
  const breaches: ThresholdBreach[] = [];
  for (const name of FIGURE_NAMES) {
    const limit = thresholds[name];
    if (limit === undefined) continue;
    const label = FIGURE_LABELS[name].label;
    if (PER_TURN.has(name)) {
      for (const turn of call.turns.filter(measuredOn(name))) {
        const value = turn[name as 'responseMs' | 'bargeInMs'];
        if (value !== null && value <= limit) continue;
        const said = value === null ? (name === 'bargeInMs' ? 'the agent never stopped for the caller' : 'the agent never answered') : `${label} ${formatFigure(name, value)}`;
        breaches.push({ name, limit, value, message: `${said} at step ${turn.step} (${turn.label}): over the ${label} threshold of ${formatFigure(name, limit)}` });
      }
      continue;
    }
    if (!Object.hasOwn(call.figures, name)) continue;
    const value = call.figures[name] ?? null;
    if (value !== null && value <= limit) continue;
    breaches.push({ name, limit, value, message: `${label} ${value === null ? 'never measured (the agent never spoke)' : formatFigure(name, value)}: over the threshold of ${formatFigure(name, limit)}` });
  }
  return breaches;
}

/** Thresholds no call of the run could measure: a run that never measured a bounded figure cannot pass it. */
export function unmeasuredThresholds(calls: readonly MeasuredCall[], thresholds: Thresholds): FigureName[] {
  return FIGURE_NAMES.filter((name) => thresholds[name] !== undefined && valuesOf(calls, name).length === 0);
}
