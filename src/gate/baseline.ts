// Baselines: `--save-baseline FILE` keeps each cell's figures (p50 and p95 over its repeats) with
// a content hash of what was run (the fixtures' and scenarios' bytes and the settings that change
// what the caller does); `--baseline FILE` compares a run against one. A figure regresses only
// when it is worse by both a percentage and an absolute floor (noise is neither); a figure that
// is now missing where the baseline had one (the agent never spoke) is the worst regression, never
// an improvement; and runs of different inputs are refused, not compared.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { FIGURE_NAMES, formatFigure, percentile, type FigureName, type MeasuredCall } from './figures.js';

export const BASELINE_VERSION = 1;

/** Worse by more than this share of the baseline value... */
export const DEFAULT_REGRESSION_PCT = 20;
/** ...and by more than this many ms (counts: by at least one). */
export const DEFAULT_REGRESSION_FLOOR_MS = 100;

/** burstFactor is a description of how the agent sends, not better or worse by itself. */
const COMPARED: readonly FigureName[] = FIGURE_NAMES.filter((name) => name !== 'burstFactor');
const COUNT_FIGURES: ReadonlySet<FigureName> = new Set<FigureName>(['falseYields']);

export interface BaselineFigure {
  p50: number | null;
  p95: number | null;
  /** Repeats that measured it, and that could have and did not. */
  count: number;
  missing: number;
}

export interface Baseline {
  version: number;
  /** SHA-256 over the inputs and settings: a run compares only against a baseline with the same. */
  contentHash: string;
  /** What went into the hash, for people. */
  inputs: BaselineInputs;
  savedAt: string;
  /** By cell (its id without the repeat number): each figure's distribution. */
  cells: Record<string, Partial<Record<FigureName, BaselineFigure>>>;
}

export interface BaselineInputs {
  /** Each fixture or scenario and the SHA-256 of its content. */
  files: Array<{ file: string; sha256: string }>;
  /** The settings that change what the caller does: directions, timings, speed, bad line, seed... */
  settings: Record<string, unknown>;
}

export class BaselineError extends Error {
  override readonly name = 'BaselineError';
}

