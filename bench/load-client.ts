// Child process: the Twilio side of N concurrent calls, as lean as it can be so the machine's
// CPU goes to the server under test. One drift-free scheduler sends every call's frames (no
// timer per call); each call records inter-arrival times of the audio it gets back, models
// Twilio's playout buffer (for marks and underruns) and echoes marks once "played". Every frame
// it sends is built by callsim's Twilio codec (TwilioCarrierSerializer), as the fake Twilio's are.
import WebSocket, { type RawData } from 'ws';
import { FRAME_BYTES, FRAME_MS, TwilioCarrierSerializer, newStreamIds, parsePlayoutMark, type CarrierSerializer } from '../src/index.js';
import { SendWheel } from '../src/load/send-wheel.js';
import { Histogram, SelfMeter, loadCallAudio, monoMicros, serveRpc, stampBase64, type CallAudio, type ProcWindowStats, type Summary } from './shared.js';

export type JitterMode =
  /** Media server: frames come in answers; a mark with a new item number starts a new answer. */
  | 'marks'
  /** Echo baseline: one continuous stream per call. */
  | 'continuous';

export interface RealtimeArgs {
  wsUrl: string;
  calls: number;
  rampMs: number;
  epochMicros: number;
  jitter: JitterMode;
  padSilenceMs: number;
  /** Give up on calls not open after this long. */
  connectTimeoutMs: number;
}

export interface BurstArgs {
  wsUrl: string;
  calls: number;
  /** Frames a connection may have sent that the server has not yet read (ping/pong acked). */
  inflight: number;
  /** Real-time frames first, so every model session is up before pacing goes off. */
  warmupMs: number;
  epochMicros: number;
  padSilenceMs: number;
  connectTimeoutMs: number;
}

export interface OpenResult {
  opened: number;
  failed: number;
  firstError: string | null;
  elapsedMs: number;
}

export interface ClientWindowStats {
  proc: ProcWindowStats;
  framesSent: number;
  framesReceived: number;
  /** Lateness of each outbound frame vs the one before it: max(0, inter-arrival - that one's audio length). */
  jitterMs: Summary;
  /** Frames that found the modelled Twilio playout buffer already empty mid-answer (audible gaps). */
  underruns: number;
  streamingCalls: number;
}

export interface CallResult {
  callSid: string;
  state: CallState;
  sent: number;
  received: number;
  marksReceived: number;
  marksEchoed: number;
  clears: number;
  error: string | null;
}

export interface StopResult {
  calls: CallResult[];
  elapsedMs: number;
  closeTimeouts: number;
}

type CallState = 'idle' | 'connecting' | 'streaming' | 'stopping' | 'closed' | 'failed';

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};
/** How a server media message begins when its keys come in callsim serve's order. */
const MEDIA_HEAD_BYTES = '{"event":"media"';
const PAYLOAD_KEY = Buffer.from('"payload":"');
const MS_PER_MULAW_BYTE = FRAME_MS / FRAME_BYTES;
/** Played marks are dropped from the queue in batches of at least this many. */
const MARK_COMPACT_AT = 64;

/** Audio length of a media message, from its base64 payload's length (no decode, no parse). */
function audioMs(data: Buffer): number {
  const at = data.indexOf(PAYLOAD_KEY);
  if (at < 0) return FRAME_MS;
  const start = at + PAYLOAD_KEY.length;
  const end = data.indexOf(0x22, start);
  if (end < 0) return FRAME_MS;
  const pad = (data[end - 1] === 0x3d ? 1 : 0) + (data[end - 2] === 0x3d ? 1 : 0);
  return (((end - start) >> 2) * 3 - pad) * MS_PER_MULAW_BYTE;
}

// ---- per-process state ----------------------------------------------------------------------

const meter = new SelfMeter();
const jitter = new Histogram(0.1, 5000);
let measuring = false;
let windowSent = 0;
let windowReceived = 0;
let windowUnderruns = 0;
let audio: CallAudio | null = null;
let epoch = 0;
let jitterMode: JitterMode = 'marks';
let windowFrom = 0;
let mode: 'realtime' | 'burst' | 'idle' = 'idle';
let maxInflight = 0;
const calls: SimCall[] = [];

