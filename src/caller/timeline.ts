// What happened on one call, on one clock: the caller's audio as a level per 20 ms frame sent,
// each agent frame as it arrived (and how loud), and the sparse events between (start, DTMF,
// marks received and echoed, clears and the audio they cut, stop, close, wire errors). The clock
// is epoch ms as performance.timeOrigin + performance.now(), the clock the model simulator's
// session records use, so the model's events (issue 13) and conversation figures (issue 14) can
// be laid beside these as more lanes and event kinds, not as another format.
//
// It runs on the hot path of every call: frames go into typed arrays that grow by doubling up to
// a cap (no object per frame), events are few and capped per kind, and past a cap the timeline
// only counts what it did not keep.
import { performance } from 'node:perf_hooks';
import { FRAME_MS } from '../audio/format.js';
import { mulawRms } from '../audio/g711.js';

/** The fake Twilio's own event kinds; other recorders (the model witness, scenarios) add theirs. */
export type CallerEventKind =
  | 'connected'
  | 'start'
  | 'dtmf'
  | 'mark-received'
  | 'mark-echoed'
  | 'clear'
  | 'wire-error'
  | 'stop'
  | 'close';

/** Who an event belongs to: the caller's side, the agent (server under test), its model leg, or the call. */
export type TimelineLane = 'caller' | 'agent' | 'model' | 'call';

export interface TimelineEvent {
  /** ms since the timeline's origin, to 0.1 ms. */
  t: number;
  lane: TimelineLane;
  /** A CallerEventKind here; a later recorder's own kinds are strings of the same shape. */
  kind: string;
  /** For people: a mark's name, a digit, a close code. Peer text, cut to LABEL_CHARS; escape it where it is shown. */
  label: string;
  /** How much the event spans (a clear: the audio it cut), or null. */
  durationMs: number | null;
}

/** One lane of frames, as columns: when each arrived (ms from origin) and its RMS level (0..1). */
export interface FrameColumns {
  t: number[];
  level: number[];
  /** Payload bytes of each frame (8 per ms of audio). */
  bytes: number[];
}

export interface CallTimelineData {
  /** Every time here is ms from `origin`, which is epoch ms (performance.timeOrigin + performance.now()). */
  clock: 'epoch-ms';
  /** Epoch ms of t = 0: the instant the call was dialled. */
  origin: number;
  frameMs: number;
  /** Every media frame the caller sent, its audio and the tail's line silence alike. */
  caller: FrameColumns;
  /** Every media frame the agent sent, as it arrived (what the caller heard is paced from these). */
  agent: FrameColumns;
  events: TimelineEvent[];
  /** What the caps left out. */
  dropped: { callerFrames: number; agentFrames: number; events: number };
}

/** 30 minutes of 20 ms frames per lane. */
export const MAX_TIMELINE_FRAMES = 90_000;
/** Events of one kind kept; the call's own milestones (start, stop, close) always are. */
export const MAX_EVENTS_PER_KIND = 2_000;
/** Wire errors are summarised by the call's record; the timeline keeps the first few. */
const MAX_WIRE_ERROR_EVENTS = 50;
const LABEL_CHARS = 80;
const FIRST_CAPACITY = 1024;

/** Frames of one lane in growable typed arrays. */
class FrameLane {
  private at = new Float64Array(FIRST_CAPACITY);
  private level = new Float32Array(FIRST_CAPACITY);
  private bytes = new Uint32Array(FIRST_CAPACITY);
  length = 0;
  dropped = 0;

  add(t: number, level: number, bytes: number): void {
    if (this.length >= MAX_TIMELINE_FRAMES) {
      this.dropped += 1;
      return;
    }
    if (this.length === this.at.length) this.grow();
    this.at[this.length] = t;
    this.level[this.length] = level;
    this.bytes[this.length] = bytes;
    this.length += 1;
  }

  columns(): FrameColumns {
    const t: number[] = new Array<number>(this.length);
    const level: number[] = new Array<number>(this.length);
    const bytes: number[] = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) {
      t[i] = round1(this.at[i]!);
      level[i] = Math.round(this.level[i]! * 1000) / 1000;
      bytes[i] = this.bytes[i]!;
    }
    return { t, level, bytes };
  }

  private grow(): void {
    const size = Math.min(this.at.length * 2, MAX_TIMELINE_FRAMES);
    const at = new Float64Array(size);
    at.set(this.at);
    const level = new Float32Array(size);
    level.set(this.level);
    const bytes = new Uint32Array(size);
    bytes.set(this.bytes);
    this.at = at;
    this.level = level;
    this.bytes = bytes;
  }
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

const ALWAYS_KEPT: ReadonlySet<string> = new Set<CallerEventKind>(['connected', 'start', 'stop', 'close']);
const KIND_CAPS: Readonly<Record<string, number>> = { 'wire-error': MAX_WIRE_ERROR_EVENTS };

/** One call's timeline while it runs; `data()` is its plain, JSON-ready form. */
export class CallTimeline {
  private readonly caller = new FrameLane();
  private readonly agent = new FrameLane();
  private readonly events: TimelineEvent[] = [];
  private readonly perKind = new Map<string, number>();
  private droppedEvents = 0;

  /** `zero` is the performance.now() instant of t = 0 (the dial). */
  constructor(private readonly zero: number) {}

  /** A media frame the caller sent at `now` (performance.now()). */
  callerFrame(now: number, payload: Uint8Array): void {
    this.caller.add(now - this.zero, mulawRms(payload), payload.length);
  }

  /** A media frame of the agent's that arrived at `now`. */
  agentFrame(now: number, payload: Uint8Array): void {
    this.agent.add(now - this.zero, mulawRms(payload), payload.length);
  }

  event(now: number, lane: TimelineLane, kind: string, label = '', durationMs: number | null = null): void {
    if (!ALWAYS_KEPT.has(kind)) {
      const count = this.perKind.get(kind) ?? 0;
      if (count >= (KIND_CAPS[kind] ?? MAX_EVENTS_PER_KIND)) {
        this.droppedEvents += 1;
        return;
      }
      this.perKind.set(kind, count + 1);
    }
    const cut = label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS)}…` : label;
    this.events.push({ t: round1(now - this.zero), lane, kind, label: cut, durationMs: durationMs === null ? null : round1(durationMs) });
  }

  data(): CallTimelineData {
    return {
      clock: 'epoch-ms',
      origin: round1(performance.timeOrigin + this.zero),
      frameMs: FRAME_MS,
      caller: this.caller.columns(),
      agent: this.agent.columns(),
      events: this.events.slice(),
      dropped: { callerFrames: this.caller.dropped, agentFrames: this.agent.dropped, events: this.droppedEvents },
    };
  }
}
