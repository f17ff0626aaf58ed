// The figures a run measured, summarised for every report: the gate's percentiles (gate/figures.ts:
// response latency and barge-in pooled over every turn of every call, the rest over calls) with
// what each figure is, in a line, and the figures a report always lists said as absent when the
// run did not measure them, never as 0.
import { formatFigure, summarizeFigures as summarizeRun, type FigureName } from '../gate/figures.js';
import type { GateCallResult } from '../gate/gate.js';

export { percentile } from '../gate/figures.js';

export interface FigureKind {
  /** The key in GateCallResult.figures. */
  name: FigureName;
  label: string;
  /** What it is, and the clock it is read from, in a line. */
  what: string;
  /** Listed whether or not the run measured it. */
  always: boolean;
}

/** Every figure a report can show, in order; the `always` ones are listed even when a run did not measure them. */
export const FIGURE_KINDS: readonly FigureKind[] = [
  { name: 'firstAudioMs', label: 'first audio', always: true, what: "the caller's first media frame (or start, when the agent speaks first) to the first audio back, on the caller's clock" },
  { name: 'firstHeardMs', label: 'first heard', always: false, what: '`start` to the first agent audio the caller heard' },
  { name: 'responseMs', label: 'response latency', always: true, what: "end of the caller's speech (or its last key) to the first agent audio the caller hears, per turn" },
  { name: 'bargeInMs', label: 'barge-in reaction', always: true, what: "the caller starts talking over the agent to a clear or the agent's audio stopping, per barge-in" },
  { name: 'falseYields', label: 'false yields', always: false, what: 'backchannels the agent stopped for' },
  { name: 'talkOverMs', label: 'talk-over', always: false, what: 'agent audio begun while the caller was talking' },
  { name: 'deadAirMs', label: 'dead air', always: false, what: 'the longest gap inside one answer the playout could not cover' },
  { name: 'burstFactor', label: 'burst sending', always: false, what: "the agent's fastest run of sending, in times real time" },
  { name: 'listeningAfterSendMs', label: 'heard after sending', always: false, what: "how long the caller still heard an answer after its last frame was sent" },
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
    const over = kind.name === 'responseMs' || kind.name === 'bargeInMs' ? 'turn' : 'call';
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
