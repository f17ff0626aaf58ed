// src/gate/: the pre-deploy gate. This file runs the matrix: every fixture and scenario ×
// direction × timing (each cell `repeat` times, one after another) replayed against one server,
// each call placed the way Twilio places it (the target's voice webhook, or direct mode) and
// judged by the replay's own checks (a scenario's too), a scan of the server's output for crash
// signatures (crash-scan.ts), the model side of every call (witness/) and the thresholds on its
// figures (figures.ts); target.ts starts or reaches the server, config.ts reads
// callsim.config.json, cell.ts runs one cell, baseline.ts and artifacts.ts keep what a run leaves
// behind. It may import caller/, scenario/, audio/, twilio/ and, to run the built-in target,
// server/; never cli/ or report/ (reporters are fed through its hooks).
import path from 'node:path';
import type { CallDirection } from '../twilio/codec.js';
import { loadWavAsMulawFrames, type MulawAudio } from '../audio/wav.js';
import type { BadLine, ModelLegReport, NetworkDelay, ReplayCheck, ReplayReport, WebhookMethod, WebhookTarget } from '../caller/replay.js';
import { printable } from '../text/printable.js';
import { redactSecrets } from '../log.js';
import type { LoadedScenario } from '../scenario/load.js';
import { keepArtifacts, type CallArtifacts } from './artifacts.js';
import { FIGURE_LABELS, summarizeFigures, unmeasuredThresholds, type CallFigures, type FigureSummary, type Thresholds, type TurnFigures } from './figures.js';
import { MAX_CRASH_HITS, MAX_CRASH_HITS_PER_SOURCE, type CrashHit } from './crash-scan.js';
import { sliceServerLog, windowsAt, type CallWindow, type ServerLogSlice } from './server-log.js';
import { lastLines, runCell } from './cell.js';
import { startTarget, type GateTarget, type TargetSpec, type TargetStopReport } from './target.js';
import { prepareWitness, type GateWitnessOptions } from './witness/run.js';

export type GateTiming = 'realtime' | 'burst' | 'early-media';
export const GATE_TIMINGS: readonly GateTiming[] = ['realtime', 'burst', 'early-media'];

export interface GateCell {
  id: string;
  /** The WAV replayed, or the scenario file run. */
  fixture: string;
  kind: 'fixture' | 'scenario';
  direction: CallDirection;
  timing: GateTiming;
  /** Which run of the cell this is (1 to --repeat). */
  repeat: number;
  /** The id without the repeat number: the repeats of one cell share it. */
  cellId: string;
}

export type FindingKind = 'replay-check' | 'crash-signature' | 'server-exit' | 'server-left-running' | 'unreported-call' | 'replay-error' | 'threshold' | 'regression';

export interface Finding {
  kind: FindingKind;
  message: string;
  /** Server output that backs it up (the error line and what follows). */
  lines: string[];
  /** Epoch ms it happened (a crash line printed, the server exiting), when the gate knows. */
  at?: number;
}

export interface GateCallResult extends GateCell {
  /** Final once the whole matrix is judged: server output can still add findings after a call ends. */
  verdict: 'pass' | 'fail';
  /** Placed through the voice webhook, or dialled directly (direction a label only); null when it never ran. */
  placement: 'webhook' | 'direct' | null;
  callSid: string | null;
  durationMs: number;
  framesSent: number;
  framesReceived: number;
  serverCounters: Record<string, number | null> | null;
  /** Every check of the call's replay, the model side's included, with what it saw. */
  checks: ReplayCheck[];
  /** The model sessions tied to the call, and how; null when the model side was not watched. */
  model: ModelLegReport | null;
  /**
   * What was measured on the call, by name (figures.ts): a plain replay measures `firstAudioMs`
   * (first media frame sent, or start, to the first audio back), a scenario adds its own
   * (response latency, barge-in, ...); null when it could have been and was not (the agent never spoke).
   */
  figures: CallFigures;
  /** A scenario's turns, each with its own figures; empty for a plain replay. */
  turns: TurnFigures[];
  /** Where a failing call's recording, trace and server log are (--artifacts); null otherwise. */
  artifacts: CallArtifacts | null;
  findings: Finding[];
  /** This call's own lines of the server's output (server-log.ts); null when no output was read (a replay). */
  serverLog: ServerLogSlice | null;
}

