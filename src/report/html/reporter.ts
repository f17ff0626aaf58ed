// `--reporter html=FILE`: the run as one self-contained page (page.ts). Each call is turned into
// what the page embeds when it ends (data.ts: its waveforms already binned), so a long gate keeps
// a screenful of levels per call, not every frame; the final result then replaces each call's
// verdict and findings with the gate's last word (crash lines judged after the call ended).
import type { GateCallResult, GateResult } from '../../gate/gate.js';
import { summarizeFigures } from '../figures.js';
import { groupFindings } from '../findings.js';
import { writeReport, type Reporter, type ReporterContext, type RunFailure } from '../reporter.js';
import { htmlCall, notRunCall, prepareCall, type HtmlCall, type PreparedCall } from './data.js';
import { renderPage, type HtmlDocument } from './page.js';

/** The page of a finished run; `prepared` holds what each call's replay report gave, by its result object. */
export function formatHtml(result: GateResult, prepared: ReadonlyMap<GateCallResult, PreparedCall>, command: 'replay' | 'gate'): string {
  const calls: HtmlCall[] = result.calls.map((call) => htmlCall(call, prepared.get(call) ?? prepareCall(null)));
  for (const cell of result.notRun) calls.push(notRunCall(cell, `not run: the run was interrupted (${result.interrupted ?? 'aborted'})`));
  const doc: HtmlDocument = {
    command,
    verdict: result.interrupted !== null ? 'interrupted' : result.verdict,
    target: result.target,
    startedAt: result.startedAt,
    durationMs: result.durationMs,
    calls,
    groups: groupFindings(result),
    figures: summarizeFigures(result.calls),
    failure: null,
    interrupted: result.interrupted,
    serverExit: result.serverExit,
  };
  return renderPage(doc);
}

/** The page of a run that never got a result. */
export function formatHtmlFailure(failure: RunFailure, command: 'replay' | 'gate', startedAt: string, durationMs: number): string {
  return renderPage({
    command,
    verdict: failure.interrupted !== null ? 'interrupted' : 'error',
    target: failure.target,
    startedAt,
    durationMs,
    calls: [],
    groups: [],
    figures: [],
    failure: { message: failure.message, output: failure.output },
    interrupted: failure.interrupted,
    serverExit: null,
  });
}

export function htmlReporter(context: ReporterContext): Reporter {
  const prepared = new Map<GateCallResult, PreparedCall>();
  let started = { iso: new Date().toISOString(), at: Date.now() };
  return {
    onRunStart() {
      started = { iso: new Date().toISOString(), at: Date.now() };
    },
    onCallEnd({ result, report }) {
      prepared.set(result, prepareCall(report));
    },
    async onRunEnd(run) {
      // A replay's run holds a fresh result object for its one call: its report is the run's own.
      const only = run.result.calls[0];
      if (run.replay !== null && only !== undefined && !prepared.has(only)) prepared.set(only, prepareCall(run.replay));
      await writeReport(context, formatHtml(run.result, prepared, context.command));
    },
    async onRunFailure(failure) {
      await writeReport(context, formatHtmlFailure(failure, context.command, started.iso, Date.now() - started.at));
    },
  };
}
