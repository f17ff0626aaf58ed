// The conversation in the text report: a scenario's steps and turns with their figures (a
// replay's view), and the run's percentiles and thresholds (the gate's). Every figure is the
// caller's wall-clock ms; a figure never measured says so.
import type { ReplayReport } from '../caller/replay.js';
import { FIGURE_LABELS, formatFigure, type FigureName } from '../gate/figures.js';
import type { GateCallResult, GateResult } from '../gate/gate.js';
import type { TurnReport } from '../scenario/measure.js';
import { printable } from '../text/printable.js';
import type { Style } from '../text/style.js';

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
export function conversationLines(report: ReplayReport, style: Style): string[] {
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

/** The thresholds the run was held to, in a line; null when there were none. */
export function thresholdLine(result: GateResult): string | null {
  const thresholds = Object.entries(result.thresholds) as Array<[FigureName, number]>;
  if (thresholds.length === 0) return null;
  return `${'thresholds'.padEnd(20)} ${thresholds.map(([name, limit]) => `${FIGURE_LABELS[name].label} ≤ ${formatFigure(name, limit)}`).join(' · ')}${result.repeat > 1 ? ` (each cell ${result.repeat}×)` : ''}`;
}

/** The table's extra columns for a run with conversations: each call's slowest response and barge-in. */
export function conversationColumns(calls: readonly GateCallResult[]): { header: string[]; cells: (call: GateCallResult) => string[] } | null {
  if (!calls.some((c) => c.kind === 'scenario')) return null;
  const figure = (call: GateCallResult, name: FigureName): string => (!Object.hasOwn(call.figures, name) ? '' : formatFigure(name, call.figures[name] ?? null));
  return { header: ['response', 'barge-in'], cells: (call) => [figure(call, 'responseMs'), figure(call, 'bargeInMs')] };
}
