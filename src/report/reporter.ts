// What a reporter is: an object with optional hooks, fed the same events by `callsim replay` (a
// run of one call) and `callsim gate` (a run of the matrix). Modelled on Vitest's reporters.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CallProgress } from '../caller/call.js';
import type { ReplayReport } from '../caller/replay.js';
import type { GateCallResult, GateCell, GateResult, GateTiming } from '../gate/gate.js';
import { figuresOf, summarizeFigures } from '../gate/figures.js';
import type { Style } from '../text/style.js';

export type RunCommand = 'replay' | 'gate';

export interface RunStart {
  /** Calls the run will place. */
  total: number;
  /** One line on what will run ("6 calls (…), concurrency 4"), or null when there is nothing to add. */
  plan: string | null;
}

export interface CallStart {
  cell: GateCell;
  /** Calls running now, this one included. */
  running: number;
  done: number;
  total: number;
}

export interface CallEnd {
  /** The call as judged when it ended; the gate may add findings from server output later. */
  result: GateCallResult;
  /** The replay's full report; null when the replay could not run at all (its error is a finding). */
  report: ReplayReport | null;
  done: number;
  total: number;
}

export interface RunEnd {
  /** Every call, judged: for a replay, a result of one call made from its report. */
  result: GateResult;
  /** The replay's own report (`callsim replay`); null for a gate run. */
  replay: ReplayReport | null;
}

/** The run stopped before it had a result (the server could not start, the input was unreadable, Ctrl-C while it started). */
export interface RunFailure {
  message: string;
  /** Output that explains it (the server command's last lines), oldest first. */
  output: string[];
  /** The server the run was for, as the reports name it (a command with its secrets redacted), when known. */
  target: string | null;
  /** The signal that stopped it ("SIGINT"), or null when it failed on its own. */
  interrupted: string | null;
}

/**
 * Every hook is optional. Per-call hooks are synchronous: they run inside the gate's workers and
 * must not hold a call up; the run-level hooks may be async, for reporters that write files.
 */
export interface Reporter {
  onRunStart?(run: RunStart): void | Promise<void>;
  onCallStart?(call: CallStart): void;
  /** Live progress of a call in flight (the replay reports it; the gate's calls do not). */
  onCallProgress?(progress: CallProgress): void;
  onCallEnd?(call: CallEnd): void;
  onRunEnd?(run: RunEnd): void | Promise<void>;
  onRunFailure?(failure: RunFailure): void | Promise<void>;
}

/** Where output goes: process.stdout / process.stderr, or a stand-in in tests. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ReporterContext {
  command: RunCommand;
  /** The file named by `--reporter name=FILE`; null: the reporter's own stream. */
  file: string | null;
  stdout: TextSink;
  stderr: TextSink;
  /** Colours for the stream the reporter writes to (none when it writes a file). */
  style: Style;
  /** Less detail: only verdicts and failures (`callsim replay --quiet`). */
  quiet: boolean;
  /** Put each call's timeline in the JSON report (`--timeline`); the HTML report always has them. */
  timeline: boolean;
}

/** A finished report to its file, or to stdout when it was given none. */
export async function writeReport(context: ReporterContext, text: string): Promise<void> {
  if (context.file === null) context.stdout.write(text);
  else await writeFile(context.file, text);
}

/** The gate-shaped cell of a replay, so both commands name a call the same way. */
export function replayCell(file: string, direction: GateCell['direction'], timing: GateTiming, kind: GateCell['kind'] = 'fixture'): GateCell {
  const id = `${path.basename(file)} ${direction} ${timing}`;
  return { id, cellId: id, fixture: file, kind, direction, timing, repeat: 1 };
}

/** A replay's call in the gate's result shape: its failures are its findings. */
export function replayCallResult(cell: GateCell, report: ReplayReport): GateCallResult {
  return {
    ...cell,
    verdict: report.verdict,
    placement: report.callFlow.mode,
    callSid: report.call.callSid,
    durationMs: report.call.durationMs,
    framesSent: report.call.framesSent,
    framesReceived: report.call.framesReceived,
    serverCounters: report.stats.counters,
    checks: report.checks,
    model: report.model,
    ...figuresOf(report),
    artifacts: null,
    findings: report.failures.map((message) => ({ kind: 'replay-check', message, lines: [] })),
    serverLog: null,
  };
}

/** A replay as a run of one call: the same result shape the gate produces, and the report itself. */
export function replayRun(call: GateCallResult, report: ReplayReport, interrupted: string | null = null): RunEnd {
  return {
    result: {
      verdict: report.verdict,
      target: report.target.builtInServer ? `${report.target.url} (built-in server)` : report.target.url,
      startedAt: report.call.startedAt,
      durationMs: report.elapsedMs,
      calls: [call],
      unattributed: [],
      serverExit: null,
      serverOutput: null,
      strayProcesses: null,
      interrupted,
      notRun: [],
      notes: [],
      figures: summarizeFigures([call]),
      thresholds: {},
      repeat: 1,
    },
    replay: report,
  };
}
