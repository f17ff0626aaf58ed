// The conversation in the text report: a scenario's steps and turns with their figures (a
// replay's view), and the run's percentiles and thresholds (the gate's). Every figure is the
// caller's wall-clock ms; a figure never measured says so.
import type { ChalkInstance } from 'chalk';
import type { ReplayReport } from '../caller/replay.js';
import { FIGURE_LABELS, formatFigure, type FigureName, type FigureSummary } from '../gate/figures.js';
import type { GateCallResult, GateResult } from '../gate/gate.js';
import type { TurnReport } from '../scenario/measure.js';
import { printable } from '../text/printable.js';

const ms = (value: number | null): string => (value === null ? '—' : `${Math.round(value)} ms`);

function turnText(turn: TurnReport): string {
  const parts: string[] = [];
  if (turn.bargeIn !== null) parts.push(`barge-in ${turn.bargeIn.reactionMs === null ? 'never stopped' : `${ms(turn.bargeIn.reactionMs)} (${turn.bargeIn.by})`}`);
  if (turn.yielded !== null) parts.push(turn.yielded.yielded ? `yielded after ${ms(turn.yielded.afterMs)} (${turn.yielded.by})` : 'kept talking');
  if (turn.kind !== 'backchannel') parts.push(`response ${turn.responseMs === null ? (turn.agentTalkingAtCue ? 'none (talking over)' : 'none') : ms(turn.responseMs)}`);
  if (turn.talkOverMs > 0) parts.push(`talk-over ${ms(turn.talkOverMs)}`);
  const split = turn.split === null ? '' : ` (turn detection ${ms(turn.split.turnDetectionMs)}, model ${ms(turn.split.modelMs)}, agent ${ms(turn.split.agentMs)}, line ${ms(turn.split.lineMs)})`;
  return parts.join(' · ') + split;
}

/** A scenario replay's steps, turns and figures (no lines for a plain replay). */
export function conversationLines(report: ReplayReport, style: ChalkInstance): string[] {
  const conversation = report.conversation;
  if (conversation === null) return [];
  const done = conversation.steps.filter((s) => s.outcome === 'done').length;
  const lines = [`  scenario     ${printable(conversation.scenario.name)}: ${done} of ${conversation.steps.length} steps done${conversation.speed !== 1 ? ` (steps at ×${conversation.speed})` : ''}`];
  for (const step of conversation.steps) {
    const turn = conversation.turns.find((t) => t.step === step.number);
    const outcome = step.outcome === 'done' ? step.outcome : step.outcome === 'skipped' ? style.dim(step.outcome) : style.red(step.outcome);
    const detail = turn !== undefined ? turnText(turn) : step.note !== null ? printable(step.note) : '';
    lines.push(`    ${String(step.number).padStart(2)}  ${printable(step.label).padEnd(36)} ${outcome}${detail ? `  ${style.dim(detail)}` : ''}`);
  }
  const f = conversation.figures;
  lines.push(
    `  figures      first heard ${ms(f.firstHeardMs)} · response ${ms(f.responseMs)} · barge-in ${ms(f.bargeInMs)} · false yields ${f.falseYields ?? '—'} · talk-over ${ms(f.talkOverMs)} · dead air ${ms(f.deadAirMs)} · burst ${f.burstFactor === null ? '—' : `${f.burstFactor}×`} · heard after sending ${ms(f.listeningAfterSendMs)}`,
  );
  if (conversation.split.source === null) lines.push(style.dim(`  note: no response split: ${printable(conversation.split.why)}`));
  return lines;
}

export function figureSummaryText(summary: FigureSummary): string {
  const over = summary.name === 'responseMs' || summary.name === 'bargeInMs' ? 'turn' : 'call';
  if (summary.count === 0) return `none: never measured on ${summary.missing} ${over}${summary.missing === 1 ? '' : 's'}`;
  const missing = summary.missing > 0 ? `, none on ${summary.missing}` : '';
  return `p50 ${formatFigure(summary.name, summary.p50)} · p95 ${formatFigure(summary.name, summary.p95)} · max ${formatFigure(summary.name, summary.max)} (${summary.count} ${over}${summary.count === 1 ? '' : 's'}${missing})`;
}

/** The run's figures (p50/p95/max) and its thresholds, under the gate's table; none for a run that measured only first audio. */
export function runFigureLines(result: GateResult, style: ChalkInstance): string[] {
  const shown = result.figures.filter((f) => f.name !== 'firstAudioMs' || result.figures.length > 1);
  if (shown.length === 0) return [];
  const lines = ['', style.bold(`figures${result.repeat > 1 ? ` (each cell ${result.repeat}×)` : ''}`)];
  for (const summary of shown) lines.push(`  ${summary.label.padEnd(22)} ${figureSummaryText(summary)}`);
  const thresholds = Object.entries(result.thresholds) as Array<[FigureName, number]>;
  if (thresholds.length > 0) lines.push(`  thresholds             ${thresholds.map(([name, limit]) => `${FIGURE_LABELS[name].label} ≤ ${formatFigure(name, limit)}`).join(' · ')}`);
  return lines;
}

/** The table's extra columns for a run with conversations: each call's slowest response and barge-in. */
export function conversationColumns(calls: readonly GateCallResult[]): { header: string[]; cells: (call: GateCallResult) => string[] } | null {
  if (!calls.some((c) => c.kind === 'scenario')) return null;
  const figure = (call: GateCallResult, name: FigureName): string => (!Object.hasOwn(call.figures, name) ? '' : formatFigure(name, call.figures[name] ?? null));
  return { header: ['response', 'barge-in'], cells: (call) => [figure(call, 'responseMs'), figure(call, 'bargeInMs')] };
}