class SimCall {
  private readonly carrier: CarrierSerializer;
  readonly callSid: string;
  state: CallState = 'idle';
  ws: WebSocket | null = null;
  error: string | null = null;

  sent = 0;
  received = 0;
  marksReceived = 0;
  marksEchoed = 0;
  clears = 0;

  /** Burst mode: frames sent and not yet acknowledged by a pong. */
  inflight = 0;

  // Playout model and jitter bookkeeping.
  private lastArrival = 0;
  private lastDurationMs = FRAME_MS;
  private playoutEnd = 0;
  private itemSeq = -1;
  // Gaps of frames since the last mark: [excess ms, arrival ms, underrun 0|1] triples. They are
  // only known to be inside one answer once the next mark names the answer they belong to.
  private pending: number[] = [];
  private marks: Array<{ name: string; due: number }> = [];
  private markHead = 0;
  onClosed: (() => void) | null = null;

  constructor(readonly index: number) {
    const ids = newStreamIds();
    this.callSid = ids.callSid;
    this.carrier = new TwilioCarrierSerializer(ids);
  }

  connect(url: string, onOpen: () => void): void {
    this.state = 'connecting';
    // A zero mask lets ws write our strings as they are (no copy, no XOR): harness CPU only;
    // the server still runs its unmask over every frame.
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: zeroMask });
    this.ws = ws;
    ws.on('open', () => {
      if (this.state !== 'connecting') return;
      ws.send(this.carrier.serialize({ type: 'connected' }));
      ws.send(this.carrier.serialize({ type: 'start', customParameters: { direction: 'inbound' } }));
      this.state = 'streaming';
      onOpen();
    });
    ws.on('message', (data: RawData) => this.onMessage(data as Buffer));
    ws.on('pong', () => onPong(this));
    ws.on('error', (err) => {
      this.error ??= err.message;
    });
    ws.on('unexpected-response', (_req, res) => {
      this.error ??= `HTTP ${res.statusCode ?? '?'} on upgrade`;
      ws.terminate();
    });
    ws.on('close', (code) => {
      if (this.state !== 'stopping') {
        this.error ??= `closed by server (${code}) while ${this.state}`;
        this.state = 'failed';
      } else {
        this.state = 'closed';
      }
      this.onClosed?.();
    });
  }

  /** One frame now (scheduler or burst pump). */
  sendFrame(): void {
    const a = audio!;
    const n = this.sent;
    const payload = stampBase64(monoMicros() - epoch) + a.tails[n % a.frames]!;
    this.ws!.send(this.carrier.serialize({ type: 'audio', payload, timestampMs: n * FRAME_MS }));
    this.sent += 1;
    if (measuring) windowSent += 1;
  }

  /** Scheduler tick: this call's frame, then any marks whose audio has finished playing. */
  tick(now: number): void {
    if (this.state !== 'streaming') return;
    this.sendFrame();
    while (this.markHead < this.marks.length && this.marks[this.markHead]!.due <= now) this.echoMark(this.marks[this.markHead++]!.name);
    if (this.markHead > MARK_COMPACT_AT && this.markHead === this.marks.length) {
      this.marks = [];
      this.markHead = 0;
    }
  }

  private echoMark(name: string): void {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(this.carrier.serialize({ type: 'mark-played', name }));
    this.marksEchoed += 1;
  }

  private onMessage(data: Buffer): void {
    const now = performance.now();
    // Media is nearly every message; recognise it by its head and skip JSON.parse.
    if (data.length > 16 && data.toString('latin1', 0, 16) === MEDIA_HEAD_BYTES) {
      this.onMedia(now, audioMs(data));
      return;
    }
    let msg: { event?: string; mark?: { name?: string } };
    try {
      msg = JSON.parse(data.toString()) as typeof msg;
    } catch {
      this.error ??= 'unparsable message from server';
      return;
    }
    if (msg.event === 'media') this.onMedia(now, audioMs(data));
    else if (msg.event === 'mark' && typeof msg.mark?.name === 'string') this.onMark(msg.mark.name, now);
    else if (msg.event === 'clear') this.onClear(now);
  }

  private onMedia(now: number, durationMs: number): void {
    this.received += 1;
    if (measuring) windowReceived += 1;
    const last = this.lastArrival;
    const lastDuration = this.lastDurationMs;
    const underrun = last > 0 && now > this.playoutEnd ? 1 : 0;
    this.playoutEnd = (now > this.playoutEnd ? now : this.playoutEnd) + durationMs;
    this.lastArrival = now;
    this.lastDurationMs = durationMs;
    if (last === 0 || mode !== 'realtime') return;
    // Due when the audio before it has played: 20 ms after a 20 ms frame, 40 after a 40 ms one.
    const excess = now - last - lastDuration;
    if (jitterMode === 'continuous') {
      // An echo has no lead to play from, so underruns only mean something for the media server.
      this.accept(excess, now, 0);
      return;
    }
    this.pending.push(excess, now, underrun);
  }

  private accept(excess: number, at: number, underrun: number): void {
    if (!measuring || at < windowFrom) return;
    jitter.record(excess > 0 ? excess : 0);
    windowUnderruns += underrun;
  }

  private onMark(name: string, now: number): void {
    this.marksReceived += 1;
    // Twilio echoes a mark when the audio sent before it has played.
    this.marks.push({ name, due: this.playoutEnd > now ? this.playoutEnd : now });
    if (mode !== 'realtime') {
      this.echoMark(name);
      this.markHead = this.marks.length;
      return;
    }
    const seq = parsePlayoutMark(name)?.answer ?? -1;
    const p = this.pending;
    // A new answer: the largest gap since the last mark is the silence between two answers
    // (the caller's turn), not jitter.
    let skip = -1;
    if (seq !== this.itemSeq && this.itemSeq !== -1 && p.length > 0) {
      skip = 0;
      for (let i = 3; i < p.length; i += 3) if (p[i]! > p[skip]!) skip = i;
    }
    for (let i = 0; i < p.length; i += 3) if (i !== skip) this.accept(p[i]!, p[i + 1]!, p[i + 2]!);
    this.pending = [];
    this.itemSeq = seq;
  }

  private onClear(now: number): void {
    this.clears += 1;
    // Twilio drops what it has buffered and returns every outstanding mark at once.
    while (this.markHead < this.marks.length) this.echoMark(this.marks[this.markHead++]!.name);
    this.pending = [];
    this.lastArrival = 0;
    this.playoutEnd = now;
  }

  sendStop(): void {
    const ws = this.ws;
    if (ws === null || this.state !== 'streaming') return;
    this.state = 'stopping';
    ws.send(this.carrier.serialize({ type: 'hangup' }));
  }

  result(): CallResult {
    return {
      callSid: this.callSid,
      state: this.state,
      sent: this.sent,
      received: this.received,
      marksReceived: this.marksReceived,
      marksEchoed: this.marksEchoed,
      clears: this.clears,
      error: this.error,
    };
  }
}


