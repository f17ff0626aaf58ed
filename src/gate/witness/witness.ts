// src/gate/witness/: the model side as a witness. callsim owns both ends of an agent server: the
// fake Twilio and the simulated model. This witness counts what went in at one end against what
// came out at the other, for any server, in any language, with no help from it. Its parts:
//   session-view.ts   what it reads of a session record (checked when another process sent it)
//   source.ts         where records come from: a simulator in this process, or one over HTTP
//   correlate.ts      which sessions are a call's: its call-sid header, its watermark, or time
//   input-checks.ts   caller → model: every frame, in order, once; configured before the audio
//   call-clock.ts     when the caller's side happened, read off the call's timeline
//   heard.ts          what the caller heard of each answer, and when
//   output-checks.ts  model → caller: truncations at what was heard; answers that arrived whole
//   session-checks.ts the sessions: closed after the call, no errors caused, who spoke first
//   answers.ts        each answer's latency split into the model's part and the agent's
//   timeline-events.ts the model leg on the call's timeline, for the HTML report
//   model.ts          the simulator the gate hands a server command, through its environment
// This file is the witness a replay calls (caller/witness.ts is the seam), one per run.
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../caller/clock.js';
import type { CallWitness, ModelLegReport, ModelLegVerdict, ModelSessionSummary, WitnessTicket, WitnessedCall } from '../../caller/witness.js';
import { MAX_WATERMARK_TAG } from '../../audio/watermark.js';
import { skipped, type ModelCheck } from './check.js';
import { CallRegistry, type CallWindow, type Correlation, type TiedSession } from './correlate.js';
import { callClock, streamEndedAt, type CallClock } from './call-clock.js';
import { HeardAnswers } from './heard.js';
import { modelTimelineEvents } from './timeline-events.js';
import { modelAnswers } from './answers.js';
import { analyseInput, audioInCheck, AUDIO_IN, CONFIGURED_FIRST, configuredFirstCheck } from './input-checks.js';
import { AUDIO_OUT, audioOutCheck, TRUNCATION, truncationCheck } from './output-checks.js';
import { ambiguousText, closedCheck, errorsCheck, FIRST_SPEAKER, firstSpeakerCheck, NO_ERRORS, SESSION, SESSION_CLOSED, sessionCheck, type FirstSpeakerExpectation } from './session-checks.js';
import { localSource, SessionSourceError, type SessionSource } from './source.js';
import type { SessionView } from './session-view.js';

/** Default bound on how long after the stream ends a model session may stay open. */
export const DEFAULT_MODEL_CLOSE_MS = 2000;
const POLL_MS = 100;
/** Clock slack for matching by time on one machine's clock, beyond a remote's own uncertainty. */
const LOCAL_SLACK_MS = 1;
const REMOTE_SLACK_MS = 10;

/** Every model-side check, in the order a report lists them (model-first-speaker only when expected). */
export const MODEL_CHECKS = [SESSION, AUDIO_IN, CONFIGURED_FIRST, SESSION_CLOSED, TRUNCATION, NO_ERRORS, AUDIO_OUT, FIRST_SPEAKER] as const;

export interface ModelWitnessOptions {
  /**
   * Where the model sessions are read: a source; 'built-in' for a replay's own built-in server
   * (its embedded simulator, handed over with each call); null when the model leg cannot be seen.
   */
  source: SessionSource | 'built-in' | null;
  /** Why it cannot be seen, said by every check it skips (source null). */
  blindReason?: string;
  /** How long after the caller's stream ends a session may stay open (default 2000 ms). */
  closeBoundMs?: number;
  expectFirstSpeaker?: FirstSpeakerExpectation;
}

interface Judged {
  window: CallWindow;
  /** How it was tied to its sessions; or why it was not judged: no source, no connection, no read. */
  method: Correlation['method'] | 'blind' | 'not-connected' | 'unread';
  ambiguous: boolean;
}

function summary(t: TiedSession): ModelSessionSummary {
  const s = t.session;
  return {
    id: s.id, tiedBy: t.tiedBy, openedAt: s.openedAt, closedAt: s.closedAt, closedBy: s.closedBy, closeCode: s.closeCode,
    appends: s.audioIn.appends, bytes: s.audioIn.bytes, formats: s.audioIn.formats, responses: s.responses.length, errors: s.errors.length,
  };
}

