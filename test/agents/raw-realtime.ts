// A raw `ws` realtime client for the simulator's contract tests: sends client events, keeps
// every server event it receives, and waits for the ones a test expects.
import { WebSocket } from 'ws';

export type ServerEvent = { type: string; event_id: string } & Record<string, unknown>;

export class RawRealtime {
  readonly events: ServerEvent[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<number>;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()) as ServerEvent);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve(code);
      }),
    );
  }

  static async open(url: string, options: { headers?: Record<string, string>; ca?: string; protocols?: string[] } = {}): Promise<RawRealtime> {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: { Authorization: 'Bearer sk-test-key', ...options.headers }, ...(options.ca ? { ca: options.ca } : {}) });
    const client = new RawRealtime(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(event: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(event));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  append(bytes: Buffer): void {
    this.send({ type: 'input_audio_buffer.append', audio: bytes.toString('base64') });
  }

  of(type: string): ServerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds over the events received so far. */
  async until(predicate: (events: ServerEvent[]) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got: ${this.types().join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The `n`-th (1-based) event of this type, waiting for it. */
  async next(type: string, n = 1, timeoutMs = 5000): Promise<ServerEvent> {
    await this.until((events) => events.filter((e) => e.type === type).length >= n, `${n}× ${type}`, timeoutMs);
    return this.of(type)[n - 1]!;
  }

  async close(): Promise<void> {
    if (this.closeCode === null) {
      this.ws.close();
      await this.closed;
    }
  }
}

/** 20 ms of loud speech-like mu-law (a square-ish tone), or of silence. */
export function mulawFrame(loud: boolean, ms = 20): Buffer {
  const n = ms * 8;
  const out = Buffer.alloc(n, 0xff);
  if (loud) for (let i = 0; i < n; i++) out[i] = i % 16 < 8 ? 0x1f : 0x9f;
  return out;
}

/** `ms` of 24 kHz 16-bit PCM: a 400 Hz tone at -12 dBFS, or silence. */
export function pcm24Frame(loud: boolean, ms = 20): Buffer {
  const n = ms * 24;
  const out = Buffer.alloc(n * 2);
  if (loud) for (let i = 0; i < n; i++) out.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 24000)), 2 * i);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