// ---- the shared real-time scheduler ---------------------------------------------------------

// The drift-free send wheel is callsim load's (src/load/send-wheel.ts).
const scheduler = new SendWheel<SimCall>();

// ---- burst pump -----------------------------------------------------------------------------
// Unpaced, but never more than maxInflight frames the server has not yet read: after every
// half-window of frames goes a WebSocket ping, and ws answers it (in the server, in order) only
// once every frame before it has been through the server's message handler. So the client
// cannot just fill socket buffers, and the server's event loop never holds a flood.

function pump(call: SimCall): void {
  const batch = Math.max(1, maxInflight >> 1);
  while (call.state === 'streaming' && call.inflight + batch <= maxInflight) {
    for (let i = 0; i < batch; i++) call.sendFrame();
    call.ws!.ping();
    call.inflight += batch;
  }
}

function onPong(call: SimCall): void {
  if (call.inflight === 0) return;
  call.inflight -= Math.max(1, maxInflight >> 1);
  if (mode === 'burst') pump(call);
}

// ---- commands -------------------------------------------------------------------------------

function openCalls(url: string, n: number, rampMs: number, timeoutMs: number, onOpen: (call: SimCall) => void): Promise<OpenResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let launched = 0;
    let settled = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      const failed = calls.filter((c) => c.state !== 'streaming');
      for (const c of failed) {
        if (c.state === 'connecting' || c.state === 'idle') {
          c.error ??= `not open after ${timeoutMs} ms`;
          c.state = 'failed';
          c.ws?.terminate();
        }
      }
      resolve({ opened: n - failed.length, failed: failed.length, firstError: failed[0]?.error ?? null, elapsedMs: performance.now() - t0 });
    };
    const giveUp = setTimeout(finish, rampMs + timeoutMs);
    const settle = (): void => {
      settled += 1;
      if (settled === n) finish();
    };
    const launch = (): void => {
      const due = n <= 1 || rampMs <= 0 ? n : Math.min(n, Math.floor(((performance.now() - t0) / rampMs) * n) + 1);
      while (launched < due) {
        const call = new SimCall(launched);
        calls.push(call);
        launched += 1;
        let counted = false;
        const once = (): void => {
          if (counted) return;
          counted = true;
          settle();
        };
        call.onClosed = once;
        call.connect(url, () => {
          onOpen(call);
          once();
        });
      }
      if (launched < n) setTimeout(launch, 2);
    };
    launch();
  });
}

