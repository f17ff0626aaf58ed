// The seam between a replayed call and a witness of its model leg. The fake Twilio sees one end
// of an agent server; a witness (the gate's, src/gate/witness/) sees the other: the model
// sessions the server opened at a simulator callsim owns. A replay asks the witness for a ticket
// before it places the call (a watermark tag for the caller's audio, and the instant the call
// began, for matching by time), and hands it the whole call record once the call is over; the
// witness answers with named checks that join the replay's own. The report's shape is here, so
// the caller's report can carry it without knowing how the witness works.
import type { RunningMediaServer } from '../server/media-server.js';
import type { ReplayCheck } from './checks.js';
import type { CallFlowReport } from './call-flow.js';
import type { CallTiming } from './clock.js';
import type { NetworkDelay } from './network.js';
import type { CallRecord } from './record.js';
import type { TimelineEvent } from './timeline.js';
import type { TraceSession } from './trace.js';

export interface WitnessTicket {
  /** The 24-bit watermark for the call's audio; null: the witness asks for none. */
  watermark: number | null;
  /** Epoch ms the call began (before its webhook). */
  placedAt: number;
}

export interface WitnessedCall {
  record: CallRecord;
  flow: CallFlowReport;
  timing: CallTiming;
  networkDelay: NetworkDelay;
  /** The built-in server the replay started for this call, whose embedded simulator is its model; else null. */
  builtIn: RunningMediaServer | null;
}

/** How the call was tied to its model sessions. */
export type CorrelationMethod =
  /** The session's upgrade named the call (x-callsim-call-sid: callsim serve's own bridge). */
  | 'call-sid-header'
  /** The session's first appended audio carried the call's watermark. */
  | 'watermark'
  /** The session opened while this call, and no other, was running. */
  | 'time'
  /** No session could be tied to the call, or only ambiguously. */
  | 'none';

/** One model session as the report shows it (times in epoch ms on the caller's clock). */
export interface ModelSessionSummary {
  id: string;
  tiedBy: Exclude<CorrelationMethod, 'none'>;
  openedAt: number;
  closedAt: number | null;
  closedBy: string | null;
  closeCode: number | null;
  appends: number;
  bytes: number;
  /** Input formats appended in, in order of first use. */
  formats: string[];
  responses: number;
  errors: number;
}

/**
 * One answer of the model and its way to the caller, on the caller's epoch-ms clock: the split of
 * a response's latency into the model's part and the agent's. Null: not measured (no turn before
 * it, no audio, nothing reached the caller).
 */
export interface ModelAnswer {
  responseId: string;
  itemId: string | null;
  /** What started it: vad (the model heard a turn end), client (the agent asked), idle. */
  trigger: string;
  /** The commit of the turn it answers (speech stopped, or the agent's commit); null for one asked for without a turn. */
  turnEndedAt: number | null;
  createdAt: number;
  firstDeltaAt: number | null;
  /** When the first of its audio reached the caller. */
  firstReceivedAt: number | null;
  producedMs: number;
  /** Null when the call did not keep (or time) all of the agent's audio. */
  receivedMs: number | null;
  /** firstDeltaAt − turnEndedAt: the model's part of the response latency. */
  modelMs: number | null;
  /** firstReceivedAt − firstDeltaAt: the agent's part, forwarding the first audio to Twilio. */
  agentMs: number | null;
}

export interface ModelLegReport {
  /** Where the session records came from ("the gate's simulator", a URL). */
  source: string;
  /** Remote simulator's clock minus ours, estimated per read; 0 for one in this process, null when never read. */
  clockOffsetMs: number | null;
  correlation: {
    method: CorrelationMethod;
    /** A session that may be this call's but could also be another's: said, never guessed. */
    ambiguous: boolean;
    detail: string;
  };
  sessions: ModelSessionSummary[];
  /** Each answer the model began, in order. */
  answers: ModelAnswer[];
}

/** What of a model session a turn's response split reads: its commits and responses, epoch ms on the caller's clock. */
export interface ModelTurnRecord {
  commits: ReadonlyArray<{ at: number }>;
  responses: ReadonlyArray<{ createdAt: number; firstDeltaAt: number | null }>;
}

export interface ModelLegVerdict {
  /** The sessions the witness tied to the call (none when it tied none, or could not read them). */
  sessions: ReadonlyArray<ModelTurnRecord & TraceSession>;
  checks: ReplayCheck[];
  /** One line per failed check, each naming its check. */
  failures: string[];
  report: ModelLegReport | null;
  /** The model leg's events, for the call's timeline (lane 'model'). */
  timeline: TimelineEvent[];
}

export interface CallWitness {
  /** A call is about to be placed: from now it counts as running. */
  begin(): WitnessTicket;
  /** The call is over: tie it to its model sessions and judge its model leg. */
  judge(ticket: WitnessTicket, call: WitnessedCall): Promise<ModelLegVerdict>;
  /** The call was never placed (the replay threw): it stops counting as running. */
  abandon(ticket: WitnessTicket): void;
}