export class ModelWitness implements CallWitness {
  private readonly registry = new CallRegistry();
  private readonly tickets = new Map<WitnessTicket, CallWindow>();
  private readonly tags = new Set<number>();
  /** Sessions some call claimed, or that could be one of several calls' (said on those calls). */
  private readonly seenIds = new Set<string>();
  private readonly judged: Judged[] = [];
  private readonly closeBoundMs: number;
  private readonly startedAt = performance.timeOrigin + performance.now();
  private lastSource: SessionSource | null = null;

  constructor(private readonly options: ModelWitnessOptions) {
    this.closeBoundMs = options.closeBoundMs ?? DEFAULT_MODEL_CLOSE_MS;
  }

  begin(): WitnessTicket {
    let tag = randomInt(MAX_WATERMARK_TAG + 1);
    while (this.tags.has(tag)) tag = randomInt(MAX_WATERMARK_TAG + 1);
    this.tags.add(tag);
    const ticket: WitnessTicket = { watermark: this.options.source === null ? null : tag, placedAt: performance.timeOrigin + performance.now() };
    const window: CallWindow = { callSid: null, watermark: ticket.watermark, placedAt: ticket.placedAt, endedAt: null };
    this.tickets.set(ticket, window);
    this.registry.open(window);
    return ticket;
  }

  abandon(ticket: WitnessTicket): void {
    const window = this.tickets.get(ticket);
    if (window !== undefined) this.registry.forget(window);
    this.tickets.delete(ticket);
  }

  async judge(ticket: WitnessTicket, call: WitnessedCall): Promise<ModelLegVerdict> {
    const window = this.tickets.get(ticket);
    if (window === undefined) throw new Error('judge(): a ticket this witness did not issue, or judged twice');
    this.tickets.delete(ticket);
    const { record } = call;
    window.callSid = record.callSid;
    const clock = callClock(record);
    window.endedAt = streamEndedAt(clock) ?? performance.timeOrigin + performance.now();
    const source = this.sourceFor(call);
    const judged: Judged = { window, method: 'blind', ambiguous: false };
    this.judged.push(judged);
    if (source === null) return this.skipAll(this.options.blindReason ?? 'no model leg seen', null);
    if (!record.connected) {
      judged.method = 'not-connected';
      return this.skipAll('the call never connected', null);
    }
    let read: Awaited<ReturnType<typeof this.readTied>>;
    try {
      read = await this.readTied(source, window);
    } catch (err) {
      if (!(err instanceof SessionSourceError)) throw err;
      judged.method = 'unread';
      return this.skipAll(err.message, null);
    }
    const { correlation, offsetMs, slackMs } = read;
    judged.method = correlation.method;
    judged.ambiguous = correlation.ambiguous.length > 0;
    for (const t of correlation.sessions) this.seenIds.add(t.session.id);
    for (const a of correlation.ambiguous) this.seenIds.add(a.session.id);
    const report: ModelLegReport = {
      source: source.label,
      clockOffsetMs: offsetMs,
      correlation: { method: correlation.method, ambiguous: judged.ambiguous, detail: '' },
      sessions: correlation.sessions.map(summary),
      answers: [],
    };
    if (correlation.sessions.length === 0) {
      const why = judged.ambiguous
        ? `ambiguous: ${ambiguousText(correlation)}; not guessed`
        : `no model session at ${source.label} for this call: the server opened none, or its model leg is not this simulator`;
      report.correlation.detail = why;
      return this.skipAll(why, report);
    }
    const sessions = correlation.sessions.map((t) => t.session);
    const answers = sessions.flatMap((s) => s.responses.filter((r) => r.outOfBand !== true).map((response) => ({ response, sessionId: s.id })));
    const heard = new HeardAnswers(record, clock, answers, slackMs);
    const checks = this.checks(call, clock, correlation, heard, window.endedAt);
    report.correlation.detail = checks[0]!.reason;
    report.answers = modelAnswers(sessions, heard);
    const timeline = modelTimelineEvents(sessions, record.timeline);
    return { sessions, checks, failures: checks.flatMap((c) => (c.failure === null ? [] : [c.failure])), report, timeline };
  }

