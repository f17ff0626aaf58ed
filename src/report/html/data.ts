// What the HTML report embeds for each call, made from its result and replay report when the call
// ends: waveforms binned to what a screen can show, the agent's audio both as it arrived and as
// the caller heard it (played out as the fake Twilio plays it: paced, cut by clears and the
// hang-up), every timeline event, and each finding and failed check placed at the moment it
// happened. Events of kinds this file does not know (a later recorder's) pass through as they are.
import { readFileSync, statSync } from 'node:fs';
import { mulawMs } from '../../audio/format.js';
import type { ReplayReport } from '../../caller/replay.js';
import type { CallTimelineData, FrameColumns, TimelineEvent } from '../../caller/timeline.js';
import type { GateCallResult, GateCell } from '../../gate/gate.js';

/** Bins per waveform: a 1280 px page shows about this many. */
const MAX_BINS = 1200;
/** A recording is embedded up to this size (a data: URI, so the page stays one file). */
export const MAX_RECORDING_BYTES = 8 * 1024 * 1024;

/** A waveform: the loudest level (0–100) in each bin of `binMs`, from t = 0. */
export interface Waveform {
  binMs: number;
  levels: number[];
}

/** Something shown at a moment of the call: a finding, a failed check. */
export interface PlacedNote {
  /** ms on the call's timeline, or null when the moment is not known (listed, not drawn). */
  t: number | null;
  kind: string;
  text: string;
}

export interface HtmlTimeline {
  spanMs: number;
  origin: number;
  caller: Waveform;
  /** The agent's frames by when they arrived (a burst shows as a spike). */
  agentSent: Waveform;
  /** The agent's audio as the caller heard it. */
  agentHeard: Waveform;
  events: TimelineEvent[];
  /** The first-audio latency, drawn as a span from its reference to the first audio back. */
  firstAudio: { from: number; to: number; ms: number } | null;
  dropped: CallTimelineData['dropped'];
}

export interface HtmlCall {
  id: string;
  fixture: string;
  direction: string;
  timing: string;
  verdict: 'pass' | 'fail' | 'not-run';
  callSid: string | null;
  durationMs: number;
  framesSent: number;
  framesReceived: number;
  serverIn: number | null | 'absent';
  serverOut: number | null | 'absent';
  figures: Record<string, number | null>;
  findings: Array<{ kind: string; message: string; lines: string[] }>;
  /** Findings and failed checks placed on the timeline. */
  notes: PlacedNote[];
  checks: Array<{ name: string; status: string; reason: string }>;
  timeline: HtmlTimeline | null;
  /** Why there is no timeline. */
  noTimeline: string | null;
  serverLog: { lines: string[]; omitted: number; shared: number } | null;
  recording: { file: string; dataUri: string } | { file: string; error: string } | null;
}

function counter(call: GateCallResult, name: string): number | null | 'absent' {
  if (call.serverCounters === null) return 'absent';
  const value = call.serverCounters[name];
  return value === undefined ? 'absent' : value;
}

/** Frames as instants (their arrival): each fills the one bin it falls in. */
function binInstants(lane: FrameColumns, spanMs: number, binMs: number): number[] {
  return binSegments(lane.t.map((t, i) => ({ start: t, end: t, level: lane.level[i] ?? 0 })), spanMs, binMs);
}

/** The caller's frames as the audio they carry: each lasts its 20 ms of audio at the call's pace (an instant in a burst). */
function callerSegments(lane: FrameColumns, speed: number | null): Array<{ start: number; end: number; level: number }> {
  return lane.t.map((t, i) => ({ start: t, end: speed === null ? t : t + mulawMs(lane.bytes[i] ?? 0) / speed, level: lane.level[i] ?? 0 }));
}

/**
 * When the caller heard each agent frame, as caller/playback.ts plays it: from its arrival or when
 * the audio before it ends, at `speed` (at once for burst calls, whose handset does not pace);
 * a clear cuts what was queued, and nothing plays after the caller hung up.
 */
