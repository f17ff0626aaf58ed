// Stand-ins for what a call's parts talk to, for unit tests without sockets: a model bridge that
// records what it was sent, a Twilio socket that records what it was sent, a ticker driven by
// hand, and a logger that keeps every line. Each behaves as the real one does where the parts
// rely on it (a bridge refuses audio unless ready; its close() reports itself closed at once).
import { createLogger, type Logger } from '../../src/log.js';
import type { ModelBridge, ModelBridgeFactory, ModelBridgeListener, ModelBridgeState, ModelSessionOptions } from '../../src/model/bridge.js';
import type { CallSocket } from '../../src/server/call/call.js';
import { DEFAULT_CALL_CONFIG, type CallConfig } from '../../src/server/call/config.js';
import { CallRecord } from '../../src/server/call/record.js';
import type { Tickable } from '../../src/ticker.js';
import { parseServerMessage, type TwilioOutboundMessage } from '../../src/twilio/codec.js';

export interface KeptLog {
  logger: Logger;
  records: Array<Record<string, unknown>>;
  messages(): string[];
}

export function keptLog(): KeptLog {
  const records: Array<Record<string, unknown>> = [];
  const logger = createLogger({ format: 'json', level: 'debug', write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records, messages: () => records.map((r) => String(r.msg)) };
}

export function testConfig(overrides: Partial<CallConfig> = {}): CallConfig {
  return { ...DEFAULT_CALL_CONFIG, ...overrides };
}

export function newRecord(log: KeptLog = keptLog(), backlogWarnIntervalMs = 5000): CallRecord {
  return new CallRecord(log.logger, 'simulator', backlogWarnIntervalMs);
}

export class FakeBridge implements ModelBridge {
  state: ModelBridgeState = 'connecting';
  bufferedAmount = 0;
  /** Bytes each append adds to bufferedAmount (0: the socket drains at once). */
  bytesPerAppend = 0;
  readonly appended: string[] = [];
  readonly truncations: Array<{ itemId: string; audioEndMs: number }> = [];
  responsesCreated = 0;
  closedByCall = false;

  constructor(readonly options: ModelSessionOptions, readonly listener: ModelBridgeListener) {}

  appendAudio(base64Audio: string): boolean {
    if (this.state !== 'ready') return false;
    this.appended.push(base64Audio);
    this.bufferedAmount += this.bytesPerAppend;
    return true;
  }

  createResponse(): void {
    if (this.state === 'ready') this.responsesCreated += 1;
  }

  truncate(itemId: string, audioEndMs: number): void {
    if (this.state === 'ready') this.truncations.push({ itemId, audioEndMs });
  }

  readonly userInputs: string[] = [];
  responsesCancelled = 0;

  cancelResponse(): void {
    if (this.state === 'ready') this.responsesCancelled += 1;
  }

  userInput(text: string): void {
    if (this.state === 'ready') this.userInputs.push(text);
  }

  close(): void {
    if (this.state === 'closed') return;
    this.closedByCall = true;
    this.state = 'closed';
    this.listener.onClosed('closed by call', true);
  }

  // ---- the model side's doing ----

  ready(): void {
    this.state = 'ready';
    this.listener.onReady();
  }

  /** The model side drops the session (no close by the call). */
  drop(reason = 'model socket closed (1006)'): void {
    this.state = 'closed';
    this.listener.onClosed(reason, false);
  }
}

export interface FakeModel {
  factory: ModelBridgeFactory;
  bridges: FakeBridge[];
  /** The newest session. */
  last(): FakeBridge;
}

export function fakeModel(): FakeModel {
  const bridges: FakeBridge[] = [];
  return {
    factory: (options, listener) => {
      const bridge = new FakeBridge(options, listener);
      bridges.push(bridge);
      return bridge;
    },
    bridges,
    last: () => {
      const bridge = bridges[bridges.length - 1];
      if (bridge === undefined) throw new Error('no model session was opened');
      return bridge;
    },
  };
}

type Listener = (...args: never[]) => void;

export class FakeSocket implements CallSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  closedWith: { code: number; reason: string } | null = null;
  terminated = false;
  private readonly listeners = new Map<string, Listener[]>();

  send(data: string): void {
    this.sent.push(data);
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  // ---- the Twilio side's doing ----

  emit(event: 'message', data: Buffer, isBinary: boolean): void;
  emit(event: 'close', code: number): void;
  emit(event: 'error', err: Error): void;
  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }

  /** Twilio sends a JSON message. */
  message(body: unknown): void {
    this.emit('message', Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), false);
  }

  /** What the server sent, parsed as Twilio would. */
  messages(): TwilioOutboundMessage[] {
    return this.sent.map((text) => {
      const parsed = parseServerMessage(text);
      if (!parsed.ok) throw new Error(`the server sent an unparsable message: ${text}`);
      return parsed.message;
    });
  }

  events(): string[] {
    return this.messages().map((m) => (m.event === 'mark' ? `mark ${m.mark.name}` : m.event));
  }
}

/** The shared ticker, driven by hand: tick(now) runs every subscriber once, as the real one does. */
export class FakeTicker {
  readonly subscribers = new Set<Tickable>();
  /** The last tick's time: what a subscriber acting between ticks reads as now. */
  time = 0;

  now(): number {
    return this.time;
  }

  subscribe(subscriber: Tickable): void {
    this.subscribers.add(subscriber);
  }

  unsubscribe(subscriber: Tickable): void {
    this.subscribers.delete(subscriber);
  }

  tick(now: number): void {
    this.time = now;
    for (const subscriber of [...this.subscribers]) if (!subscriber.tick(now, now)) this.subscribers.delete(subscriber);
  }
}

/** base64 of `bytes` bytes of mu-law silence. */
export function audio(bytes: number, fill = 0xff): string {
  return Buffer.alloc(bytes, fill).toString('base64');
}
