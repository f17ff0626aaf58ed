// The figures a run measured, summarised across its calls for every report: percentiles of each
// named figure (GateCallResult.figures), and the figures a report should show that this run did
// not measure at all, said as absent, never as 0.
import type { GateCallResult } from '../gate/gate.js';

export interface FigureKind {
  /** The key in GateCallResult.figures. */
  name: string;
  label: string;
  /** What it is, and the clock it is read from, in a line. */
  what: string;
}

/**
 * The figures a report lists, in order, whether or not this run has them. A plain replay measures
 * first audio; response latency and barge-in reaction come with scripted conversations (issue
 * 14), under these names. A figure a run has that is not listed here is shown by its own name.
 */
export const FIGURE_KINDS: readonly FigureKind[] = [
  { name: 'firstAudioMs', label: 'first audio', what: "the caller's first media frame (or start, when the agent speaks first) to the first audio back, on the caller's clock" },
  { name: 'responseMs', label: 'response latency', what: "end of the caller's speech to the first agent audio the caller hears" },
  { name: 'bargeInMs', label: 'barge-in reaction', what: "the caller starts talking over the agent to a clear or the agent's audio stopping" },
];

export interface FigureSummary extends FigureKind {
  /** Calls that measured it. */
  count: number;
  /** Calls that could have and did not (null: the agent never spoke, say). */
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

/** One summary per listed figure and per other figure the calls carry. */
export function summarizeFigures(calls: readonly GateCallResult[]): FigureSummary[] {
  const known = new Set(FIGURE_KINDS.map((kind) => kind.name));
  const extra = new Set<string>();
  for (const call of calls) for (const name of Object.keys(call.figures)) if (!known.has(name)) extra.add(name);
  const kinds = [...FIGURE_KINDS, ...[...extra].sort().map((name) => ({ name, label: name, what: '' }))];
  return kinds.map((kind) => {
    const values: number[] = [];
    let missing = 0;
    for (const call of calls) {
      if (!Object.hasOwn(call.figures, kind.name)) continue;
      const value = call.figures[kind.name];
      if (typeof value === 'number' && Number.isFinite(value)) values.push(value);
      else missing += 1;
    }
    values.sort((a, b) => a - b);
    return { ...kind, count: values.length, missing, p50: percentile(values, 50), p95: percentile(values, 95), max: values.at(-1) ?? null };
  });
}

/** "p50 420 ms · p95 910 ms · max 1.2 s (6 calls)", or why there is none. */
export function figureText(summary: FigureSummary): string {
  if (summary.count === 0) return summary.missing > 0 ? `none: never measured on ${summary.missing} call${summary.missing === 1 ? '' : 's'}` : 'not measured by this run';
  const ms = (value: number | null): string => (value === null ? '—' : `${Math.round(value)} ms`);
  const missing = summary.missing > 0 ? `, none on ${summary.missing}` : '';
  return `p50 ${ms(summary.p50)} · p95 ${ms(summary.p95)} · max ${ms(summary.max)} (${summary.count} call${summary.count === 1 ? '' : 's'}${missing})`;
}