async function stopAll(): Promise<StopResult> {
  const t0 = performance.now();
  scheduler.stop();
  const waitMs = 20_000;
  // Burst calls: no more frames; wait for the server to have read the ones in flight.
  mode = 'idle';
  const deadline = performance.now() + 5000;
  while (calls.some((c) => c.state === 'streaming' && c.inflight > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const closing: Array<Promise<void>> = [];
  for (const call of calls) {
    if (call.state !== 'streaming') continue;
    closing.push(
      new Promise<void>((resolve) => {
        call.onClosed = resolve;
      }),
    );
    call.sendStop();
  }
  let closeTimeouts = 0;
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, waitMs))]);
  for (const call of calls) {
    if (call.state === 'stopping') {
      closeTimeouts += 1;
      call.error ??= `server did not close within ${waitMs} ms of stop`;
      call.ws?.terminate();
    }
  }
  return { calls: calls.map((c) => c.result()), elapsedMs: performance.now() - t0, closeTimeouts };
}

serveRpc({
  realtime: (raw) => {
    const args = raw as RealtimeArgs;
    audio = loadCallAudio(args.padSilenceMs);
    epoch = args.epochMicros;
    jitterMode = args.jitter;
    mode = 'realtime';
    scheduler.start();
    return openCalls(args.wsUrl, args.calls, args.rampMs, args.connectTimeoutMs, (call) => scheduler.add(call));
  },
  burst: async (raw) => {
    const args = raw as BurstArgs;
    audio = loadCallAudio(args.padSilenceMs);
    epoch = args.epochMicros;
    mode = 'burst';
    maxInflight = args.inflight;
    scheduler.start();
    const open = await openCalls(args.wsUrl, args.calls, 0, args.connectTimeoutMs, (call) => scheduler.add(call));
    await new Promise((r) => setTimeout(r, args.warmupMs));
    scheduler.stop();
    for (const call of calls) pump(call);
    return open;
  },
  windowStart: () => {
    jitter.reset();
    windowSent = 0;
    windowReceived = 0;
    windowUnderruns = 0;
    windowFrom = performance.now();
    measuring = true;
    meter.windowStart();
  },
  windowEnd: (): ClientWindowStats => {
    measuring = false;
    return {
      proc: meter.windowEnd(),
      framesSent: windowSent,
      framesReceived: windowReceived,
      jitterMs: jitter.summary(),
      underruns: windowUnderruns,
      streamingCalls: calls.filter((c) => c.state === 'streaming').length,
    };
  },
  stop: () => stopAll(),
  exit: () => {
    for (const call of calls) call.ws?.terminate();
    setTimeout(() => process.exit(0), 50);
  },
});
