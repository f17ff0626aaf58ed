// A bare-hands Twilio for server tests: explicit control over every frame and its order, so a
// test can do what the real fake Twilio (src/sim) never would (a second start, early media...).
import alawmulaw from 'alawmulaw';
import WebSocket from 'ws';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/audio/format.js';
import { parseServerMessage, type TwilioOutboundMessage } from '../../src/twilio/codec.js';

export const SILENT_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

/** A 20 ms frame of a loud 300 Hz tone: speech as far as a VAD is concerned. */
export function loudFrame(index = 0): Buffer {
  const pcm = new Int16Array(FRAME_BYTES);
  for (let i = 0; i < FRAME_BYTES; i++) pcm[i] = Math.round(12000 * Math.sin((2 * Math.PI * 300 * (index * FRAME_BYTES + i)) / 8000));
  return Buffer.from(alawmulaw.mulaw.encode(pcm));
}

export function sid(prefix: string): string {
  return prefix + Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

export class RawTwilio {
  readonly ws: WebSocket;
  readonly received: TwilioOutboundMessage[] = [];
  readonly unparsable: string[] = [];
  readonly callSid = sid('CA');
  readonly streamSid = sid('MZ');
  closeCode: number | null = null;
  private seq = 0;
  private chunk = 0;
  private listeners: Array<() => void> = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  /** `headers`: extra upgrade headers (e.g. X-Twilio-Signature). */
  constructor(url: string, options: { headers?: Record<string, string> } = {}) {
    this.ws = new WebSocket(url, options.headers ? { headers: options.headers } : {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        this.closeCode = code;
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
    this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(direction: 'inbound' | 'outbound' | undefined, callSid = this.callSid, streamSid = this.streamSid): void {
    this.seq += 1;
    this.send({
      event: 'start',
      sequenceNumber: String(this.seq),
      streamSid,
      start: {
        accountSid: sid('AC'),
        streamSid,
        callSid,
        tracks: ['inbound'],
        customParameters: direction ? { direction } : {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
  }

  sendMedia(frame: Buffer): void {
    this.seq += 1;
    this.chunk += 1;
    this.send({
      event: 'media',
      sequenceNumber: String(this.seq),
      streamSid: this.streamSid,
      media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(this.chunk * 20), payload: frame.toString('base64') },
    });
  }

  mark(name: string): void {
    this.seq += 1;
    this.send({ event: 'mark', sequenceNumber: String(this.seq), streamSid: this.streamSid, mark: { name } });
  }

  stop(): void {
    this.seq += 1;
    this.send({ event: 'stop', sequenceNumber: String(this.seq), streamSid: this.streamSid, stop: { accountSid: 'AC', callSid: this.callSid } });
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