export type { CallFigures } from './figures.js';

export interface GateResult {
  verdict: 'pass' | 'fail';
  target: string;
  startedAt: string;
  durationMs: number;
  calls: GateCallResult[];
  /** Crash lines no call could be tied to (printed before any call ran, or after all ended). */
  unattributed: Finding[];
  serverExit: string | null;
  /** What the server printed that the gate cut (overlong lines, crash lines past the cap); null when no output was read (a replay). */
  serverOutput: { longLinesCut: number; charsCut: number; crashLinesNotKept: number } | null;
  /** Processes the server command left outside its process group, stopped by the gate; null when there was no command. */
  strayProcesses: number | null;
  /** Why the run stopped before every cell ran ("SIGINT"), or null when it ran to the end. */
  interrupted: string | null;
  /** The cells that never ran because the run was interrupted. */
  notRun: GateCell[];
  /** What the run should say about itself: direct mode, a target without a webhook, URLs accepted only locally. */
  notes: string[];
  /** p50 / p95 / max of each figure, over every turn (response, barge-in) or call (the rest). */
  figures: FigureSummary[];
  /** The thresholds the run was held to. */
  thresholds: Thresholds;
  /** How many times each cell ran. */
  repeat: number;
}

/** How the gate places each call (the replay's options of the same names). */
export interface GatePlacement {
  /**
   * The voice webhook; null: direct mode. Default: /twiml (callsim serve's) on the built-in
   * server and a server command, where a 404 falls back to direct mode and says so; a URL target
   * without one is dialled directly.
   */
  webhook?: WebhookTarget | null;
  webhookMethod?: WebhookMethod;
  /** Direct mode's customParameters; `{direction}` becomes each call's direction. */
  params?: Readonly<Record<string, string>>;
  authToken?: string | null;
  allowServerHangup?: boolean;
  networkDelay?: NetworkDelay;
  congestionMs?: number;
  /** The agent side of a fork's outbound track. */
  agentAudio?: MulawAudio;
  /** Latency, jitter and loss between Twilio and the server, drawn from `seed`. */
  badLine?: BadLine;
  /** Every call's network seed (mark echoes, jitter, loss); default: from each callSid. */
  seed?: number;
}

export interface GateOptions {
  fixtures: string[];
  /** Scenarios, read and checked already (scenario/load.ts): each is a cell per direction × timing. */
  scenarios?: readonly LoadedScenario[];
  /** Each cell this many times, one after another (a distribution, never retries until green). Default 1. */
  repeat?: number;
  /** Figures no call may exceed (figures.ts): a breach fails the call like any check. */
  thresholds?: Thresholds;
  /** Keep each failing call's recording, wire trace and server log under this folder. */
  artifactsDir?: string;
  /** Fixtures already decoded, by path; any other is decoded once here. */
  audio?: ReadonlyMap<string, MulawAudio>;
  directions: CallDirection[];
  timings: GateTiming[];
  speed: number;
  concurrency: number;
  target: TargetSpec;
  timeoutMs?: number;
  tailMs?: number;
  expectAudio: boolean;
  placement?: GatePlacement;
  /** Bearer token for the server's GET /calls (callsim serve's --calls-token); null: none. */
  statsToken?: string | null;
  /** The model side: whose sessions are read and how they are judged (default: on, wherever a model leg can be seen). */
  witness?: GateWitnessOptions;
  /** `report` is the call's full replay report; null when the replay could not run (see its findings). */
  onCallDone?: (result: GateCallResult, done: number, total: number, report: ReplayReport | null) => void;
  onCallStart?: (cell: GateCell, running: number, done: number, total: number) => void;
  /** Aborting stops the run: calls in flight hang up, no new ones start, the server is stopped, and the result says so. */
  signal?: AbortSignal;
}

