// GET /metrics: the server in the Prometheus text format, through prom-client, on a registry of
// its own (not prom-client's global one: two servers in one process each report their own). What
// a call counts is read from the same place /calls reads it: the live calls' records at scrape
// time plus the final counters of the calls that ended; errors are counted as they are recorded,
// so a call's late error still counts. Latencies are histograms:
//   forwarding   per append to the model, how long its oldest caller frame waited in the server
//                (read from the socket -> handed to the model socket: queued while the model
//                connects, or gathered into a batch);
//   first audio  per call, the caller's first media frame (or start, when the agent speaks
//                first) -> the first media frame sent back to Twilio.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallDirection } from '../twilio/codec.js';
import { CALL_DIRECTIONS } from '../twilio/codec.js';
import { INITIAL_CALL_COUNTERS, type CallCounterName, type CallCounters, type CallSnapshot } from './call-snapshot.js';
import type { RefusalCounters } from './routes.js';

/** What a call tells the server's metrics, through its record. */
export interface CallMetrics {
  callStarted(direction: CallDirection): void;
  callError(code: string): void;
  /** Seconds the oldest caller frame of one append to the model waited in the server. */
  forwarded(seconds: number): void;
  /** Seconds from the caller's first frame (or start) to the first audio sent to Twilio. */
  firstAudio(seconds: number): void;
}

/** For a call with no server around it (unit tests of the parts). */
export const NO_CALL_METRICS: CallMetrics = { callStarted() {}, callError() {}, forwarded() {}, firstAudio() {} };

/** Buckets in seconds: forwarding is sub-millisecond when nothing waits, seconds when the model is slow to connect. */
const FORWARDING_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12];
const FIRST_AUDIO_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];

/** The call counters exported as counters of their own, by metric name. */
const EXPORTED_COUNTERS: ReadonlyArray<{ metric: string; help: string; counter: CallCounterName; labels?: Record<string, string> }> = [
  { metric: 'callsim_audio_in_chunks_total', help: 'Twilio media frames received and accepted', counter: 'audioInChunks' },
  { metric: 'callsim_audio_out_chunks_total', help: 'Media frames sent to Twilio', counter: 'audioOutChunks' },
  { metric: 'callsim_backlog_warnings_total', help: 'Backlog warnings, by the queue that backed up', counter: 'backlogWarnings', labels: { queue: 'twilio' } },
  { metric: 'callsim_backlog_warnings_total', help: 'Backlog warnings, by the queue that backed up', counter: 'modelBacklogWarnings', labels: { queue: 'model' } },
  { metric: 'callsim_model_reconnects_total', help: 'Reconnects to the realtime model', counter: 'modelReconnects' },
  { metric: 'callsim_barge_ins_total', help: 'Times the caller talked over an answer (clear + truncate)', counter: 'bargeIns' },
];

const REFUSALS: ReadonlyArray<{ reason: string; key: keyof RefusalCounters }> = [
  { reason: 'signature', key: 'rejectedSignatures' },
  { reason: 'capacity', key: 'rejectedAtCapacity' },
  { reason: 'calls_endpoint', key: 'rejectedCallsRequests' },
  { reason: 'stream_token', key: 'rejectedStreamTokens' },
  { reason: 'duplicate_call', key: 'rejectedDuplicateCalls' },
  { reason: 'awaiting_start_evicted', key: 'evictedBeforeStart' },
];

export interface MetricsSources {
  liveCalls(): CallSnapshot[];
  refusals: Readonly<RefusalCounters>;
}

export class ServerMetrics implements CallMetrics {
  readonly registry = new Registry();
  /** The final counters of the calls that ended, by direction. */
  private readonly ended: Record<CallDirection, CallCounters>;
  private readonly started: Counter<'direction'>;
  private readonly endedCalls: Counter<'direction'>;
  private readonly errors: Counter<'code'>;
  private readonly forwarding: Histogram;
  private readonly firstAudioLatency: Histogram;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.ended = { inbound: { ...INITIAL_CALL_COUNTERS }, outbound: { ...INITIAL_CALL_COUNTERS } };
    new Gauge({
      name: 'callsim_calls_live',
      help: 'Calls in progress, by direction',
      labelNames: ['direction'],
      registers,
      collect(this: Gauge<'direction'>) {
        const live = sources.liveCalls();
        for (const direction of CALL_DIRECTIONS) this.set({ direction }, live.filter((call) => call.direction === direction).length);
      },
    });
    this.started = new Counter({ name: 'callsim_calls_started_total', help: 'Calls started (a valid start event), by direction', labelNames: ['direction'], registers });
    this.endedCalls = new Counter({ name: 'callsim_calls_ended_total', help: 'Calls ended, by direction', labelNames: ['direction'], registers });
    for (const direction of CALL_DIRECTIONS) {
      this.started.inc({ direction }, 0);
      this.endedCalls.inc({ direction }, 0);
    }
    const ended = this.ended;
    const byMetric = new Map<string, typeof EXPORTED_COUNTERS[number][]>();
    for (const exported of EXPORTED_COUNTERS) byMetric.set(exported.metric, [...(byMetric.get(exported.metric) ?? []), exported]);
    for (const [name, parts] of byMetric) {
      const labelNames = ['direction', ...Object.keys(parts[0]?.labels ?? {})];
      new Counter({
        name,
        help: parts[0]?.help ?? name,
        labelNames,
        registers,
        // Ended calls' totals plus the live calls' counts so far: it only grows.
        collect(this: Counter) {
          this.reset();
          const live = sources.liveCalls();
          for (const direction of CALL_DIRECTIONS) {
            for (const part of parts) {
              const value = ended[direction][part.counter] + live.filter((call) => call.direction === direction).reduce((sum, call) => sum + call.counters[part.counter], 0);
              this.inc({ direction, ...part.labels }, value);
            }
          }
        },
      });
    }
    this.errors = new Counter({ name: 'callsim_call_errors_total', help: 'Errors recorded on calls, by code (the codes of GET /calls errors)', labelNames: ['code'], registers });
    new Counter({
      name: 'callsim_refused_total',
      help: 'Requests refused at the door, by why',
      labelNames: ['reason'],
      registers,
      collect(this: Counter<'reason'>) {
        this.reset();
        for (const { reason, key } of REFUSALS) this.inc({ reason }, sources.refusals[key]);
      },
    });
    this.forwarding = new Histogram({ name: 'callsim_forwarding_latency_seconds', help: 'Per append to the model: how long its oldest caller frame waited in the server', buckets: FORWARDING_BUCKETS, registers });
    this.firstAudioLatency = new Histogram({ name: 'callsim_first_audio_latency_seconds', help: "Per call: the caller's first media frame (or start, when the agent speaks first) to the first audio sent to Twilio", buckets: FIRST_AUDIO_BUCKETS, registers });
  }

  callStarted(direction: CallDirection): void {
    this.started.inc({ direction });
  }

  callError(code: string): void {
    this.errors.inc({ code });
  }

  forwarded(seconds: number): void {
    this.forwarding.observe(seconds);
  }

  firstAudio(seconds: number): void {
    this.firstAudioLatency.observe(seconds);
  }

  /** A call left the live set: its final counters join the totals, once. */
  readonly callEnded = (snapshot: CallSnapshot): void => {
    const totals = this.ended[snapshot.direction];
    for (const name of Object.keys(totals) as CallCounterName[]) totals[name] += snapshot.counters[name];
    this.endedCalls.inc({ direction: snapshot.direction });
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
