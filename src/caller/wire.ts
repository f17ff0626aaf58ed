// The call's two directions on its socket, as the network between Twilio and the server carries
// them: caller events serialized (numbered as Twilio numbers them) and written, and the server's
// frames decoded and handed on, each way through the bad line's delay when there is one (in
// order: a message never overtakes the one before it). On a clean line both go at once, as
// before. Every frame goes on the call's tape when it keeps one.
import type { AgentEventResult, CallerEvent, CarrierSerializer } from '../twilio/codec.js';
import type { MediaLine } from './line.js';
import { DelayedSender, type CallNetwork } from './network.js';
import type { CallTape } from './tape.js';

export class CallWire {
  private readonly up: DelayedSender | null;
  private readonly down: DelayedSender | null;

  constructor(
    private readonly line: MediaLine,
    private readonly carrier: CarrierSerializer,
    network: CallNetwork,
    private readonly tape: CallTape | null,
    private readonly now: () => number,
  ) {
    const delayed = network.line.latencyMs > 0 || network.line.jitterMs > 0;
    this.up = delayed ? new DelayedSender(network.uplink, now) : null;
    this.down = delayed ? new DelayedSender(network.downlink, now) : null;
  }

  /**
   * Serializes `event` and writes it, `scheduledAt` (its due instant; default now) plus the line's
   * delay from now. False when the line is not open: nothing is built for a closed line, which
   * never reopens. `reactive`: sent in answer to the server (a mark echo), so its schedule is not the caller's own.
   */
  send(event: CallerEvent, scheduledAt: number | null = null, reactive = false): boolean {
    if (this.line.state !== 'open') return false;
    const text = this.carrier.serialize(event);
    const due = scheduledAt ?? this.now();
    if (this.up === null) {
      if (!this.line.send(text)) return false;
      this.tape?.message('to-server', this.now(), reactive ? null : due, text);
      return true;
    }
    const deliverAt = this.up.send(() => {
      if (this.line.send(text)) this.tape?.message('to-server', this.now(), reactive ? null : deliverAt, text);
    }, due);
    return deliverAt !== null;
  }

  /** A frame the server sent: decoded, and handed on once the line's downlink delay has passed. */
  receive(raw: Buffer, isBinary: boolean, handle: (decoded: AgentEventResult, at: number, socketAt: number) => void): void {
    const arrivedAt = this.now();
    if (this.tape !== null) this.tape.message('from-server', arrivedAt, null, isBinary ? `<binary frame, ${raw.length} bytes>` : raw.toString('utf8'));
    const decoded = this.carrier.deserialize(raw, isBinary);
    if (this.down === null) handle(decoded, arrivedAt, arrivedAt);
    else this.down.send(() => handle(decoded, this.now(), arrivedAt));
  }

  /** Resolves once everything the caller queued has been written. */
  drained(): Promise<void> {
    return this.up?.drained() ?? Promise.resolve();
  }

  /** The caller hangs up now: what is queued goes at once, in order (Twilio sends it before it closes). */
  flushNow(): void {
    this.up?.flushNow();
  }

  /** The socket is gone: nothing more arrives either way. */
  stop(): void {
    this.up?.stop();
    this.down?.stop();
  }
}