export function heardSegments(agent: FrameColumns, events: readonly TimelineEvent[], speed: number | null): Array<{ start: number; end: number; level: number }> {
  // A burst call's handset plays everything at once: a clear finds nothing queued to cut.
  const cuts = speed === null ? [] : events.filter((e) => e.kind === 'clear').map((e) => e.t);
  const hangUp = events.find((e) => e.kind === 'stop' || e.kind === 'close')?.t ?? Number.POSITIVE_INFINITY;
  const segments: Array<{ start: number; end: number; level: number }> = [];
  let playhead = 0;
  let cut = 0;
  for (let i = 0; i < agent.t.length; i++) {
    const arrival = agent.t[i]!;
    while (cut < cuts.length && cuts[cut]! <= arrival) {
      const at = cuts[cut]!;
      for (const segment of segments) if (segment.end > at) segment.end = Math.max(segment.start, at);
      playhead = Math.min(playhead, at);
      cut += 1;
    }
    const wall = speed === null ? 0 : mulawMs(agent.bytes[i] ?? 0) / speed;
    const start = Math.max(playhead, arrival);
    playhead = start + wall;
    segments.push({ start, end: speed === null ? start + mulawMs(agent.bytes[i] ?? 0) : playhead, level: agent.level[i] ?? 0 });
  }
  for (; cut < cuts.length; cut++) for (const segment of segments) if (segment.end > cuts[cut]!) segment.end = Math.max(segment.start, cuts[cut]!);
  return segments
    .map((segment) => ({ ...segment, end: Math.min(segment.end, hangUp) }))
    .filter((segment) => segment.end > segment.start && segment.start < hangUp);
}

/** The loudest level (0–100) of the segments over each bin; a segment of no length fills the bin it is in. */
function binSegments(segments: ReadonlyArray<{ start: number; end: number; level: number }>, spanMs: number, binMs: number): number[] {
  const out = new Array<number>(Math.max(1, Math.ceil(spanMs / binMs))).fill(0);
  for (const { start, end, level } of segments) {
    const first = Math.min(out.length - 1, Math.max(0, Math.floor(start / binMs)));
    const last = Math.min(out.length - 1, Math.max(first, Math.ceil(end / binMs) - 1));
    for (let b = first; b <= last; b++) out[b] = Math.max(out[b]!, Math.round(level * 100));
  }
  return out;
}

function htmlTimeline(report: ReplayReport): HtmlTimeline {
  const timeline = report.timeline;
  const lastEvent = timeline.events.at(-1)?.t ?? 0;
  const spanMs = Math.max(timeline.caller.t.at(-1) ?? 0, timeline.agent.t.at(-1) ?? 0, lastEvent, report.call.durationMs, 1) + timeline.frameMs;
  const binMs = Math.max(1, Math.ceil(spanMs / MAX_BINS));
  const speed = report.timing.mode === 'burst' ? null : report.timing.speed;
  const start = timeline.events.find((e) => e.kind === 'start')?.t ?? null;
  const firstSent = timeline.caller.t[0] ?? null;
  const firstBack = timeline.agent.t[0] ?? null;
  // As the ledger measures it: from the caller's first frame, or from start when the agent spoke first.
  const from = firstSent !== null && firstBack !== null && firstSent <= firstBack ? firstSent : start;
  return {
    spanMs,
    origin: timeline.origin,
    caller: { binMs, levels: binSegments(callerSegments(timeline.caller, speed), spanMs, binMs) },
    agentSent: { binMs, levels: binInstants(timeline.agent, spanMs, binMs) },
    agentHeard: { binMs, levels: binSegments(heardSegments(timeline.agent, timeline.events, speed), spanMs, binMs) },
    events: timeline.events,
    firstAudio:
      report.call.firstAudioLatencyMs !== null && from !== null && firstBack !== null
        ? { from, to: firstBack, ms: report.call.firstAudioLatencyMs }
        : null,
    dropped: timeline.dropped,
  };
}