/** Every fixture and scenario × direction × timing, each `repeat` times in a row. */
export function buildMatrix(fixtures: string[], directions: CallDirection[], timings: GateTiming[], scenarios: readonly string[] = [], repeat = 1): GateCell[] {
  const cells: GateCell[] = [];
  const sources = [...fixtures.map((file) => ({ file, kind: 'fixture' as const })), ...scenarios.map((file) => ({ file, kind: 'scenario' as const }))];
  for (const { file, kind } of sources) {
    for (const direction of directions) {
      for (const timing of timings) {
        const cellId = `${path.basename(file)} ${direction} ${timing}`;
        for (let n = 1; n <= repeat; n += 1) cells.push({ id: repeat > 1 ? `${cellId} #${n}` : cellId, cellId, fixture: file, kind, direction, timing, repeat: n });
      }
    }
  }
  return cells;
}

export async function runGate(options: GateOptions): Promise<GateResult> {
  const began = Date.now();
  const repeat = options.repeat ?? 1;
  const scenarios = new Map((options.scenarios ?? []).map((s) => [s.file, s]));
  const cells = buildMatrix(options.fixtures, options.directions, options.timings, [...scenarios.keys()], repeat);
  // Decode each fixture once, not once per cell.
  const audio = new Map(options.audio);
  for (const fixture of options.fixtures) if (!audio.has(fixture)) audio.set(fixture, loadWavAsMulawFrames(fixture));
  const prepared = await prepareWitness(options.target, options.witness ?? {}, cells.length);
  let target: GateTarget;
  try {
    target = await startTarget(prepared.spec, options.signal);
  } catch (err) {
    await prepared.close();
    throw err;
  }
  const witness = prepared.witnessFor(target);
  let modelNotes: string[] = [];
  // In cell order: windows[i] is cells[i]'s call once it has run.
  const windows: CallWindow[] = [];
  let serverExit: string | null = null;
  let stopReport: TargetStopReport = { strays: 0, portInUse: false };
  let serverExitedAt: number | null = null;
  // What the server prints after this is its answer to our SIGTERM (a shutdown traceback, say),
  // not a call's crash.
  let judgedUntil = Number.POSITIVE_INFINITY;
  let done = 0;
  let running = 0;
  try {
    let next = 0;
    const aborted = (): boolean => options.signal?.aborted === true;
    const worker = async (): Promise<void> => {
      while (next < cells.length && !aborted()) {
        // A worker takes a cell with all its repeats: they run one after another, never side by side.
        const first = next;
        while (next < cells.length && cells[next]!.cellId === cells[first]!.cellId) next += 1;
        const end = next;
        for (let index = first; index < end; index += 1) {
          const cell = cells[index] as GateCell;
          if (aborted()) break;
          running += 1;
          options.onCallStart?.(cell, running, done, cells.length);
          const startedAt = Date.now();
          const { result, statsNote, streamSid, report } = await runCell(cell, audio.get(cell.fixture) ?? null, scenarios.get(cell.fixture) ?? null, target, options, witness);
          running -= 1;
          done += 1;
          const notes = report === null ? [] : [report.callFlow.fallback, ...report.callFlow.notes].filter((n): n is string => n !== null);
          windows[index] = { result, notes, statsNote, streamSid, startedAt, endedAt: Date.now() };
          options.onCallDone?.(result, done, cells.length, report);
        }
      }
    };
    const groups = new Set(cells.map((c) => c.cellId)).size;
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, groups)) }, worker));
    // Let the last lines of output arrive before judging.
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Before the server stops: a session it leaked is still open now.
    modelNotes = await witness.notes();
  } finally {
    // Read before stop(): our own SIGTERM is not a crash.
    serverExit = target.exit();
    serverExitedAt = target.exitedAt();
    judgedUntil = Date.now();
    stopReport = await target.stop();
    await prepared.close();
  }

  // Only the calls that ran: an interrupted run leaves holes where cells never started.
  const ran = windows.filter((w): w is CallWindow => w !== undefined);
  const slices = sliceServerLog(target.logs, ran, judgedUntil);
  ran.forEach((w, i) => {
    const slice = slices[i];
    w.result.serverLog = slice === undefined ? null : { ...slice, lines: slice.lines.map(target.redact) };
  });
  const unattributed = attributeCrashes(target, ran, judgedUntil);
  markUnreportedCalls(ran);
  if (serverExit !== null && serverExitedAt !== null) {
    const finding: Finding = { kind: 'server-exit', message: `server process ${serverExit} during this call`, lines: lastLines(target), at: serverExitedAt };
    const owners = windowsAt(ran, serverExitedAt);
    for (const owner of owners) owner.result.findings.push(finding);
    if (owners.length === 0) unattributed.push({ ...finding, message: `server process ${serverExit} while no call ran` });
  }
  if (stopReport.portInUse) {
    unattributed.push({
      kind: 'server-left-running',
      message: `the server's port still accepts connections after the gate stopped everything its command started: a process outlived it (detached from its environment?) and will keep serving`,
      lines: [],
    });
  }
  const calls = ran.map((w) => w.result);
  const thresholds = options.thresholds ?? {};
  for (const name of unmeasuredThresholds(calls, thresholds)) {
    unattributed.push({ kind: 'threshold', message: `no call of this run measured ${FIGURE_LABELS[name].label}, so its threshold (${name} ≤ ${thresholds[name]}) cannot be met: it needs scenarios (--scenarios DIR) with the turns it measures`, lines: [] });
  }
  for (const call of calls) call.verdict = call.findings.length === 0 ? 'pass' : 'fail';
  const notRun = cells.filter((_, i) => windows[i] === undefined);
  const interrupted = options.signal?.aborted === true ? abortReason(options.signal) : null;
  const verdict = calls.every((c) => c.verdict === 'pass') && unattributed.length === 0 && interrupted === null ? 'pass' : 'fail';
  // The auth token the gate signs with (and the /calls token) may be in the server's command line or in what it printed.
  const secrets = [options.placement?.authToken ?? '', options.statsToken ?? ''].filter((s) => s !== '');
  // Findings and log slices quote the server (its output, its error texts): printable, so no report shows them raw.
  const clean = (text: string): string => printable(redactSecrets(text, secrets));
  const scrub = (finding: Finding): Finding => ({ ...finding, message: clean(finding.message), lines: finding.lines.map(clean) });
  for (const call of calls) {
    call.findings = call.findings.map(scrub);
    if (call.serverLog !== null) call.serverLog = { ...call.serverLog, lines: call.serverLog.lines.map(clean) };
  }
  keepArtifacts(ran);
  return { verdict, target: redactSecrets(target.label, secrets), startedAt: new Date(began).toISOString(), durationMs: Date.now() - began, calls, unattributed: unattributed.map(scrub), serverExit,
    serverOutput: { longLinesCut: target.logs.longLines, charsCut: target.logs.charsCut, crashLinesNotKept: target.logs.droppedHits },
    strayProcesses: options.target.kind === 'command' ? stopReport.strays : null,
    notes: [...runNotes(ran, options.placement?.params ?? {}), ...modelNotes],
    interrupted,
    notRun,
    figures: summarizeFigures(calls),
    thresholds,
    repeat,
  };
}

