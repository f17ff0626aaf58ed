// One load call: the Twilio side of a Media Streams stream, as lean as it can be so the
// machine's CPU goes to the server under test. It is set up as Twilio sets a call up
// (setup.ts), speaks the caller's audio loop when its slot on the send wheel comes due, discards
// caller audio while the server's socket stays backed up (as Twilio does, warning 31930), plays
// the agent's audio through the AnswerMeter, echoes each mark once the audio before it has played
// plus one network delay, honours `clear`, and hangs up with `stop`.
//
//   setting-up -> dialling -> streaming -> hanging-up -> ended
//        \____________\____________\______________\_____> failed
import WebSocket, { type RawData } from 'ws';
import { CallNetwork } from '../caller/network.js';
import { seedFrom } from '../random.js';
import { FRAME_MS, MULAW_BYTES_PER_MS } from '../audio/format.js';
import { printable } from '../text/printable.js';
import { TwilioCarrierSerializer, newStreamIds, type CallDirection } from '../twilio/codec.js';
import { AnswerMeter, type AgentAudioWindow } from './answer-meter.js';
import type { CallOutcome, GeneratorConfig } from './protocol.js';
import { planCall } from './setup.js';
import { monoMicros, stampBase64 } from './stamp.js';

export type LoadCallState = 'setting-up' | 'dialling' | 'streaming' | 'hanging-up' | 'ended' | 'failed';

/** Whether the server keeps up with the caller's audio (see src/caller/line.ts, which the replay uses). */
type Congestion = 'flowing' | 'backed-up' | 'dropping';

/** Window counters the worker's calls add to. */
export interface CallerWindow {
  open: boolean;
  framesSent: number;
  framesDropped: number;
}

interface PendingMark {
  name: string;
  due: number;
}

/** Played marks are dropped from the queue in batches of at least this many. */
const MARK_COMPACT_AT = 64;
/** A zero mask lets ws write our frames as they are (no copy, no XOR); the server still unmasks. */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};
const CLOSE_TAIL = Buffer.from('"}}');
const EQUALS = 0x3d;

export class LoadCall {
  state: LoadCallState = 'setting-up';
  readonly callSid: string;
  private readonly carrier: TwilioCarrierSerializer;
  private readonly network: CallNetwork;
  private readonly meter: AnswerMeter;
  /** `{"event":"media","streamSid":"MZ…","media":{"payload":"`: a media frame in this exact form skips JSON.parse. */
  private readonly mediaPrefix: Buffer;
  private ws: WebSocket | null = null;
  private placement: 'webhook' | 'direct' | null = null;
  /** The stream opened (the call got past its setup). */
  private streamed = false;
  private error: string | null = null;
  private congestion: Congestion = 'flowing';
  private backedUpSince = 0;
  /** Audio position in the loop: frames sent and discarded alike, so the caller's timeline holds. */
  private frameIndex = 0;
  private sent = 0;
  private dropped = 0;
  private unsent = 0;
  private received = 0;
  private marksReceived = 0;
  private marksEchoed = 0;
  private clears = 0;
  private badMessages = 0;
  private marks: PendingMark[] = [];
  private markHead = 0;
  private lastMarkDue = 0;
  private closed: (() => void) | null = null;
  /** The length of the last media message sent: what a cut-off leaves in the socket is counted in these. */
  private frameBytes = 1;

  constructor(
    readonly index: number,
    readonly direction: CallDirection,
    private readonly config: GeneratorConfig,
    private readonly callerWindow: CallerWindow,
    agentWindow: AgentAudioWindow,
  ) {
    const ids = newStreamIds();
    this.callSid = ids.callSid;
    this.carrier = new TwilioCarrierSerializer(ids);
    this.network = new CallNetwork(config.networkDelay, seedFrom(ids.callSid));
    this.meter = new AnswerMeter(agentWindow, config.jitterBufferMs);
    this.mediaPrefix = Buffer.from(`{"event":"media","streamSid":${JSON.stringify(ids.streamSid)},"media":{"payload":"`);
  }