/** Where on the call's timeline a failed check happened, from what it checks. */
function checkMoment(name: string, events: readonly TimelineEvent[], spanMs: number): number | null {
  const at = (kind: string): number | null => events.find((e) => e.kind === kind)?.t ?? null;
  switch (name) {
    case 'connected':
      return 0;
    case 'server-kept-stream-open':
    case 'normal-close':
      return at('close');
    case 'wire-protocol':
      return at('wire-error') ?? at('close');
    default:
      // The rest are judged once the call is over (counters from GET /calls, audio returned).
      return spanMs;
  }
}

function recordingOf(report: ReplayReport | null): HtmlCall['recording'] {
  const saved = report?.savedAudio;
  if (!saved || saved.error !== null) return null;
  try {
    const size = statSync(saved.file).size;
    if (size > MAX_RECORDING_BYTES) return { file: saved.file, error: `${Math.round(size / 1024)} KiB, more than the ${MAX_RECORDING_BYTES / 1024 / 1024} MiB a page embeds` };
    return { file: saved.file, dataUri: `data:audio/wav;base64,${readFileSync(saved.file).toString('base64')}` };
  } catch (err) {
    return { file: saved.file, error: (err as Error).message };
  }
}

/** What the page needs of a call's replay report, taken when the call ends (the report itself is not kept). */
export interface PreparedCall {
  timeline: HtmlTimeline | null;
  checks: HtmlCall['checks'];
  recording: HtmlCall['recording'];
}

export function prepareCall(report: ReplayReport | null): PreparedCall {
  return { timeline: report === null ? null : htmlTimeline(report), checks: report?.checks ?? [], recording: recordingOf(report) };
}

/** One call of the run, as the page embeds it: its final result, and what was prepared when it ended. */
export function htmlCall(call: GateCallResult, prepared: PreparedCall): HtmlCall {
  const { timeline } = prepared;
  const origin = timeline?.origin ?? null;
  const notes: PlacedNote[] = [];
  for (const finding of call.findings) {
    if (finding.kind === 'replay-check') continue; // placed below, by the check that failed
    const t = finding.at !== undefined && origin !== null ? Math.max(0, finding.at - origin) : null;
    notes.push({ t: t !== null && timeline !== null ? Math.min(t, timeline.spanMs) : t, kind: finding.kind, text: finding.message });
  }
  for (const check of prepared.checks) {
    if (check.status === 'fail') notes.push({ t: timeline === null ? null : checkMoment(check.name, timeline.events, timeline.spanMs), kind: check.name, text: check.reason });
  }
  return {
    id: call.id,
    fixture: call.fixture,
    direction: call.direction,
    timing: call.timing,
    verdict: call.verdict,
    callSid: call.callSid,
    durationMs: call.durationMs,
    framesSent: call.framesSent,
    framesReceived: call.framesReceived,
    serverIn: counter(call, 'audioInChunks'),
    serverOut: counter(call, 'audioOutChunks'),
    figures: call.figures,
    findings: call.findings.map((f) => ({ kind: f.kind, message: f.message, lines: f.lines })),
    notes,
    checks: prepared.checks,
    timeline,
    noTimeline: timeline === null ? (call.findings[0]?.message ?? 'the call did not run') : null,
    serverLog: call.serverLog,
    recording: prepared.recording,
  };
}

/** A cell the run never reached. */
export function notRunCall(cell: GateCell, why: string): HtmlCall {
  return {
    ...cell,
    verdict: 'not-run',
    callSid: null,
    durationMs: 0,
    framesSent: 0,
    framesReceived: 0,
    serverIn: 'absent',
    serverOut: 'absent',
    figures: {},
    findings: [],
    notes: [],
    checks: [],
    timeline: null,
    noTimeline: why,
    serverLog: null,
    recording: null,
  };
}