export function contentHashOf(inputs: BaselineInputs): string {
  return createHash('sha256').update(JSON.stringify({ files: inputs.files, settings: inputs.settings })).digest('hex');
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export interface BaselineCall extends MeasuredCall {
  /** The cell's id without its repeat number: repeats of one cell are one distribution. */
  cellId: string;
}

function distribution(values: Array<number | null>): BaselineFigure {
  const present = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  return { p50: percentile(present, 50), p95: percentile(present, 95), count: present.length, missing: values.length - present.length };
}

/** Each cell's figure: the per-call value (a call's worst turn), over its repeats. */
export function baselineOf(calls: readonly BaselineCall[], inputs: BaselineInputs): Baseline {
  const cells: Baseline['cells'] = {};
  const byCell = new Map<string, BaselineCall[]>();
  for (const call of calls) byCell.set(call.cellId, [...(byCell.get(call.cellId) ?? []), call]);
  for (const [cellId, repeats] of byCell) {
    const figures: Partial<Record<FigureName, BaselineFigure>> = {};
    for (const name of COMPARED) {
      const values = repeats.filter((r) => Object.hasOwn(r.figures, name)).map((r) => r.figures[name] ?? null);
      if (values.length > 0) figures[name] = distribution(values);
    }
    cells[cellId] = figures;
  }
  return { version: BASELINE_VERSION, contentHash: contentHashOf(inputs), inputs, savedAt: new Date().toISOString(), cells };
}

export function saveBaseline(file: string, baseline: Baseline): void {
  writeFileSync(file, `${JSON.stringify(baseline, null, 2)}\n`);
}

export function loadBaseline(file: string): Baseline {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BaselineError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `not a baseline (${(err as Error).message})`}`);
  }
  const b = parsed as Partial<Baseline>;
  if (typeof parsed !== 'object' || parsed === null || b.version !== BASELINE_VERSION || typeof b.contentHash !== 'string' || typeof b.cells !== 'object' || b.cells === null) {
    throw new BaselineError(`${file}: not a callsim baseline (version ${BASELINE_VERSION}, saved with --save-baseline)`);
  }
  return parsed as Baseline;
}

export interface RegressionRules {
  pct: number;
  floorMs: number;
}

export interface Regression {
  cell: string;
  figure: FigureName;
  stat: 'p50' | 'p95';
  baseline: number | null;
  now: number | null;
  message: string;
}

export interface BaselineComparison {
  regressions: Regression[];
  /** Cells of one run and not the other, said, not judged. */
  notes: string[];
}

/** Throws a BaselineError saying what changed, unless `baseline` was made from these inputs and settings. */
export function checkSameInputs(baseline: Baseline, inputs: BaselineInputs): void {
  const hash = contentHashOf(inputs);
  if (baseline.contentHash === hash) return;
  const changed = describeChange(baseline.inputs, inputs);
  throw new BaselineError(`the baseline was made from other inputs or settings (content hash ${baseline.contentHash.slice(0, 12)}…, this run ${hash.slice(0, 12)}…)${changed}: save a new one with --save-baseline`);
}

/** Refuses a baseline of other inputs; else every figure of every cell both runs have, compared. */
export function compareToBaseline(baseline: Baseline, current: Baseline, rules: RegressionRules): BaselineComparison {
  checkSameInputs(baseline, current.inputs);
  const regressions: Regression[] = [];
  const notes: string[] = [];
  for (const [cell, figures] of Object.entries(current.cells)) {
    const base = baseline.cells[cell];
    if (base === undefined) {
      notes.push(`${cell}: not in the baseline`);
      continue;
    }
    for (const name of COMPARED) {
      const was = base[name];
      const now = figures[name];
      if (was === undefined || now === undefined) continue;
      for (const stat of ['p50', 'p95'] as const) {
        const verdict = judge(name, was[stat], now[stat], rules);
        if (verdict !== null) regressions.push({ cell, figure: name, stat, baseline: was[stat], now: now[stat], message: `${cell}: ${name} ${stat} ${verdict}` });
      }
    }
  }
  for (const cell of Object.keys(baseline.cells)) if (current.cells[cell] === undefined) notes.push(`${cell}: in the baseline, not run this time`);
  return { regressions, notes };
}

/** Why `now` is a regression from `was`, or null when it is not. */
function judge(name: FigureName, was: number | null, now: number | null, rules: RegressionRules): string | null {
  if (was === null) return null;
  if (now === null) return `was ${formatFigure(name, was)}, now never measured (the agent never spoke): the worst regression`;
  const worse = now - was;
  const floor = COUNT_FIGURES.has(name) ? 0.5 : rules.floorMs;
  const pct = COUNT_FIGURES.has(name) ? 0 : rules.pct;
  if (worse <= floor || worse <= (was * pct) / 100) return null;
  const share = was > 0 ? ` (+${Math.round((worse / was) * 100)} %)` : '';
  return `${formatFigure(name, was)} → ${formatFigure(name, now)}${share}: worse by more than ${COUNT_FIGURES.has(name) ? 'none' : `${pct} % and ${floor} ms`}`;
}

function describeChange(was: BaselineInputs, now: BaselineInputs): string {
  const before = new Map(was.files.map((f) => [f.file, f.sha256]));
  const changed = now.files.filter((f) => before.get(f.file) !== f.sha256).map((f) => f.file);
  const settings = Object.keys({ ...was.settings, ...now.settings }).filter((key) => JSON.stringify(was.settings[key]) !== JSON.stringify(now.settings[key]));
  const parts = [...(changed.length > 0 ? [`files ${changed.join(', ')}`] : []), ...(settings.length > 0 ? [`settings ${settings.join(', ')}`] : [])];
  return parts.length > 0 ? `: changed ${parts.join('; ')}` : '';
}