  /**
   * What a run should say of its model side: how calls were tied to sessions, what could not
   * be judged, and sessions no call claimed (read once more, now that every call has ended).
   */
  async notes(): Promise<string[]> {
    const notes: string[] = [];
    const count = (method: Judged['method']): number => this.judged.filter((j) => j.method === method).length;
    const total = this.judged.length;
    if (total === 0) return notes;
    const blind = count('blind');
    if (blind === total) {
      notes.push(`model-side checks skipped on every call: ${this.options.blindReason ?? 'no model leg seen'}`);
      return notes;
    }
    const methods = (['call-sid-header', 'watermark', 'time'] as const).map((m) => [m, count(m)] as const).filter(([, n]) => n > 0);
    if (methods.length > 0) notes.push(`model sessions tied to calls by ${methods.map(([m, n]) => `${m} (${n} call${n === 1 ? '' : 's'})`).join(', ')}`);
    const ambiguous = this.judged.filter((j) => j.ambiguous).length;
    if (ambiguous > 0) notes.push(`${ambiguous} call${ambiguous === 1 ? ' has' : 's have'} a model session that could be another call's (no watermark: the agent transcodes or appended nothing, and calls overlapped): not judged; --concurrency 1 makes matching by time unambiguous`);
    const none = this.judged.filter((j) => j.method === 'none' && !j.ambiguous).length;
    if (none > 0 && none < total) notes.push(`${none} of ${total} calls had no model session at the simulator while others had one`);
    const unread = count('unread');
    if (unread > 0) notes.push(`${unread} call${unread === 1 ? '' : 's'} could not be judged on the model side: the simulator's sessions could not be read`);
    const source = this.lastSource;
    if (source !== null) {
      try {
        const { sessions } = await source.read(this.startedAt);
        const unclaimed = sessions.filter((s) => !this.seenIds.has(s.id) && s.openedAt >= this.startedAt);
        if (unclaimed.length > 0) {
          const open = unclaimed.filter((s) => s.open).length;
          notes.push(`${unclaimed.length} model session${unclaimed.length === 1 ? '' : 's'} at ${source.label} ${unclaimed.length === 1 ? 'was' : 'were'} tied to no call${open > 0 ? `; ${open} still open when the run ended` : ''}: ${unclaimed.slice(0, 5).map((s) => s.id).join(', ')}${unclaimed.length > 5 ? ', …' : ''}`);
        }
      } catch (err) {
        if (!(err instanceof SessionSourceError)) throw err;
      }
    }
    return notes;
  }

  private sourceFor(call: WitnessedCall): SessionSource | null {
    const { source } = this.options;
    if (source === 'built-in') {
      const simulator = call.builtIn?.simulator ?? null;
      this.lastSource = simulator === null ? null : localSource(simulator, "the built-in server's embedded simulator");
    } else this.lastSource = source;
    return this.lastSource;
  }

  /** Reads until every session of the call has closed, or the close bound after the stream ended has passed. */
  private async readTied(source: SessionSource, window: CallWindow): Promise<{ correlation: Correlation; offsetMs: number | null; slackMs: number }> {
    const deadline = window.endedAt! + this.closeBoundMs;
    for (;;) {
      const read = await source.read(window.placedAt - 1000);
      const slackMs = read.offsetMs === 0 ? LOCAL_SLACK_MS : read.uncertaintyMs + REMOTE_SLACK_MS;
      const correlation = this.registry.correlate(window, read.sessions, slackMs);
      const open = correlation.sessions.some((t) => t.session.open);
      if (!open || performance.timeOrigin + performance.now() >= deadline) return { correlation, offsetMs: read.offsetMs, slackMs };
      await sleep(Math.min(POLL_MS, Math.max(1, deadline - (performance.timeOrigin + performance.now()))));
    }
  }

  private checks(call: WitnessedCall, clock: CallClock, correlation: Correlation, heard: HeardAnswers, endedAt: number): ModelCheck[] {
    const now = performance.timeOrigin + performance.now();
    const sessions: SessionView[] = correlation.sessions.map((t) => t.session);
    const { record } = call;
    const analysis = analyseInput(Buffer.concat(record.sentAudio), sessions);
    const checks = [
      sessionCheck(correlation),
      audioInCheck(analysis, sessions.length),
      configuredFirstCheck(analysis),
      closedCheck(sessions, endedAt, this.closeBoundMs, now),
      truncationCheck(sessions, heard, call.networkDelay),
      errorsCheck(sessions),
      audioOutCheck(heard, record, clock),
    ];
    const expected = this.options.expectFirstSpeaker?.[record.direction];
    if (expected !== undefined) checks.push(firstSpeakerCheck(sessions, record.direction, expected));
    return checks;
  }

  private skipAll(reason: string, report: ModelLegReport | null): ModelLegVerdict {
    const names = MODEL_CHECKS.filter((name) => name !== FIRST_SPEAKER || this.options.expectFirstSpeaker !== undefined);
    return { sessions: [], checks: names.map((name) => skipped(name, reason)), failures: [], report, timeline: [] };
  }
}
