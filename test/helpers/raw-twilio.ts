// A bare-hands Twilio for server tests: explicit control over every frame and its order, so a
// test can do what the real fake Twilio (src/caller) never would (a second start, early media...).
// Its frames are built by the codec (numbered as Twilio numbers them); `send` takes any object or
// string for the deliberately malformed ones.
import alawmulaw from 'alawmulaw';
import WebSocket from 'ws';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../../src/audio/format.js';
import {
  InboundFrameBuilder,
  newSid,
  newStreamIds,
  parseServerMessage,
  startMessage,
  type SidPrefix,
  type StartDetails,
  type StreamIds,
  type TwilioOutboundMessage,
} from '../../src/twilio/codec.js';

export const SILENT_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

/** A 20 ms frame of a loud 300 Hz tone: speech as far as a VAD is concerned. */
export function loudFrame(index = 0): Buffer {
  const pcm = new Int16Array(FRAME_BYTES);
  for (let i = 0; i < FRAME_BYTES; i++) pcm[i] = Math.round(12000 * Math.sin((2 * Math.PI * 300 * (index * FRAME_BYTES + i)) / 8000));
  return Buffer.from(alawmulaw.mulaw.encode(pcm));
}

export function sid(prefix: SidPrefix): string {
  return newSid(prefix);
}

export class RawTwilio {
  readonly ws: WebSocket;
  readonly received: TwilioOutboundMessage[] = [];
  readonly unparsable: string[] = [];
  private readonly ids: StreamIds;
  readonly callSid: string;
  readonly streamSid: string;
  closeCode: number | null = null;
  closeReason = '';
  private readonly frames: InboundFrameBuilder;
  private listeners: Array<() => void> = [];
  private readonly parameters: Record<string, string>;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  /**
   * `headers`: extra upgrade headers (e.g. X-Twilio-Signature); `ids`: the call's SIDs when they
   * must be known before it dials (a signed webhook names the CallSid first); `parameters`: the
   * <Parameter>s its start carries besides the direction.
   */
  constructor(url: string, options: { headers?: Record<string, string>; ids?: StreamIds; parameters?: Record<string, string> } = {}) {
    this.ids = options.ids ?? newStreamIds();
    this.callSid = this.ids.callSid;
    this.streamSid = this.ids.streamSid;
    this.frames = new InboundFrameBuilder(this.ids);
    this.parameters = options.parameters ?? {};
    this.ws = new WebSocket(url, options.headers ? { headers: options.headers } : {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
        this.notify();
      });
    });
    this.ws.on('message', (data, isBinary) => {
      const parsed = parseServerMessage(data as Buffer, isBinary);
      if (parsed.ok) this.received.push(parsed.message);
      else this.unparsable.push(data.toString());
      this.notify();
    });
  }

  private notify(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  media(): Array<Extract<TwilioOutboundMessage, { event: 'media' }>> {
    return this.received.filter((m): m is Extract<TwilioOutboundMessage, { event: 'media' }> => m.event === 'media');
  }

  /** Audio ms the server sent, whatever the length of each media message (8 mu-law bytes a ms). */
  mediaMs(): number {
    return this.media().reduce((ms, m) => ms + Buffer.from(m.media.payload, 'base64').length / 8, 0);
  }

  count(event: TwilioOutboundMessage['event']): number {
    return this.received.filter((m) => m.event === event).length;
  }

  /** Resolves when `predicate` holds, checked on every message; rejects after timeoutMs. */
  async until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(message: object | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  connected(): void {
    this.send(this.frames.connected());
  }

  /** `start` for this stream; other SIDs make the odd second start a test may want. */
  start(direction: 'inbound' | 'outbound' | undefined, callSid = this.callSid, streamSid = this.streamSid): void {
    const details: StartDetails = { customParameters: { ...this.parameters, ...(direction ? { direction } : {}) } };
    if (callSid === this.callSid && streamSid === this.streamSid) {
      this.send(this.frames.start(details));
      return;
    }
    const ids = { accountSid: this.ids.accountSid, callSid, streamSid };
    this.send(startMessage(this.frames.nextSequenceNumber(), ids, details));
  }

  /** The next media frame, stamped with its audio time since the stream began. */
  sendMedia(frame: Buffer): void {
    this.send(this.frames.media(frame.toString('base64'), this.frames.lastChunk() * FRAME_MS));
  }

  mark(name: string): void {
    this.send(this.frames.mark(name));
  }

  stop(): void {
    this.send(this.frames.stop());
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until it returns a value `accept` likes. */
export async function eventually<T>(read: () => T, accept: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (accept(value)) return value;
    if (Date.now() > deadline) return value;
    await sleep(20);
  }
}