  /** Webhook, TwiML, upgrade; resolves once streaming or failed. */
  async start(): Promise<{ ok: boolean; fellBack: boolean; note: string | null }> {
    const plan = await planCall(this.config.placement, this.carrier.ids, this.direction, this.config.connectTimeoutMs);
    if (!plan.ok) {
      this.fail(plan.error);
      return { ok: false, fellBack: false, note: null };
    }
    if (this.state !== 'setting-up') return { ok: false, fellBack: plan.fellBack, note: plan.note };
    this.placement = plan.placement;
    this.state = 'dialling';
    const opened = await this.dial(plan.url, plan.headers, plan.parameters);
    return { ok: opened, fellBack: plan.fellBack, note: plan.note };
  }

  private dial(url: string, headers: Record<string, string>, parameters: Record<string, string>): Promise<boolean> {
    return new Promise((resolve) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: zeroMask, headers, handshakeTimeout: this.config.connectTimeoutMs });
      } catch (err) {
        this.fail(`cannot dial ${printable(url)}: ${printable((err as Error).message)}`);
        resolve(false);
        return;
      }
      this.ws = ws;
      ws.on('open', () => {
        if (this.state !== 'dialling') return;
        ws.send(this.carrier.serialize({ type: 'connected' }));
        ws.send(this.carrier.serialize({ type: 'start', customParameters: parameters }));
        this.state = 'streaming';
        this.streamed = true;
        resolve(true);
      });
      ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data as Buffer, isBinary));
      ws.on('error', (err) => {
        this.error ??= printable(err.message);
      });
      ws.on('unexpected-response', (_req, res) => {
        this.error ??= `HTTP ${res.statusCode ?? '?'} on the upgrade`;
        ws.terminate();
      });
      ws.on('close', (code) => {
        if (this.state === 'dialling') resolve(false);
        this.onClose(code);
      });
    });
  }

  private onClose(code: number): void {
    if (this.state === 'hanging-up') this.state = 'ended';
    else if (this.state !== 'ended' && this.state !== 'failed') this.fail(this.error ?? `the server closed the stream (${code}) while the call was ${this.state}`);
    const done = this.closed;
    this.closed = null;
    done?.();
  }

  private fail(error: string): void {
    this.error ??= error;
    this.state = 'failed';
  }

  /** Gives up a call not streaming by now. */
  abandon(why: string): void {
    if (this.state !== 'setting-up' && this.state !== 'dialling') return;
    this.fail(why);
    this.ws?.terminate();
  }

  /** The send wheel: this call's frame (or Twilio's discard of it), then the marks whose audio has played. */
  tick(now: number): void {
    if (this.state !== 'streaming') return;
    const ws = this.ws!;
    const audio = this.config.audio;
    const k = this.frameIndex % audio.frames;
    if (this.admit(now, ws.bufferedAmount)) {
      const payload = this.config.stamp ? stampBase64(monoMicros() - this.config.epochMicros) + audio.tails[k]! : audio.payloads[k]!;
      const frame = this.carrier.serialize({ type: 'audio', payload, timestampMs: this.frameIndex * FRAME_MS });
      ws.send(frame);
      this.frameBytes = frame.length;
      this.sent += 1;
      if (this.callerWindow.open) this.callerWindow.framesSent += 1;
    } else {
      this.dropped += 1;
      if (this.callerWindow.open) this.callerWindow.framesDropped += 1;
    }
    // Twilio sends a frame once its 20 ms were heard: the last speech frame's send ends the turn.
    if (k === audio.speechEndFrame) this.meter.turnEnded(now);
    this.frameIndex += 1;
    const marks = this.marks;
    while (this.markHead < marks.length && marks[this.markHead]!.due <= now) this.echoMark(marks[this.markHead++]!.name);
    if (this.markHead > MARK_COMPACT_AT && this.markHead === marks.length) {
      this.marks = [];
      this.markHead = 0;
    }
  }

  /** Twilio's congestion rule: once the socket has stayed backed up past the limit, audio is discarded. */
  private admit(now: number, buffered: number): boolean {
    if (buffered === 0) {
      this.congestion = 'flowing';
      return true;
    }
    if (this.congestion === 'flowing') {
      this.congestion = 'backed-up';
      this.backedUpSince = now;
    }
    if (this.congestion === 'backed-up' && now - this.backedUpSince > this.config.congestionMs) this.congestion = 'dropping';
    return this.congestion !== 'dropping';
  }

  private echoMark(name: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    ws.send(this.carrier.serialize({ type: 'mark-played', name }));
    this.marksEchoed += 1;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state !== 'streaming' && this.state !== 'hanging-up') return;
    const now = performance.now();
    const prefix = this.mediaPrefix;
    // Media is nearly every message: in callsim's and JSON.stringify's key order it needs no parse.
    if (!isBinary && data.length > prefix.length + CLOSE_TAIL.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0 && data.compare(CLOSE_TAIL, 0, 3, data.length - 3) === 0) {
      const b64 = data.length - prefix.length - CLOSE_TAIL.length;
      const end = data.length - CLOSE_TAIL.length;
      const pad = (data[end - 1] === EQUALS ? 1 : 0) + (data[end - 2] === EQUALS ? 1 : 0);
      this.onMedia(now, (((b64 >> 2) * 3 - pad) / MULAW_BYTES_PER_MS));
      return;
    }
    const decoded = this.carrier.deserialize(data, isBinary);
    if (!decoded.ok) {
      this.badMessages += 1;
      this.error ??= `the server sent ${printable(decoded.error.message)}`;
      return;
    }
    const event = decoded.event;
    if (event.type === 'audio') this.onMedia(now, Buffer.byteLength(event.payload, 'base64') / MULAW_BYTES_PER_MS);
    else if (event.type === 'mark') this.onMark(event.name, now);
    else this.onClear(now);
  }

  private onMedia(now: number, durationMs: number): void {
    this.received += 1;
    this.meter.media(now, durationMs);
  }

  private onMark(name: string, now: number): void {
    this.marksReceived += 1;
    // Twilio echoes a mark once the audio sent before it has played; the echo then travels back.
    const played = this.meter.playsUntil > now ? this.meter.playsUntil : now;
    this.queueMark(name, played + this.network.oneWayMs());
  }

  private queueMark(name: string, due: number): void {
    // One TCP connection: an echo never overtakes the one before it.
    const at = due > this.lastMarkDue ? due : this.lastMarkDue;
    this.lastMarkDue = at;
    this.marks.push({ name, due: at });
  }

  private onClear(now: number): void {
    this.clears += 1;
    this.meter.clear(now);
    // Twilio drops what it buffered and returns every outstanding mark at once.
    const delay = this.network.oneWayMs();
    for (let i = this.markHead; i < this.marks.length; i++) this.marks[i]!.due = now + delay;
    this.lastMarkDue = now + delay;
  }

  /**
   * The caller hangs up: `stop`, then the server's close (as Twilio, which waits for nothing, the
   * socket is closed after `graceMs` if the server has not closed it), then cut off at `timeoutMs`.
   */
  hangUp(graceMs: number, timeoutMs: number): Promise<void> {
    const ws = this.ws;
    if (this.state !== 'streaming' || ws === null) {
      this.abandon('the load step ended before the call was set up');
      return Promise.resolve();
    }
    this.state = 'hanging-up';
    ws.send(this.carrier.serialize({ type: 'hangup' }));
    return new Promise<void>((resolve) => {
      const closeTimer = setTimeout(() => ws.close(1000, 'stream stopped'), graceMs);
      const cutOff = setTimeout(() => {
        this.unsent = Math.ceil(ws.bufferedAmount / this.frameBytes);
        if (this.state === 'hanging-up') {
          this.state = 'ended';
          this.error ??= `the server had not closed the stream ${timeoutMs} ms after stop (${this.unsent} frames still unsent)`;
        }
        ws.terminate();
      }, timeoutMs);
      this.closed = () => {
        clearTimeout(closeTimer);
        clearTimeout(cutOff);
        resolve();
      };
      if (ws.readyState === WebSocket.CLOSED) this.onClose(1006);
    });
  }

  outcome(): CallOutcome {
    return {
      index: this.index,
      callSid: this.callSid,
      direction: this.direction,
      placement: this.placement,
      state: this.state === 'failed' ? 'failed' : 'ended',
      streamed: this.streamed,
      sent: this.sent,
      dropped: this.dropped,
      unsent: this.unsent,
      received: this.received,
      marksReceived: this.marksReceived,
      marksEchoed: this.marksEchoed,
      clears: this.clears,
      badMessages: this.badMessages,
      error: this.error,
    };
  }
}
