// One cell of the gate's matrix: its call placed and judged (the replay's checks, a scenario's,
// the witness's, the thresholds), and what of it goes into the gate's result.
import path from 'node:path';
import type { MulawAudio } from '../audio/wav.js';
import { DEFAULT_WEBHOOK_PATH, runReplay, type ReplayOptions, type ReplayReport } from '../caller/replay.js';
import type { LoadedScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import { prepareArtifacts } from './artifacts.js';
import { breachesOf, figuresOf } from './figures.js';
import type { GateCallResult, GateCell, GateOptions } from './gate.js';
import type { GateTarget } from './target.js';
import type { ModelWitness } from './witness/witness.js';

export interface CellRun {
  result: GateCallResult;
  statsNote: string | null;
  streamSid: string | null;
  report: ReplayReport | null;
}

export async function runCell(cell: GateCell, audio: MulawAudio | null, scenario: LoadedScenario | null, target: GateTarget, options: GateOptions, witness: ModelWitness): Promise<CellRun> {
  const result: GateCallResult = {
    ...cell,
    verdict: 'fail',
    placement: null,
    callSid: null,
    durationMs: 0,
    framesSent: 0,
    framesReceived: 0,
    serverCounters: null,
    checks: [],
    model: null,
    figures: { firstAudioMs: null },
    turns: [],
    artifacts: null,
    findings: [],
    serverLog: null,
  };
  const exitBefore = target.exit();
  if (exitBefore !== null) {
    result.findings.push({ kind: 'server-exit', message: `server process ${exitBefore} before this call`, lines: lastLines(target) });
    return { result, statsNote: null, streamSid: null, report: null };
  }
  const placement = options.placement ?? {};
  const simulator = target.simulator;
  // The built-in server and server commands are tried at callsim serve's own webhook first.
  const defaultWebhook = options.target.kind === 'url' ? null : { path: DEFAULT_WEBHOOK_PATH };
  const webhook = placement.webhook === undefined ? defaultWebhook : placement.webhook;
  let artifactPaths: Pick<ReplayOptions, 'recordPath' | 'tracePath'> = {};
  if (options.artifactsDir !== undefined) {
    const prepared = prepareArtifacts(options.artifactsDir, cell.id);
    result.artifacts = { dir: prepared.dir, recording: null, trace: null, serverLog: null, errors: prepared.error === null ? [] : [prepared.error] };
    if (prepared.error === null) artifactPaths = { recordPath: path.join(prepared.dir, 'recording.wav'), tracePath: path.join(prepared.dir, 'wire.jsonl') };
  }
  let report: ReplayReport;
  try {
    const replay: ReplayOptions = {
      file: cell.fixture,
      ...(audio !== null ? { audio } : {}),
      direction: cell.direction,
      url: target.wsUrl,
      webhook,
      webhookOptional: placement.webhook === undefined,
      ...(placement.webhookMethod !== undefined ? { webhookMethod: placement.webhookMethod } : {}),
      ...(placement.params !== undefined ? { params: placement.params } : {}),
      authToken: placement.authToken ?? null,
      statsToken: options.statsToken ?? null,
      allowServerHangup: placement.allowServerHangup ?? false,
      ...(placement.networkDelay !== undefined ? { networkDelay: placement.networkDelay } : {}),
      ...(placement.congestionMs !== undefined ? { congestionMs: placement.congestionMs } : {}),
      ...(placement.agentAudio !== undefined ? { agentAudio: placement.agentAudio } : {}),
      ...(placement.badLine !== undefined ? { badLine: placement.badLine } : {}),
      ...(placement.seed !== undefined ? { networkSeed: placement.seed } : {}),
      ...(simulator ? { modelSessions: (callSid: string) => simulator.sessionsFor(callSid) } : {}),
      ...artifactPaths,
      timing: cell.timing === 'burst' ? { mode: 'burst' } : { mode: 'realtime', speed: options.speed },
      earlyMedia: cell.timing === 'early-media',
      // The opposite of early media: give the server time to be ready before audio flows.
      startDelayMs: cell.timing === 'realtime' ? 200 : 0,
      expectAudio: options.expectAudio,
      witness,
      signal: options.signal,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.tailMs !== undefined ? { tailMs: options.tailMs } : {}),
    };
    report = scenario === null ? await runReplay(replay) : await runScenario({ ...replay, scenario });
  } catch (err) {
    result.findings.push({ kind: 'replay-error', message: err instanceof Error ? err.message : String(err), lines: [] });
    return { result, statsNote: null, streamSid: null, report: null };
  }
  result.placement = report.callFlow.mode;
  result.callSid = report.call.callSid;
  result.durationMs = report.call.durationMs;
  result.framesSent = report.call.framesSent;
  result.framesReceived = report.call.framesReceived;
  result.serverCounters = report.stats.counters;
  result.checks = report.checks;
  result.model = report.model;
  Object.assign(result, figuresOf(report));
  if (result.artifacts !== null) {
    result.artifacts.recording = report.recording?.error === null ? report.recording.file : null;
    result.artifacts.trace = report.trace?.error === null ? report.trace.file : null;
    for (const written of [report.recording, report.trace]) if (written?.error) result.artifacts.errors.push(`${written.file}: ${written.error}`);
  }
  for (const failure of report.failures) result.findings.push({ kind: 'replay-check', message: failure, lines: [] });
  for (const breach of breachesOf(result, options.thresholds ?? {})) result.findings.push({ kind: 'threshold', message: breach.message, lines: [] });
  return { result, statsNote: report.stats.available || !report.call.connected ? null : (report.stats.note ?? 'no stats'), streamSid: report.call.streamSid, report };
}

/** The server's last lines of output, as a finding quotes them. */
export function lastLines(target: GateTarget, count = 10): string[] {
  return target.logs.lines.slice(-count).map((l) => target.redact(l.text));
}