/** The abort's reason as a word ("SIGINT"), whatever it was given as. */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  return reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'aborted';
}

/** The run's notes: each distinct thing its calls said, and once what direct mode means. */
function runNotes(windows: CallWindow[], params: Readonly<Record<string, string>>): string[] {
  const notes = new Set<string>();
  for (const window of windows) for (const note of window.notes) notes.add(note);
  const direct = windows.filter((w) => w.result.placement === 'direct').length;
  if (direct > 0) {
    const carriers = Object.entries(params).filter(([, value]) => value.includes('{direction}')).map(([name]) => name);
    notes.add(
      `${direct} of ${windows.length} calls ran in direct mode (no webhook step): ` +
        (carriers.length > 0 ? `the server learned the direction only from the parameter ${carriers.join(', ')}` : 'the direction only labels them, and the server could not learn it (give --param name={direction}, or a webhook)'),
    );
  }
  return [...notes];
}

/** A server that reports some calls on /calls but not this one lost track of it. */
function markUnreportedCalls(windows: CallWindow[]): void {
  if (!windows.some((w) => w.result.serverCounters !== null)) return;
  for (const { result, statsNote } of windows) {
    if (statsNote !== null && result.callSid !== null) {
      result.findings.push({ kind: 'unreported-call', message: `the server reports other calls but not ${result.callSid}: ${statsNote}`, lines: [] });
    }
  }
}

