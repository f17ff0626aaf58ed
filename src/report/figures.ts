// The figures a run measured, summarised for every report: the gate's percentiles (gate/figures.ts:
// response latency and barge-in pooled over every turn of every call, the rest over calls) with
// what each figure is, in a line, and the figures a report always lists said as absent when the
// run did not measure them, never as 0.
import { FIGURE_LABELS, formatFigure, isPerTurn, summarizeFigures as summarizeRun, type FigureName } from '../gate/figures.js';
import type { GateCallResult } from '../gate/gate.js';

export { percentile } from '../gate/figures.js';

export interface FigureKind {
  /** The key in GateCallResult.figures. */
  name: FigureName;
  /** Its name in every report (gate/figures.ts's FIGURE_LABELS). */
  label: string;
  /** What it is, and the clock it is read from, in a line. */
  what: string;
  /** Listed whether or not the run measured it. */
  always: boolean;
}

const figureKind = (name: FigureName, always: boolean, what: string): FigureKind => ({ name, label: FIGURE_LABELS[name].label, always, what });

/** Every figure a report can show, in order; the `always` ones are listed even when a run did not measure them. */
export const FIGURE_KINDS: readonly FigureKind[] = [
  figureKind('firstAudioMs', true, "the caller's first media frame (or start, when the agent speaks first) to the first audio back, on the caller's clock"),
  figureKind('firstHeardMs', false, '`start` to the first agent audio the caller heard'),
  figureKind('responseMs', true, "end of the caller's speech (or its last key) to the first agent audio the caller hears, per turn"),
  figureKind('bargeInMs', true, "the caller starts talking over the agent to a clear or the agent's audio stopping, per barge-in"),
  figureKind('falseYields', false, 'backchannels the agent stopped for'),
  figureKind('talkOverMs', false, 'agent audio begun while the caller was talking'),
  figureKind('deadAirMs', false, 'the longest gap inside one answer the playout could not cover'),
  figureKind('burstFactor', false, "the agent's fastest run of sending, in times real time"),
  figureKind('listeningAfterSendMs', false, 'how long the caller still heard an answer after its last frame was sent'),
];

export interface FigureSummary extends FigureKind {
  /** Turns (response, barge-in) or calls (the rest) that measured it. */
  count: number;
  /** Turns or calls that could have and did not (the agent never spoke, say). */
  missing: number;
  /** What a value counts over. */
  over: 'turn' | 'call';
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** One summary per figure the calls measured (or could have), and per `always` figure. */
export function summarizeFigures(calls: readonly GateCallResult[]): FigureSummary[] {
  const measured = new Map(summarizeRun(calls).map((s) => [s.name, s]));
  return FIGURE_KINDS.filter((kind) => kind.always || measured.has(kind.name)).map((kind) => {
    const summary = measured.get(kind.name);
    const over = isPerTurn(kind.name) ? 'turn' : 'call';
    return { ...kind, over, count: summary?.count ?? 0, missing: summary?.missing ?? 0, p50: summary?.p50 ?? null, p95: summary?.p95 ?? null, max: summary?.max ?? null };
  });
}

/** "p50 420 ms · p95 910 ms · max 1200 ms (6 turns)", or why there is none. */
export function figureText(summary: FigureSummary): string {
  const unit = (n: number): string => `${n} ${summary.over}${n === 1 ? '' : 's'}`;
  if (summary.count === 0) return summary.missing > 0 ? `none: never measured on ${unit(summary.missing)}` : 'not measured by this run';
  const value = (v: number | null): string => (v === null ? '—' : formatFigure(summary.name, v));
  const missing = summary.missing > 0 ? `, none on ${summary.missing}` : '';
  return `p50 ${value(summary.p50)} · p95 ${value(summary.p95)} · max ${value(summary.max)} (${unit(summary.count)}${missing})`;
}