/** Crash findings listed per call; the rest are counted in one closing finding. */
export const MAX_CRASH_FINDINGS_PER_CALL = 20;

/**
 * Ties each crash line to the calls it belongs to: the call whose callSid it names, or else
 * every call that was running when it was printed. A call lists at most
 * MAX_CRASH_FINDINGS_PER_CALL of them: a server that prints a crash on every line must not turn
 * one call's report into hundreds of megabytes.
 */
function attributeCrashes(target: GateTarget, windows: CallWindow[], judgedUntil: number): Finding[] {
  const { logs } = target;
  const unattributed: Finding[] = [];
  const listed = new Map<Finding[], number>();
  const omitted = new Map<Finding[], number>();
  const add = (findings: Finding[], finding: Finding): void => {
    const count = listed.get(findings) ?? 0;
    if (count < MAX_CRASH_FINDINGS_PER_CALL) {
      findings.push(finding);
      listed.set(findings, count + 1);
    } else {
      omitted.set(findings, (omitted.get(findings) ?? 0) + 1);
    }
  };
  for (const hit of logs.hits) {
    if (hit.line.at > judgedUntil) continue;
    const finding = crashFinding(target, hit);
    // A server that names the call (callSid or streamSid) near the error settles it: the line
    // nearest the error that names any call, so another call's line printed just before is not blamed.
    const nearby = [hit.detail?.text ?? '', hit.line.text, ...logs.context(hit, 3, 0).reverse(), ...logs.preceding(hit, 3)];
    let named: CallWindow[] = [];
    for (const text of nearby) {
      named = windows.filter((w) => (w.result.callSid !== null && text.includes(w.result.callSid)) || (w.streamSid !== null && text.includes(w.streamSid)));
      if (named.length > 0) break;
    }
    const owners = named.length > 0 ? named : windowsAt(windows, hit.line.at);
    if (owners.length === 0) {
      add(unattributed, finding);
      continue;
    }
    for (const owner of owners) {
      add(owner.result.findings, owners.length > 1 && named.length === 0 ? { ...finding, message: `${finding.message} (printed while ${owners.length} calls ran)` } : finding);
    }
  }
  for (const [findings, count] of omitted) {
    findings.push({ kind: 'crash-signature', message: `${count} more crash line${count === 1 ? '' : 's'} not listed (at most ${MAX_CRASH_FINDINGS_PER_CALL} per call)`, lines: [] });
  }
  if (logs.droppedHits > 0) {
    unattributed.push({ kind: 'crash-signature', message: `${logs.droppedHits} more crash lines in the server's output were counted but not kept (at most ${MAX_CRASH_HITS_PER_SOURCE} per call and ${MAX_CRASH_HITS} per run)`, lines: [] });
  }
  return unattributed;
}

function crashFinding(target: GateTarget, hit: CrashHit): Finding {
  const headline = target.redact((hit.detail ?? hit.line).text.trim()).slice(0, 300);
  return { kind: 'crash-signature', message: `${hit.signature} in server ${hit.line.stream}: ${headline}`, lines: target.logs.context(hit, 1, 10).map(target.redact), at: hit.line.at };
}
